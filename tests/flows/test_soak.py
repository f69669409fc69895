"""The schedule, run: 48 hourly ingest + forecast runs on sources that evolve with a simulated clock.

One bootstrap (a first ingest, a tiny training, a backtest that names the champions) is shared by the tests; each
test continues the schedule on its own copy of that store. After every run: the flow ended as expected, the row
ledger holds and counts every row the sources served, every hour served is in measurements/ or quarantined with a
reason, stored values are the newest served ones, the watermark is where the served data put it, and the hour's
forecasts are published. The hostile variants inject one event each and check that the runs after it recover.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
import yaml

from flows.backtest import backtest_flow
from flows.forecast import forecast_flow
from flows.ingest import ingest_flow
from flows.outcomes import StationsFailed
from flows.train import train_flow
from tasks import store as st
from tests.flows.soak_world import ARCHIVE_PATH, FUTURE, NDBC_PATH, ServedRow, World, WorldServer
from tests.flows.soak_world import Reply as WorldReply
from windcast.clock import NOW_ENV
from windcast.config import PipelineConfig

REPO = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2026-02-25T00:05Z")  # the bootstrap run; the schedule runs at hh:05 after it
HORIZON = 6
STATIONS = ("buoy", "grid", "mast")
MIN_NDBC_SAMPLES = 3  # ceil(min_coverage 0.5 x 6 ten-minute samples)


def soak_config(root: Path, url: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "data_dir": str(root / "store"),
            "http": {"connect_timeout_s": 5, "read_timeout_s": 10, "retries": 1, "backoff_factor_s": 0.01},
            "stations": [
                {"id": "buoy", "source": {"kind": "ndbc", "station": "soak1", "base_url": url}},
                {
                    "id": "grid",
                    "source": {
                        "kind": "open-meteo",
                        "latitude": 52.27,
                        "longitude": 6.82,
                        "start_date": "2026-02-10",
                        "base_url": url,
                    },
                },
                {"id": "mast", "source": {"kind": "file", "path": str(root / "mast.csv")}},
            ],
            "training": {
                "kinds": ["gru"],
                "lookback_steps": 24,
                "horizon_steps": HORIZON,
                "hidden_size": 8,
                "n_members": 1,
                "max_epochs": 2,
                "windows_per_epoch": 128,
                "batch_size": 64,
                "num_threads": 1,
            },
        }
    )


@dataclass
class Expectation:
    """What the store must hold for one station, from every row served to a run that completed."""

    mean: dict[pd.Timestamp, float] = field(default_factory=dict)  # hour -> newest served mean speed
    count: dict[pd.Timestamp, int] = field(default_factory=dict)  # hour -> valid samples behind it
    missing_texts: set[str] = field(default_factory=set)  # rows served without a speed (or unreadable)
    future: set[pd.Timestamp] = field(default_factory=set)  # rows dated after now
    watermark: pd.Timestamp | None = None


class Ledger:
    """The soak's bookkeeping: expectations per station, checked against the store after every run."""

    def __init__(self) -> None:
        self.stations = {sid: Expectation() for sid in STATIONS}
        self.watermark_moves = dict.fromkeys(STATIONS, 0)

    def record(self, served: dict[str, list[ServedRow]], completed: set[str]) -> None:
        """Fold in the rows that the completed stations' runs were served."""
        now = pd.Timestamp(os.environ[NOW_ENV])
        for sid in completed:
            exp = self.stations[sid]
            rows = pd.DataFrame(
                {
                    "time": pd.to_datetime([r.time for r in served[sid]], utc=True),
                    "speed": pd.array([r.speed for r in served[sid]], dtype="Float64"),
                    "text": [r.text for r in served[sid]],
                }
            )
            exp.missing_texts |= set(rows.loc[rows["time"].isna() | rows["speed"].isna(), "text"])
            exp.future |= set(rows.loc[rows["speed"].notna() & (rows["time"] > now), "time"])
            valid = rows[rows["time"].notna() & rows["speed"].notna() & (rows["time"] <= now)]
            hours = valid.groupby(valid["time"].dt.floor("h"))["speed"].agg(["mean", "count"])
            if sid == "buoy":  # an hour cut short at an edge of the window never replaces a whole one
                size = rows.groupby(rows["time"].dt.floor("h")).size().reindex(hours.index)
                cut = hours[size < 6]
                hours = hours[size == 6]
                for hour, mean, count in cut.itertuples():
                    exp.mean.setdefault(hour, float(mean))
                    exp.count.setdefault(hour, int(count))
            exp.mean.update(hours["mean"].astype(float).to_dict())
            exp.count.update(hours["count"].astype(int).to_dict())
            need = MIN_NDBC_SAMPLES if sid == "buoy" else 1
            eligible = hours.index[hours["count"] >= need]
            if len(eligible) and (exp.watermark is None or eligible.max() > exp.watermark):
                exp.watermark = eligible.max()
                self.watermark_moves[sid] += 1

    def check_store(self, store: st.Store) -> None:
        """Every served hour is curated (with the newest value) or quarantined; watermarks where expected."""
        measurements = st.read_measurements(store)
        quarantine = st.read_quarantine(store)
        now = pd.Timestamp(os.environ[NOW_ENV])
        for sid, exp in self.stations.items():
            stored = measurements[measurements["station_id"] == sid].set_index("time")["wind_speed_ms"]
            rejected = quarantine[quarantine["station_id"] == sid]
            served = pd.DataFrame({"mean": exp.mean, "count": exp.count})
            accounted = stored.index.union(pd.DatetimeIndex(rejected["time"].dropna().dt.floor("h")))
            lost = served.index.difference(accounted)
            assert lost.empty, f"{sid}: {len(lost)} served hour(s) lost, first {list(lost[:3])}"
            lost_rejects = exp.missing_texts - set(rejected["raw_text"].dropna())
            assert not lost_rejects, f"{sid}: rejected rows not in quarantine: {sorted(lost_rejects)[:3]}"
            need = MIN_NDBC_SAMPLES if sid == "buoy" else 1
            curated = served[served["count"] >= need].join(stored, how="inner")
            pd.testing.assert_series_equal(
                curated["wind_speed_ms"], curated["mean"], check_names=False, check_index_type=False
            )
            assert exp.future <= set(rejected.loc[rejected["reason"] == "future_time", "time"]), sid
            assert stored.index.is_unique and stored.index.max() <= now
            assert st.read_watermark(store, sid) == exp.watermark, sid
        leftovers = [p for p in store.root.rglob("*.tmp") if p.relative_to(store.root).parts[0] != "raw"]
        assert not leftovers, f"temporary files left: {leftovers}"


