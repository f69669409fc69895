"""The data directory: raw payloads (bronze), curated measurements (silver), quarantine and watermarks.

Every write goes to a hidden temporary file in the target folder, is flushed to disk, then renamed over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one, even if the writer is killed.
Temporary names start with ``.`` and end in ``.tmp``: pyarrow, DuckDB and Polars globs over ``*.parquet`` skip them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from windcast.config import check_station_id
from windcast.schemas import MEASUREMENT_SCHEMA, QUARANTINE_SCHEMA

PART_FILE = "part-0.parquet"
MEASUREMENT_KEY = ["time"]
QUARANTINE_KEY = ["stage", "reason", "time", "line_no", "raw_ref"]


@dataclass(frozen=True)
class Store:
    """Paths of one data directory; every station path is checked to stay inside it."""

    root: Path

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def measurements_dir(self) -> Path:
        return self.root / "measurements"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def station_dir(self, parent: Path, station_id: str, hive: bool = True) -> Path:
        """The folder of one station under ``parent``, refusing ids that could leave the data directory."""
        check_station_id(station_id)
        name = f"station_id={station_id}" if hive else station_id
        path = (parent / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"station id {station_id!r} resolves outside the data directory {self.root}")
        return parent / name


@dataclass
class MergeCounts:
    """What a merge did to the stored rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    files_written: int = 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 would hide files from other readers
DIR_MODE = 0o777 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet file so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_raw_payload(store: Store, station_id: str, source: str, content: bytes, suffix: str, meta: dict) -> str:
    """Keep a payload exactly as received, addressed by its content hash; return its path relative to the store."""
    digest = hashlib.sha256(content).hexdigest()[:20]
    folder = store.station_dir(store.raw_dir, station_id, hive=False) / source
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        atomic_write_bytes(path, content)
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.exists():
        atomic_write_bytes(sidecar, json.dumps({**meta, "sha256": hashlib.sha256(content).hexdigest()}).encode())
    return path.relative_to(store.root).as_posix()


def _to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def _same_values(old: pd.DataFrame, new: pd.DataFrame, columns: list[str]) -> pd.Series:
    same = pd.Series(True, index=old.index)
    for col in columns:
        a, b = old[col], new[col]
        same &= (a == b).fillna(False) | (a.isna() & b.isna())
    return same


def merge_measurements(store: Store, station_id: str, rows: pd.DataFrame) -> MergeCounts:
    """Merge curated rows into the station's yearly partitions: new times inserted, revised values replaced.

    A row whose values equal the stored row is left alone (its ``ingested_at`` too), so re-ingesting the same
    period writes nothing and the store stays byte-identical.
    """
    counts = MergeCounts()
    if rows.empty:
        return counts
    station_root = store.station_dir(store.measurements_dir, station_id)
    value_cols = ["wind_speed_ms", "wind_dir_deg", "wind_gust_ms", "n_samples"]
    for year, new in rows.groupby(rows["time"].dt.year, sort=True):
        path = station_root / f"year={year}" / PART_FILE
        old = _read_partition(path, MEASUREMENT_SCHEMA)
        new = new.set_index("time", drop=False)
        old = old.set_index("time", drop=False)
        common = new.index.intersection(old.index)
        same = _same_values(old.loc[common], new.loc[common], value_cols)
        # a revision replaces a stored interval only if it rests on at least as many samples (an edge of a
        # payload that cuts an hour short must not overwrite the full hour stored earlier)
        better = new.loc[common, "n_samples"].to_numpy() >= old.loc[common, "n_samples"].to_numpy()
        changed = common[~same.to_numpy() & better]
        inserted = new.index.difference(old.index)
        counts.unchanged += len(common) - len(changed)
        counts.updated += len(changed)
        counts.inserted += len(inserted)
        if len(changed) == 0 and len(inserted) == 0:
            continue
        merged = pd.concat([old.drop(index=changed), new.loc[changed.union(inserted)]])
        merged = merged.sort_index().reset_index(drop=True)
        merged["station_id"] = station_id
        atomic_write_table(path, _to_table(merged, MEASUREMENT_SCHEMA).drop_columns(["station_id"]))
        counts.files_written += 1
    return counts


def append_quarantine(store: Store, station_id: str, rows: pd.DataFrame) -> int:
    """Add rejected rows to the station's quarantine file, skipping rows already there; return rows added."""
    if rows.empty:
        return 0
    path = store.station_dir(store.quarantine_dir, station_id) / PART_FILE
    old = _read_partition(path, QUARANTINE_SCHEMA)
    rows = _to_table(rows.assign(station_id=station_id), QUARANTINE_SCHEMA).to_pandas()  # normalise dtypes
    key = QUARANTINE_KEY + ["raw_text", "wind_speed_ms"]
    fresh = rows.merge(old[key].drop_duplicates(), on=key, how="left", indicator=True)
    fresh = fresh.loc[fresh["_merge"] == "left_only", QUARANTINE_SCHEMA.names]
    fresh = fresh.drop_duplicates(subset=key)
    if fresh.empty:
        return 0
    merged = pd.concat([old, fresh], ignore_index=True)
    atomic_write_table(path, _to_table(merged, QUARANTINE_SCHEMA).drop_columns(["station_id"]))
    return len(fresh)


def _read_partition(path: Path, schema: pa.Schema) -> pd.DataFrame:
    if not path.exists():
        return schema.empty_table().to_pandas()
    table = pq.read_table(path)
    return table.to_pandas()


def read_station_dataset(store: Store, name: str, schema: pa.Schema, station_id: str | None = None) -> pd.DataFrame:
    """Read one hive-partitioned dataset of the store (one station or all) with the schema's columns."""
    root = store.root / name
    if station_id is not None:
        root = store.station_dir(root, station_id)
    if not root.exists():
        return schema.empty_table().to_pandas()
    # the schema given, so files written before a column was added read it as null instead of failing
    frame = ds.dataset(root, format="parquet", partitioning="hive", schema=schema).to_table().to_pandas()
    if station_id is not None:
        frame["station_id"] = station_id  # the partition column is only in the path above the station folder
    frame["station_id"] = frame["station_id"].astype(str)
    return frame[schema.names]


def read_measurements(store: Store, station_id: str | None = None) -> pd.DataFrame:
    """Read curated measurements (one station or all) as a frame sorted by station and time."""
    frame = read_station_dataset(store, "measurements", MEASUREMENT_SCHEMA, station_id)
    return frame.sort_values(["station_id", "time"]).reset_index(drop=True)


def read_quarantine(store: Store, station_id: str | None = None) -> pd.DataFrame:
    """Read quarantined rows (one station or all)."""
    return read_station_dataset(store, "quarantine", QUARANTINE_SCHEMA, station_id)


def read_watermark(store: Store, station_id: str) -> pd.Timestamp | None:
    """The time of the station's newest curated interval, or None before its first ingest."""
    path = store.station_dir(store.state_dir, station_id, hive=False) / "watermark.json"
    if not path.exists():
        return None
    return pd.Timestamp(json.loads(path.read_text())["last_time"])


def advance_watermark(store: Store, station_id: str, last_time: pd.Timestamp) -> pd.Timestamp:
    """Move the watermark forward to ``last_time`` (never back); return the watermark now in force."""
    current = read_watermark(store, station_id)
    if current is not None and current >= last_time:
        return current
    path = store.station_dir(store.state_dir, station_id, hive=False) / "watermark.json"
    atomic_write_bytes(path, json.dumps({"last_time": last_time.isoformat()}).encode())
    return last_time
