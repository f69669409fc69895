"""Regression tests for repeated (scheduled) ingests: each reproduces a defect seen on the second or a later run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks import store as st
from tasks import upsert
from tasks.ingest import ingest_station
from tasks.nwp_store import merge_nwp, read_nwp
from windcast.clock import NOW_ENV
from windcast.config import PipelineConfig

REPO = Path(__file__).resolve().parents[2]
HEADER = "time,wind_speed_ms,wind_dir_deg,wind_gust_ms\n"


def hourly_lines(start: str, hours: int, bad_at: int | None = None) -> list[str]:
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    lines = []
    for i, t in enumerate(times):
        speed = "bad" if i == bad_at else f"{6 + (i % 5) * 0.3:.1f}"
        lines.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{speed},{180 + i % 7},{9 + (i % 3) * 0.5:.1f}\n")
    return lines


def file_config(tmp_path: Path, csv: Path, **quality) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "stations": [{"id": "mast", "source": {"kind": "file", "path": str(csv)}}],
            "quality": quality,
        }
    )


def ledger_holds(report) -> bool:
    return report.rows_parsed == report.rows_curated + report.rows_quarantined + report.rows_duplicate


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setenv(NOW_ENV, "2024-06-01T00:00:00Z")


def test_a_second_ingest_works_when_the_quarantine_already_holds_rows(tmp_path):
    # observed: ValueError "Field station_id was non-nullable but pandas column had N null values", exit 1
    csv = tmp_path / "mast.csv"
    csv.write_text(HEADER + "".join(hourly_lines("2024-03-01", 100, bad_at=10)))
    config = file_config(tmp_path, csv)
    first = ingest_station(config, config.stations[0])
    assert (first.rows_curated, first.quarantine_rows_added) == (99, 1)

    with csv.open("a") as fh:
        fh.write("2024-03-05T04:00:00Z,oops,180,9\n")
    second = ingest_station(config, config.stations[0])

    assert ledger_holds(second) and second.quarantine_rows_added == 1  # the new reject; the old one kept once
    store = st.Store(config.data_dir)
    quarantine = st.read_quarantine(store, "mast")
    assert sorted(quarantine["raw_text"].str.slice(20).tolist()) == [",bad,183,9.5", ",oops,180,9"]
    assert (quarantine["station_id"] == "mast").all()
    assert len(st.read_measurements(store, "mast")) == 99
    assert st.read_watermark(store, "mast") == pd.Timestamp("2024-03-05T03:00Z")


def test_conflicting_duplicates_that_differ_in_direction_or_gust_are_all_kept(tmp_path):
    # observed: 3 reported quarantined, 1 stored (the key ignored direction and gust)
    rows = pd.DataFrame(
        {
            "station_id": "mast",
            "time": pd.Timestamp("2024-03-01T00:00Z"),
            "wind_speed_ms": 6.0,
            "wind_dir_deg": [215.0, 10.0, 20.0, 20.0],
            "wind_gust_ms": [None, None, None, 9.0],
            "n_samples": 1,
            "reason": "conflicting_duplicate",
            "stage": "resample",
            "line_no": pd.array([None] * 4, dtype="Int64"),
            "raw_text": pd.array([None] * 4, dtype="string"),
            "source": "file",
            "raw_ref": "raw/mast/file/a.csv",
            "ingested_at": pd.Timestamp("2024-06-01T00:00Z"),
        }
    )
    store = st.Store(tmp_path)
    assert st.append_quarantine(store, "mast", rows) == 4
    assert st.append_quarantine(store, "mast", rows) == 0  # the same rejects again: nothing new
    stored = st.read_quarantine(store, "mast")
    assert sorted(stored["wind_dir_deg"]) == [10.0, 20.0, 20.0, 215.0]


def test_conflicting_duplicates_through_ingest_match_the_ledger(tmp_path):
    csv = tmp_path / "mast.csv"
    lines = hourly_lines("2024-03-01", 96)
    lines += [f"2024-03-05T00:00:00Z,6.0,{d},9\n" for d in (215, 10, 20)]
    csv.write_text(HEADER + "".join(lines))
    config = file_config(tmp_path, csv)
    report = ingest_station(config, config.stations[0])
    quarantine = st.read_quarantine(st.Store(config.data_dir), "mast")
    assert report.quarantine_by_reason == {"conflicting_duplicate": 3}
    assert int(quarantine["n_samples"].fillna(1).sum()) == report.rows_quarantined == 3


@pytest.mark.parametrize("when", ["2099-01-01T00:00:00Z", "3000-06-01T12:00:00Z", "9999-12-31T00:00:00Z"])
def test_rows_dated_in_the_future_are_quarantined_and_do_not_move_the_watermark(tmp_path, when):
    # observed: stored under year=9999, and the watermark moved there
    csv = tmp_path / "mast.csv"
    csv.write_text(HEADER + "".join(hourly_lines("2024-03-01", 48)) + f"{when},7.0,200,9\n")
    config = file_config(tmp_path, csv)
    report = ingest_station(config, config.stations[0])
    assert report.quarantine_by_reason == {"future_time": 1} and ledger_holds(report)
    store = st.Store(config.data_dir)
    assert st.read_measurements(store, "mast")["time"].max() == pd.Timestamp("2024-03-02T23:00Z")
    assert st.read_watermark(store, "mast") == pd.Timestamp("2024-03-02T23:00Z")
    (future,) = st.read_quarantine(store, "mast").itertuples()
    assert future.reason == "future_time" and future.time == pd.Timestamp(when)
    assert sorted(p.name for p in (config.data_dir / "measurements" / "station_id=mast").iterdir()) == ["year=2024"]


def test_the_watermark_refuses_implausible_times_and_ignores_a_stored_one(tmp_path):
    store = st.Store(tmp_path)
    with pytest.raises(ValueError, match=r"station 'mast': watermark 2099-01-01 00:00:00\+00:00 is after now"):
        st.advance_watermark(store, "mast", pd.Timestamp("2099-01-01T00:00Z"))
    # a watermark left in the future by an older version is not trusted: the newest plausible curated hour is
    st.merge_measurements(store, "mast", curated_rows(["2024-03-01T00:00Z", "2024-03-01T01:00Z"]))
    path = tmp_path / "state" / "mast" / "watermark.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"last_time": "9999-12-31T00:00:00+00:00"}')
    assert st.read_watermark(store, "mast") == pd.Timestamp("2024-03-01T01:00Z")


def curated_rows(times, speed=5.0, ingested="2024-06-01T00:00Z") -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "station_id": ["mast"] * n,
            "time": pd.Series(pd.to_datetime(list(times), utc=True)).dt.as_unit("us"),
            "wind_speed_ms": [float(speed)] * n,
            "wind_dir_deg": [180.0] * n,
            "wind_gust_ms": [None] * n,
            "n_samples": [1] * n,
            "source": ["file"] * n,
            "raw_ref": ["raw/mast/file/a.csv"] * n,
            "ingested_at": pd.Timestamp(ingested),
        }
    )


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pandas as pd
    from tasks import store as st
    from tests.tasks.test_store_schedule import curated_rows

    times = pd.date_range("2024-01-21", periods=504, freq="h", tz="UTC")
    rows = curated_rows(times, speed=7.0)
    print("merging", flush=True)
    st.merge_measurements(st.Store(Path(sys.argv[1])), "mast", rows)
    """
)