def check_reports(reports: dict[str, dict], served: dict[str, list[ServedRow]]) -> None:
    """The run's ledger: every served row parsed, and parsed = curated + quarantined + merged duplicates."""
    for sid, report in reports.items():
        assert report["rows_parsed"] == len(served[sid]), sid
        assert report["rows_parsed"] == report["rows_curated"] + report["rows_quarantined"] + report["rows_duplicate"]


def check_forecasts(store: st.Store, issued: pd.Timestamp, stations=STATIONS) -> None:
    frame = ds.dataset(store.root / "forecasts", format="parquet", partitioning="hive").to_table().to_pandas()
    frame = frame[frame["issued_at"] == issued.floor("s")]
    assert frame.groupby("station_id").size().to_dict() == dict.fromkeys(stations, HORIZON)


class Schedule:
    """The hourly deployments on a simulated clock: an ingest run, then a forecast run, checked after each."""

    def __init__(self, root: Path, world: World, url: str, ledger: Ledger, monkeypatch) -> None:
        self.root, self.world, self.ledger, self.monkeypatch = root, world, ledger, monkeypatch
        self.config = soak_config(root, url)
        self.store = st.Store(self.config.data_dir)

    def at(self, hour: int) -> pd.Timestamp:
        now = T0 + pd.Timedelta(hours=hour)
        self.monkeypatch.setenv(NOW_ENV, now.isoformat())
        self.world.advance_to(now)
        return now

    def ingest(self) -> dict[str, dict]:
        reports = ingest_flow(config=self.config)
        check_reports(reports, self.world.served)
        self.ledger.record(self.world.served, set(reports))
        self.ledger.check_store(self.store)
        return reports

    def ingest_failing(self, station: str, match: str) -> None:
        """A run in which one station meets a hostile event: it fails naming the station; the others complete."""
        with pytest.raises(StationsFailed, match=match):
            ingest_flow(config=self.config)
        self.ledger.record(self.world.served, set(STATIONS) - {station})
        self.ledger.check_store(self.store)

    def forecast(self, now: pd.Timestamp) -> None:
        forecast_flow(config=self.config)  # issued at the (simulated) now
        check_forecasts(self.store, now)

    def hour(self, hour: int) -> pd.Timestamp:
        now = self.at(hour)
        self.ingest()
        self.forecast(now)
        return now

    def config_file(self) -> Path:
        path = self.root / "windcast.yaml"
        path.write_text(yaml.safe_dump(self.config.model_dump(mode="json")))
        return path


