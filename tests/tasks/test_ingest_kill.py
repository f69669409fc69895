"""An ingest killed with SIGKILL in the middle of a Parquet write leaves a readable store; a re-run completes it."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import store as st
from tasks.ingest import ingest_station
from windcast.config import PipelineConfig

REPO = Path(__file__).resolve().parents[2]


def write_hourly_csv(path: Path, years: int) -> int:
    times = pd.date_range("2018-01-01", periods=24 * 365 * years, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    hours = np.arange(len(times))
    speed = (7 + 3 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.2, len(times))).round(2)
    frame = pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "wind_speed_ms": speed,
            "wind_dir_deg": rng.integers(0, 360, len(times)),
        }
    )
    frame.to_csv(path, index=False)
    return len(frame)


def config_for(tmp_path: Path, csv: Path, name: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / name),
            "stations": [{"id": "k1", "source": {"kind": "file", "path": str(csv)}}],
        }
    )


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow.parquet as pq
    from tasks.ingest import ingest_station
    from windcast.config import PipelineConfig

    real_write = pq.write_table
    calls = {"n": 0}

    def write_then_die(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # the third partition: write half a file, then the process is killed
            real_write(table, where, **kw)
            size = os.path.getsize(where)
            with open(where, "r+b") as fh:
                fh.truncate(size // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(table, where, **kw)

    pq.write_table = write_then_die
    config = PipelineConfig.model_validate_json(sys.argv[1])
    ingest_station(config, config.stations[0])
    """
)


def test_killed_mid_write_then_rerun_completes(tmp_path):
    csv = tmp_path / "k1.csv"
    n_rows = write_hourly_csv(csv, years=5)
    config = config_for(tmp_path, csv, "store")
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, config.model_dump_json()], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    store = st.Store(config.data_dir)
    strays = list((tmp_path / "store").rglob("*.tmp"))
    assert strays, "the kill should have left a half-written temporary file"
    after_kill = st.read_measurements(store, "k1")  # reads cleanly: only whole partitions are visible
    assert len(after_kill) < n_rows
    # partitions are written a few at a time, so which years were in place at the kill varies; each is whole
    hours_per_year = pd.read_csv(csv, usecols=["time"])["time"].str[:4].astype(int).value_counts()
    visible = after_kill["time"].dt.year.value_counts()
    assert all(visible[year] == hours_per_year[year] for year in visible.index)
    assert st.read_watermark(store, "k1") is None

    report = ingest_station(config, config.stations[0])
    assert report.intervals_inserted == n_rows - len(after_kill)
    reference = config_for(tmp_path, csv, "reference")
    ingest_station(reference, reference.stations[0])
    pd.testing.assert_frame_equal(
        st.read_measurements(store, "k1").drop(columns="ingested_at"),
        st.read_measurements(st.Store(reference.data_dir), "k1").drop(columns="ingested_at"),
    )

    files = {p: p.read_bytes() for p in (tmp_path / "store").rglob("*.parquet")}
    again = ingest_station(config, config.stations[0])
    assert (again.intervals_inserted, again.intervals_updated) == (0, 0)
    assert files == {p: p.read_bytes() for p in (tmp_path / "store").rglob("*.parquet")}