def pause_before_writing(monkeypatch, thread_name: str) -> tuple[threading.Event, threading.Event]:
    """(decided, go_on): the named thread sets `decided` when its merge is about to write a partition file (what
    it read is decided), then waits for `go_on`."""
    decided, go_on = threading.Event(), threading.Event()
    real_write = upsert.atomic_write_table

    def wait_then_write(path, table):
        if threading.current_thread().name == thread_name:
            decided.set()
            go_on.wait(60)
        real_write(path, table)

    monkeypatch.setattr(upsert, "atomic_write_table", wait_then_write)
    return decided, go_on


def test_overlapping_writers_of_one_station_lose_nothing(tmp_path, monkeypatch):
    # observed: the run that read first renamed its merge over the later run's: 480 of 984 hours left
    store = st.Store(tmp_path)
    early = curated_rows(pd.date_range("2024-01-01", periods=480, freq="h", tz="UTC"))
    decided, go_on = pause_before_writing(monkeypatch, "early")
    writer = threading.Thread(name="early", target=st.merge_measurements, args=(store, "mast", early))
    writer.start()
    assert decided.wait(60)
    # a second process writes the later hours while the first holds what it decided
    later = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE)
    assert later.stdout.readline() == b"merging\n"  # started up (seconds on a busy machine)
    try:
        later.wait(timeout=3)  # without a lock it finishes here; with one it waits for the first writer
    except subprocess.TimeoutExpired:
        pass
    go_on.set()
    writer.join(60)
    assert later.wait(120) == 0
    stored = st.read_measurements(store, "mast")
    assert len(stored) == 984 and stored["time"].is_unique


def nwp_rows(valid_times, speed=5.0, issued="2024-03-01T06:00Z") -> pd.DataFrame:
    valid = pd.Series(pd.to_datetime(list(valid_times), utc=True)).dt.as_unit("us")
    issued_at = pd.Timestamp(issued).as_unit("us")
    return pd.DataFrame(
        {
            "station_id": "mast",
            "model": "icon_seamless",
            "issued_at": issued_at,
            "run_time": pd.NaT,
            "valid_time": valid,
            "lead_h": ((valid - issued_at) / pd.Timedelta("1h")).astype("int32"),
            "wind_speed_10m_ms": float(speed),
            "wind_speed_100m_ms": None,
            "wind_dir_10m_deg": 200.0,
            "wind_gust_10m_ms": None,
            "source": "open-meteo-forecast",
            "raw_ref": "raw/mast/open-meteo-forecast/a.json",
            "ingested_at": pd.Timestamp("2024-03-01T06:05Z"),
        }
    )


