"""Keyed upsert of one Parquet partition file, in Arrow: the merge that measurements/ and nwp/ share.

New keys are inserted, a stored row whose values differ is replaced, an equal one is left alone (its
``ingested_at`` too), so merging the same rows again writes nothing and leaves the file byte-identical. Only the
key and value columns of a stored file are read to decide; the other columns are read only when the file changes.
The caller holds the station's lock (``tasks.store.station_lock``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.atomic_files import atomic_write_table

# (stored rows, new rows) of the matched keys, their key and value columns -> True where the new row may replace
# the stored one
MayReplace = Callable[[pa.Table, pa.Table], np.ndarray]
# Partitions merged at once: most of a partition's time is Parquet I/O and fsync, which release the GIL, so
# the waits of a few files overlap (as pyarrow's own write_dataset overlaps them)
WRITE_THREADS = 4


@dataclass
class MergeCounts:
    """What a merge did to the stored rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    files_written: int = 0

    def add(self, other: MergeCounts) -> None:
        """Add another merge's counts to these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.files_written += other.files_written


def upsert_partitions(
    parts: list[tuple[Path, pa.Table]],
    key: list[str],
    value_columns: list[str],
    may_replace: MayReplace | None = None,
) -> MergeCounts:
    """``upsert_partition`` of each (path, rows), a few files at a time; the summed counts.

    Each file is replaced atomically on its own: if one merge fails, the others may already be in place, and
    merging the same rows again completes the set.
    """
    counts = MergeCounts()
    if len(parts) == 1:
        ((path, rows),) = parts
        counts.add(upsert_partition(path, rows, key, value_columns, may_replace))
        return counts
    with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="upsert") as pool:
        futures = [pool.submit(upsert_partition, path, rows, key, value_columns, may_replace) for path, rows in parts]
        for future in futures:
            counts.add(future.result())
    return counts


def upsert_partition(
    path: Path,
    new: pa.Table,
    key: list[str],
    value_columns: list[str],
    may_replace: MayReplace | None = None,
) -> MergeCounts:
    """Merge ``new`` (the file's columns, unique non-null keys) into the Parquet file at ``path`` by ``key``.

    A stored row is replaced when a value differs (nulls equal nulls) and ``may_replace`` allows it. The file is
    rewritten sorted by ``key``, atomically, and only when a row was inserted or replaced.
    """
    new = _sorted_by(new.replace_schema_metadata(None), key)
    _check_unique(new, key, path)
    schema = new.schema
    if not path.exists():
        atomic_write_table(path, new)
        return MergeCounts(inserted=new.num_rows, files_written=1)
    decided = key + value_columns
    old = _read_stored(path, decided, schema)
    new_idx, old_idx = _match(new.select(key), old.select(key))
    same = _same_values(old.select(value_columns).take(old_idx), new.select(value_columns).take(new_idx))
    if may_replace is not None:
        same |= ~may_replace(old.take(old_idx), new.take(new_idx))
    replaced_old, replacing_new = old_idx[~same], new_idx[~same]
    inserted = np.ones(new.num_rows, dtype=bool)
    inserted[new_idx] = False
    counts = MergeCounts(
        inserted=int(inserted.sum()), updated=len(replaced_old), unchanged=int(same.sum()), files_written=0
    )
    if counts.inserted == 0 and counts.updated == 0:
        return counts
    rest = [n for n in schema.names if n not in decided]
    old = _with_columns(old, _read_stored(path, rest, schema), schema)
    kept = np.ones(old.num_rows, dtype=bool)
    kept[replaced_old] = False
    taken = np.sort(np.concatenate([replacing_new, np.flatnonzero(inserted)]))
    merged = pa.concat_tables([old.filter(pa.array(kept)), new.take(taken)])
    atomic_write_table(path, _sorted_by(merged, key))
    counts.files_written = 1
    return counts


def split_by(table: pa.Table, labels: np.ndarray) -> Iterator[tuple[object, pa.Table]]:
    """(label, rows) for each distinct label in ascending order, rows in their original order within each."""
    if table.num_rows == 0:
        return
    if np.any(labels[1:] < labels[:-1]):
        order = np.argsort(labels, kind="stable")
        table, labels = table.take(order), labels[order]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    for start, end in zip(starts, ends, strict=True):
        yield labels[start], table.slice(start, end - start)


def _read_stored(path: Path, columns: list[str], schema: pa.Schema) -> pa.Table:
    """Some columns of a stored partition file, typed as ``schema`` (a column the file predates reads as null)."""
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in columns if c in present])
    fields = [schema.field(c) for c in columns]
    arrays = [table[f.name] if f.name in present else pa.nulls(table.num_rows, f.type) for f in fields]
    return pa.table(arrays, names=columns).cast(pa.schema(fields))


def _with_columns(table: pa.Table, more: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` and ``more`` side by side, in the column order of ``schema``."""
    columns = {name: table[name] for name in table.column_names} | {name: more[name] for name in more.column_names}
    return pa.table([columns[n] for n in schema.names], schema=schema)


def _key_codes(new: pa.Table, old: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per row for the key columns, equal exactly where the keys are equal (new, old)."""
    cols = [np.concatenate([_as_int64(new[c]), _as_int64(old[c])]) for c in new.column_names]
    if len(cols) == 1:
        codes = cols[0]
    else:
        _, codes = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        codes = codes.reshape(-1).astype(np.int64)
    return codes[: new.num_rows], codes[new.num_rows :]


def _as_int64(column: pa.ChunkedArray) -> np.ndarray:
    assert column.null_count == 0, "keys are never null"
    return column.cast(pa.int64()).to_numpy()


def _match(new_keys: pa.Table, old_keys: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(new row index, stored row index) of every key present in both."""
    if old_keys.num_rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new_codes, old_codes = _key_codes(new_keys, old_keys)
    order = np.argsort(old_codes, kind="stable")
    sorted_old = old_codes[order]
    pos = np.searchsorted(sorted_old, new_codes)
    clipped = np.minimum(pos, len(sorted_old) - 1)
    found = (pos < len(sorted_old)) & (sorted_old[clipped] == new_codes)
    return np.flatnonzero(found), order[clipped[found]]


def _same_values(old: pa.Table, new: pa.Table) -> np.ndarray:
    """True per row where every column holds the same value (a null or NaN equals a null or NaN)."""
    same = np.ones(new.num_rows, dtype=bool)
    for a, b in zip(old.columns, new.columns, strict=True):
        a_null, b_null = _is_missing(a), _is_missing(b)
        equal = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
        same &= equal | (a_null & b_null)
    return same


def _is_missing(column: pa.ChunkedArray) -> np.ndarray:
    nan_is_null = pa.types.is_floating(column.type)
    return pc.is_null(column, nan_is_null=nan_is_null).to_numpy(zero_copy_only=False)


def _sorted_by(table: pa.Table, key: list[str]) -> pa.Table:
    """Rows in ascending key order (no copy when they already are)."""
    if table.num_rows < 2:
        return table
    if len(key) == 1:
        values = _as_int64(table[key[0]])
        if np.all(values[1:] > values[:-1]):
            return table
    return table.sort_by([(k, "ascending") for k in key])


def _check_unique(table: pa.Table, key: list[str], path: Path) -> None:
    """Refuse rows (sorted by key) that repeat a key: the merge could not tell which one to keep."""
    if table.num_rows < 2:
        return
    repeated = np.ones(table.num_rows - 1, dtype=bool)
    for k in key:
        values = _as_int64(table[k])
        repeated &= values[1:] == values[:-1]
    if repeated.any():
        first = table.slice(int(np.argmax(repeated)), 1).select(key).to_pylist()[0]
        named = ", ".join(f"{k}={v}" for k, v in first.items())
        raise ValueError(f"{path}: the rows to merge repeat the key ({named}); expected one row per key")