@pytest.fixture(scope="module")
def bootstrapped(prefect_harness, tmp_path_factory):
    """The first run of the schedule: ingest the sources' history, train tiny models, name the champions."""
    root = tmp_path_factory.mktemp("soak-bootstrap")
    world = World(T0, root / "mast.csv")
    ledger = Ledger()
    with WorldServer(world) as server, pytest.MonkeyPatch.context() as mp:
        schedule = Schedule(root, world, server.url, ledger, mp)
        schedule.at(0)
        schedule.ingest()
        train_flow(config=schedule.config)
        backtest_flow(config=schedule.config)
        schedule.forecast(T0)
    return root, ledger


@pytest.fixture
def schedule(bootstrapped, tmp_path, monkeypatch):
    """A copy of the bootstrapped store, its world at the bootstrap time and the ledger so far, served live."""
    source, ledger = bootstrapped
    shutil.copytree(source / "store", tmp_path / "store")
    world = World(T0, tmp_path / "mast.csv")
    with WorldServer(world) as server:
        yield Schedule(tmp_path, world, server.url, copy.deepcopy(ledger), monkeypatch)


def test_48_hourly_runs_lose_nothing_and_publish_every_hour(schedule):
    for hour in range(1, 49):
        schedule.hour(hour)
    moves = schedule.ledger.watermark_moves
    # the buoy's and the grid point's watermarks move every hour, but the buoy's once: its hour 1357 is an outage
    assert moves["buoy"] == 48 and moves["grid"] == 49, moves
    assert moves["mast"] == 3, moves  # the export grows once a day: the bootstrap, then two midnights
    quarantine = st.read_quarantine(schedule.store)
    reasons = set(quarantine["reason"])
    assert {"missing_wind_speed", "too_few_samples"} <= reasons
    assert any(r.startswith("parse_error") for r in reasons)
    assert not quarantine.duplicated(st.QUARANTINE_KEY + ["station_id"]).any()  # the same reject kept once


def test_a_future_row_is_quarantined_and_the_station_keeps_updating(schedule):
    schedule.at(1)

    def add_future(body: bytes) -> bytes:  # the newest (null) hour of the archive comes dated 2099 with a value
        doc = json.loads(body)
        doc["hourly"]["time"][-1] = FUTURE
        doc["hourly"]["wind_speed_10m"][-1] = 7.5
        return json.dumps(doc).encode()

    schedule.world.edit_next(ARCHIVE_PATH, add_future)
    reports = schedule.ingest()
    assert reports["grid"]["quarantine_by_reason"]["future_time"] == 1
    future = st.read_quarantine(schedule.store, "grid").query("reason == 'future_time'")
    assert future["time"].tolist() == [pd.Timestamp(FUTURE, tz="UTC")]
    for hour in (2, 3):  # the grid point keeps updating: its watermark moves every hour
        before = st.read_watermark(schedule.store, "grid")
        schedule.hour(hour)
        assert st.read_watermark(schedule.store, "grid") == before + pd.Timedelta("1h")


