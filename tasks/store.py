"""The data directory: raw payloads (bronze), curated measurements (silver), quarantine and watermarks.

Every write is atomic (``tasks.atomic_files``: a hidden temporary file, flushed, renamed over the target), so a
reader sees the old file or the new one, never half of one, even if the writer is killed. Measurement and NWP
partitions merge by key through ``tasks.upsert.upsert_partition``.

Every read-merge-write of a station (its measurement and NWP partitions, its quarantine file, its watermark) runs under
the station's lock, ``state/<station>/write.lock`` (``fcntl.flock``): two runs of one station, in threads or in
different processes (a scheduled run and a manual CLI run), take turns, so neither renames a merge over rows the
other just wrote. The kernel drops the lock of a killed process. The holder of the lock also removes temporary
files a killed writer left in the station's folders.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tasks.atomic_files import FILE_MODE, atomic_write_bytes, atomic_write_table
from tasks.upsert import MergeCounts, split_by, upsert_partitions
from windcast.clock import latest_plausible_time
from windcast.config import check_station_id
from windcast.schemas import MEASUREMENT_SCHEMA, MEASUREMENT_VALUE_COLUMNS, QUARANTINE_SCHEMA

PART_FILE = "part-0.parquet"
MEASUREMENT_KEY = ["time"]
# A rejected row is identified by what it holds, not by which payload or line it came in: two rejects that
# differ in any value (a conflicting duplicate in direction or gust only) are two rows, while the same `MM` line
# served again an hour later by a feed that moves (NDBC realtime, the Open-Meteo window) is the same row.
QUARANTINE_KEY = [n for n in QUARANTINE_SCHEMA.names if n not in ("station_id", "ingested_at", "raw_ref", "line_no")]
LOCK_FILE = "write.lock"
LOCK_TIMEOUT_S = 900.0  # a run that waits longer for a station's lock fails, naming the lock file
STALE_RAW_TMP_AGE_S = 3600.0  # a raw temporary file lives for the seconds of one write; an hour-old one is dead


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
    def nwp_dir(self) -> Path:
        return self.root / "nwp"

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


def merge_measurements(store: Store, station_id: str, rows: pd.DataFrame) -> MergeCounts:
    """Merge curated rows into the station's yearly partitions: new times inserted, revised values replaced.

    A row whose values equal the stored row is left alone (its ``ingested_at`` too), so re-ingesting the same
    period writes nothing and the store stays byte-identical. Only the years the rows fall in are read.
    """
    if rows.empty:
        return MergeCounts()
    table = _to_table(rows, MEASUREMENT_SCHEMA).drop_columns(["station_id"])  # the station is in the path
    years = pc.year(table["time"]).to_numpy()
    folder = store.station_dir(store.measurements_dir, station_id)
    parts = [(folder / f"year={year}" / PART_FILE, part) for year, part in split_by(table, years)]
    with station_lock(store, station_id):
        return upsert_partitions(parts, MEASUREMENT_KEY, MEASUREMENT_VALUE_COLUMNS, _fuller_or_equal)


def _fuller_or_equal(stored: pa.Table, new: pa.Table) -> np.ndarray:
    """A revision replaces a stored interval only if it rests on at least as many samples (an edge of a payload
    that cuts an hour short must not overwrite the full hour stored earlier)."""
    return new["n_samples"].to_numpy() >= stored["n_samples"].to_numpy()


def append_quarantine(store: Store, station_id: str, rows: pd.DataFrame) -> int:
    """Add rejected rows to the station's quarantine file, skipping rows already there; return rows added.

    Rows are compared on QUARANTINE_KEY as a multiset: a reject that a payload holds k times is kept k times
    (two identical unreadable lines are two rows), and one already stored that often is not added again.
    """
    if rows.empty:
        return 0
    path = store.station_dir(store.quarantine_dir, station_id) / PART_FILE
    rows = _to_table(rows.assign(station_id=station_id), QUARANTINE_SCHEMA).to_pandas()  # normalise dtypes
    with station_lock(store, station_id):
        old = _read_partition(path, QUARANTINE_SCHEMA, station_id)
        fresh = rows.loc[_occurrence(rows) >= _stored_copies(rows, old)]
        if fresh.empty:
            return 0
        _write_partition(path, pd.concat([old, fresh], ignore_index=True), QUARANTINE_SCHEMA, station_id)
    return len(fresh)


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame[QUARANTINE_KEY], index=False)


def _occurrence(rows: pd.DataFrame) -> np.ndarray:
    """0 for the first copy of a row (by QUARANTINE_KEY) in ``rows``, 1 for the second, ..."""
    return _row_keys(rows).groupby(_row_keys(rows).to_numpy()).cumcount().to_numpy()


def _stored_copies(rows: pd.DataFrame, old: pd.DataFrame) -> np.ndarray:
    """How many copies of each of ``rows`` (by QUARANTINE_KEY) ``old`` holds."""
    if old.empty:
        return np.zeros(len(rows), dtype=int)
    counts = _row_keys(old).value_counts()
    return _row_keys(rows).map(counts).fillna(0).to_numpy()


def _read_partition(path: Path, schema: pa.Schema, station_id: str) -> pd.DataFrame:
    """A station's partition file with every column of ``schema``, the partition column filled from the path."""
    if not path.exists():
        return schema.empty_table().to_pandas()
    frame = pq.read_table(path).to_pandas()
    frame["station_id"] = station_id  # lives only in the folder name (hive), not in the file
    return frame[schema.names]