def test_overlapping_nwp_merges_of_one_station_lose_nothing(tmp_path, monkeypatch):
    # observed before merge_nwp took the station's lock: the merge that read first renamed its file over the
    # other's, losing the other's new hours
    store = st.Store(tmp_path)
    merge_nwp(store, "mast", nwp_rows(pd.date_range("2024-03-01T06:00Z", periods=6, freq="h")))
    decided, go_on = pause_before_writing(monkeypatch, "scheduled")
    scheduled = nwp_rows(pd.date_range("2024-03-01T06:00Z", periods=24, freq="h"))
    manual = nwp_rows(pd.date_range("2024-03-01T18:00Z", periods=24, freq="h"), speed=6.0)
    results = {}

    def merge(name, rows):
        results[name] = merge_nwp(store, "mast", rows)

    first = threading.Thread(name="scheduled", target=merge, args=("scheduled", scheduled))
    first.start()
    assert decided.wait(60)
    second = threading.Thread(name="manual", target=merge, args=("manual", manual))
    second.start()
    second.join(3)  # without the lock it finishes here; with it, it waits for the scheduled merge
    go_on.set()
    first.join(60)
    second.join(60)
    stored = read_nwp(store, "mast")
    assert stored["valid_time"].tolist() == list(pd.date_range("2024-03-01T06:00Z", periods=36, freq="h"))
    assert stored["wind_speed_10m_ms"].tolist() == [5.0] * 12 + [6.0] * 24  # the manual run's revision kept
    assert (results["scheduled"].inserted, results["scheduled"].unchanged) == (18, 6)
    assert (results["manual"].inserted, results["manual"].updated) == (12, 12)


def test_the_same_reject_served_again_by_a_moving_feed_is_kept_once_and_identical_lines_twice(tmp_path):
    csv = tmp_path / "mast.csv"
    lines = hourly_lines("2024-03-01", 48)
    csv.write_text(HEADER + "".join(lines[:24]) + "garbage\ngarbage\n" + "".join(lines[24:]))
    config = file_config(tmp_path, csv, max_failed_fraction=0.1)
    first = ingest_station(config, config.stations[0])
    assert first.quarantine_rows_added == 2  # two unreadable lines are two rejected rows
    csv.write_text(HEADER + "".join(lines[1:24]) + "garbage\ngarbage\n" + "".join(lines[24:]))  # moved by one
    second = ingest_station(config, config.stations[0])
    assert second.quarantine_by_reason == first.quarantine_by_reason and second.quarantine_rows_added == 0
    assert len(st.read_quarantine(st.Store(config.data_dir), "mast")) == 2


def test_a_killed_writers_temporary_files_are_removed_by_the_next_writer(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "mast", curated_rows(["2024-03-01T00:00Z"]))
    partition = tmp_path / "measurements" / "station_id=mast" / "year=2024"
    dead = partition / ".part-0.parquet.x1.tmp"
    dead.write_bytes(b"PAR1 half")
    raw = tmp_path / "raw" / "mast" / "file"
    raw.mkdir(parents=True)
    old_raw, fresh_raw = raw / ".abc.csv.x2.tmp", raw / ".abd.csv.x3.tmp"
    old_raw.write_bytes(b"x" * 100)
    fresh_raw.write_bytes(b"y")  # may belong to a run fetching right now
    os.utime(old_raw, (time.time() - 2 * st.STALE_RAW_TMP_AGE_S,) * 2)

    st.merge_measurements(store, "mast", curated_rows(["2024-03-01T01:00Z"]))
    assert sorted(p.name for p in partition.iterdir()) == ["part-0.parquet"]
    assert st.remove_stale_raw_temporaries(store, "mast") == [old_raw]
    assert fresh_raw.exists() and not old_raw.exists()


def test_a_run_that_cannot_get_the_lock_says_which(tmp_path):
    store = st.Store(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stdin=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(TimeoutError, match=r"station 'mast': another run has held .*state/mast/write\.lock"):
            with st.station_lock(store, "mast", timeout_s=0.2):
                pass
    finally:
        holder.stdin.close()
        holder.wait(60)
    with st.station_lock(store, "mast", timeout_s=0.2):  # released when the holder ends
        pass


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tasks import store as st

    with st.station_lock(st.Store(Path(sys.argv[1])), "mast"):
        print("held", flush=True)
        sys.stdin.read()
    """
)