def test_a_truncated_payload_fails_its_station_and_the_next_run_fetches_the_gap(schedule):
    now = schedule.at(1)
    schedule.world.edit_next(ARCHIVE_PATH, lambda body: body[: len(body) // 2])
    schedule.ingest_failing("grid", r"ingest failed for 1 of 3 station\(s\): grid: .*payload is not JSON")
    skipped = [r for r in schedule.world.served["grid"] if r.speed is not None]
    schedule.forecast(now)  # the forecasts of the hour are still published (from the data there is)
    schedule.hour(2)
    stored = set(st.read_measurements(schedule.store, "grid")["time"])
    assert {r.time for r in skipped} <= stored  # the hours of the failed run came in with the next one
    schedule.hour(3)


def test_a_503_burst_fails_its_station_and_the_next_run_recovers(schedule):
    now = schedule.at(1)
    schedule.world.fail_next(NDBC_PATH, *[WorldReply(503, b"<html>busy</html>", "text/html")] * 2)
    schedule.ingest_failing("buoy", r"buoy: .*503")
    schedule.forecast(now)
    watermark = st.read_watermark(schedule.store, "buoy")
    schedule.hour(2)
    assert st.read_watermark(schedule.store, "buoy") == watermark + pd.Timedelta("2h")  # the missed hour too
    schedule.hour(3)


KILLED_CLI = textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow.parquet as pq
    from windcast import cli

    real_write = pq.write_table
    calls = {"n": 0}

    def write_then_die(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == int(os.environ["SOAK_KILL_AT_WRITE"]):
            real_write(table, where, **kw)
            with open(where, "r+b") as fh:
                fh.truncate(os.path.getsize(where) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(table, where, **kw)

    pq.write_table = write_then_die
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def cli_env(now: pd.Timestamp, **extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, NOW_ENV: now.isoformat(), "PREFECT_API_URL": PREFECT_API_URL.value(), **extra}


def test_an_ingest_killed_mid_write_leaves_a_readable_store_and_the_next_run_completes_it(schedule):
    now = schedule.at(1)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_CLI, "ingest", "--config", str(schedule.config_file())],
        cwd=REPO,
        env=cli_env(now, SOAK_KILL_AT_WRITE="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert list(schedule.store.root.rglob(".*.tmp")), "the kill should have left a half-written temporary file"
    st.read_measurements(schedule.store)  # readable: only whole files are visible
    st.read_quarantine(schedule.store)
    schedule.forecast(now)
    schedule.hour(2)  # the next run removes the dead writer's file and stores what the killed run did not
    schedule.hour(3)


def test_a_manual_run_overlapping_a_scheduled_one_loses_nothing(schedule):
    # A manual CLI run fetches at 01:05; the scheduled run fetches at 02:05 (newer data, a newer window). The test
    # holds the stations' locks until both have fetched, so their read-merge-writes surely overlap: whichever
    # writes last must not replace what the other wrote, and the watermark must end at the newer run's.
    manual_now = schedule.at(1)
    scheduled: dict = {}
    with st.station_lock(schedule.store, "buoy"), st.station_lock(schedule.store, "grid"):
        manual = subprocess.Popen(
            [sys.executable, "-m", "windcast.cli", "ingest", "--config", str(schedule.config_file())],
            cwd=REPO,
            env=cli_env(manual_now),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert schedule.world.wait_for_requests(NDBC_PATH, 1, timeout_s=300)
        assert schedule.world.wait_for_requests(ARCHIVE_PATH, 1, timeout_s=300)
        manual_served = dict(schedule.world.served)
        now = schedule.at(2)
        runner = threading.Thread(target=lambda: scheduled.update(ingest_flow(config=schedule.config)))
        runner.start()
        assert schedule.world.wait_for_requests(NDBC_PATH, 2, timeout_s=300)
        assert schedule.world.wait_for_requests(ARCHIVE_PATH, 2, timeout_s=300)
    out, err = manual.communicate(timeout=300)
    runner.join(300)
    assert manual.returncode == 0, err[-2000:]
    check_reports(json.loads(out[: out.index("\n\nmeasurements:")]), manual_served)
    check_reports(scheduled, schedule.world.served)
    schedule.ledger.record(manual_served, set(STATIONS))
    schedule.ledger.record(schedule.world.served, set(STATIONS))
    schedule.ledger.check_store(schedule.store)
    schedule.forecast(now)
    schedule.hour(3)