def _write_partition(path: Path, frame: pd.DataFrame, schema: pa.Schema, station_id: str) -> None:
    """Write a station's partition file atomically; the partition column goes into the path, not the file."""
    frame = frame.assign(station_id=station_id)
    atomic_write_table(path, _to_table(frame, schema).drop_columns(["station_id"]))


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


def _watermark_path(store: Store, station_id: str) -> Path:
    return store.station_dir(store.state_dir, station_id, hive=False) / "watermark.json"


def read_watermark(store: Store, station_id: str) -> pd.Timestamp | None:
    """The time of the station's newest curated interval, or None before its first ingest.

    A stored watermark after now (+ the clock tolerance), left by an older version, is not trusted: the newest
    curated interval that is not in the future stands in for it, so a station is never silenced for good.
    """
    path = _watermark_path(store, station_id)
    if not path.exists():
        return None
    stored = pd.Timestamp(json.loads(path.read_text())["last_time"])
    limit = latest_plausible_time()
    if stored <= limit:
        return stored
    times = read_measurements(store, station_id)["time"]
    times = times[times <= limit]
    return None if times.empty else pd.Timestamp(times.max())


def advance_watermark(store: Store, station_id: str, last_time: pd.Timestamp) -> pd.Timestamp:
    """Move the watermark forward to ``last_time`` (never back, never past now); return the watermark in force."""
    limit = latest_plausible_time()
    if last_time > limit:
        raise ValueError(f"station {station_id!r}: watermark {last_time} is after now ({limit} with tolerance)")
    with station_lock(store, station_id):
        current = read_watermark(store, station_id)
        if current is not None and current >= last_time:
            return current
        payload = json.dumps({"last_time": last_time.isoformat()}).encode()
        atomic_write_bytes(_watermark_path(store, station_id), payload)
    return last_time


_held = threading.local()  # per thread: lock path -> depth, so a holder can call other locked functions


@contextmanager
def station_lock(store: Store, station_id: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the station's write lock (between threads and processes); re-entrant within one thread.

    Raises TimeoutError naming the lock file when another run holds it for longer than ``timeout_s``.
    """
    path = store.station_dir(store.state_dir, station_id, hive=False) / LOCK_FILE
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(path, 0):
        depth[path] += 1
        try:
            yield path
        finally:
            depth[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        _acquire(fd, path, station_id, timeout_s)
        depth[path] = 1
        try:
            _remove_partition_temporaries(store, station_id)
            yield path
        finally:
            depth[path] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, station_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"station {station_id!r}: another run has held {path} for more than {timeout_s:g} s"
                ) from None
            time.sleep(0.05)


def _remove_partition_temporaries(store: Store, station_id: str) -> list[Path]:
    """Remove temporary files in the station's measurement, NWP, quarantine and state folders.

    Only the holder of the station's lock writes there, so any temporary file found by the holder is a dead
    writer's (a killed run).
    """
    folders = [
        store.station_dir(store.measurements_dir, station_id),
        store.station_dir(store.nwp_dir, station_id),
        store.station_dir(store.quarantine_dir, station_id),
        store.station_dir(store.state_dir, station_id, hive=False),
    ]
    removed = [p for folder in folders if folder.exists() for p in folder.rglob(".*.tmp")]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def remove_stale_raw_temporaries(
    store: Store, station_id: str, older_than_s: float = STALE_RAW_TMP_AGE_S
) -> list[Path]:
    """Remove the station's raw temporary files older than ``older_than_s`` (real file age): a killed run's."""
    folder = store.station_dir(store.raw_dir, station_id, hive=False)
    if not folder.exists():
        return []
    cutoff = time.time() - older_than_s
    removed = [p for p in folder.rglob(".*.tmp") if p.stat().st_mtime < cutoff]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
