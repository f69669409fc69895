"""Atomic file writes: a hidden temporary file in the target folder, flushed to disk, renamed over the target.

A reader sees the old file or the new one, never half of one, even if the writer is killed. Temporary names start
with ``.`` and end in ``.tmp``: pyarrow, DuckDB and Polars globs over ``*.parquet`` skip them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 would hide files from other readers
DIR_MODE = 0o777 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes so that readers never see a partial file."""
    with _replacing(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet file so that readers never see a partial file."""
    with _replacing(path) as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file to fill; renamed over ``path`` (and its folder flushed) if the block ends normally,
    removed if it raises."""
    tmp = _temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _temporary(path: Path) -> Path:
    """A new empty hidden temporary file next to ``path`` (its folder created), readable as open() would make it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    return Path(tmp)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
