"""NWP ingest from a loopback Open-Meteo: multi-model payloads into nwp/, idempotent, units refused when wrong."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tasks import store as st
from tasks.nwp_ingest import ingest_station_nwp
from tasks.nwp_store import read_nwp
from tasks.sources.base import SourceError
from tests.http_server import Reply
from windcast.clock import NOW_ENV
from windcast.config import PipelineConfig
from windcast.schemas import NWP_SCHEMA

NOW = pd.Timestamp("2025-11-24 05:20", tz="UTC")
MODELS = ["ecmwf_ifs025", "gfs_global", "gem_regional"]


def _config(tmp_path, url, fast_http, **nwp) -> PipelineConfig:
    station = {
        "id": "lagoon",
        "source": {"kind": "file", "path": str(tmp_path / "unused.csv")},
        "nwp": {"latitude": 45.75, "longitude": 12.75, "models": MODELS, "base_url": url, **nwp},
    }
    return PipelineConfig.model_validate(
        {"data_dir": str(tmp_path / "store"), "http": fast_http.model_dump(), "stations": [station]}
    )


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "nwp").rglob("*.parquet"))}


def test_multi_model_payload_fills_nwp_and_reingest_is_idempotent(tmp_path, http_server, fast_http, fixtures_dir):
    body = (fixtures_dir / "open_meteo_forecast_models.json").read_bytes()
    http_server.route("/v1/forecast", Reply(200, body))
    config = _config(tmp_path, http_server.url, fast_http)
    station = config.stations[0]

    report = ingest_station_nwp(config, station, now=NOW)

    query = http_server.hits("/v1/forecast")[0].query
    assert query["models"] == [",".join(MODELS)]
    assert query["hourly"] == ["wind_speed_10m,wind_speed_100m,wind_direction_10m,wind_gusts_10m"]
    store = st.Store(config.data_dir)
    rows = read_nwp(store, "lagoon")
    assert list(rows.columns) == NWP_SCHEMA.names
    # 48 hours x 3 models; gem_regional sends nulls ("undefined" units): quarantined as missing, not lost
    assert report.rows_parsed == 144
    assert report.rows_curated == 96 and report.rows_quarantined == 48 and report.rows_duplicate == 0
    assert report.rows_parsed == report.rows_curated + report.rows_quarantined + report.rows_duplicate
    assert report.quarantine_by_reason == {"nwp_missing_wind_speed": 48}
    assert sorted(rows["model"].unique()) == ["ecmwf_ifs025", "gfs_global"]
    # km/h from hourly_units -> m/s; the issue is known from the hour after the fetch (05:20 -> 06:00)
    doc = json.loads(body)
    ecmwf = rows[rows["model"] == "ecmwf_ifs025"]
    np.testing.assert_allclose(ecmwf["wind_speed_10m_ms"], np.array(doc["hourly"]["wind_speed_10m_ecmwf_ifs025"]) / 3.6)
    assert (ecmwf["issued_at"] == pd.Timestamp("2025-11-24 06:00", tz="UTC")).all()
    assert ecmwf["lead_h"].tolist() == list(range(-6, 42))
    assert ecmwf["run_time"].isna().all() and ecmwf["wind_speed_100m_ms"].isna().all()
    quarantine = st.read_quarantine(store, "lagoon")
    assert len(quarantine) == 48 and set(quarantine["stage"]) == {"nwp"}
    raw = sorted((config.data_dir / "raw" / "lagoon" / "open-meteo-forecast").glob("*[0-9a-f].json"))
    assert [p.read_bytes() for p in raw] == [body]

    before = _files(config.data_dir)
    again = ingest_station_nwp(config, station, now=NOW + pd.Timedelta(hours=3))  # same bytes fetched later

    assert again.rows_inserted == 0 and again.rows_updated == 0 and again.rows_unchanged == 96
    assert again.quarantine_rows_added == 0
    assert _files(config.data_dir) == before


def _payload(unit_speed="km/h", drop_units=False) -> bytes:
    times = [f"2025-11-24T{h:02d}:00" for h in range(3)]
    doc = {
        "timezone": "GMT",
        "utc_offset_seconds": 0,
        "hourly_units": {"time": "iso8601", "wind_speed_10m": unit_speed, "wind_direction_10m": "°"},
        "hourly": {"time": times, "wind_speed_10m": [10.0, 12.0, 14.0], "wind_direction_10m": [90, 100, 110]},
    }
    if drop_units:
        del doc["hourly_units"]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_payload(drop_units=True), "no 'hourly_units' in the JSON: cannot tell the forecast's units"),
        (_payload(unit_speed="°C"), "hourly_units.wind_speed_10m is '°C', not a known speed unit"),
    ],
)
def test_payload_without_units_or_with_a_wrong_unit_is_refused(tmp_path, http_server, fast_http, body, message):
    http_server.route("/v1/forecast", Reply(200, body))
    config = _config(tmp_path, http_server.url, fast_http, models=["icon_seamless"])

    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingest_station_nwp(config, config.stations[0], now=NOW)

    assert read_nwp(st.Store(config.data_dir), "lagoon").empty


def test_past_runs_are_fetched_once_and_a_recent_one_not_archived_yet_waits(tmp_path, http_server, fast_http):
    body = _payload()
    http_server.route("/v1/forecast", *[Reply(200, body)] * 4, Reply(400, b'{"error":true,"reason":"no run"}'))
    history = {"history_runs_from": "2025-11-22", "history_runs_until": "2025-11-23"}
    history["single_runs_base_url"] = http_server.url
    config = _config(tmp_path, http_server.url, fast_http, models=["icon_seamless"], **history)

    first = ingest_station_nwp(config, config.stations[0], now=NOW)

    runs = [q.query.get("run", [None])[0] for q in http_server.hits("/v1/forecast")]
    assert runs == [None, "2025-11-22T00:00", "2025-11-22T12:00", "2025-11-23T00:00", "2025-11-23T12:00"]
    assert len(first.raw_refs) == 4  # the live forecast and three runs (kept apart although their bytes are equal)
    rows = read_nwp(st.Store(config.data_dir), "lagoon")
    past = rows[rows["run_time"].notna()]
    issued = ["2025-11-22 06:00", "2025-11-22 18:00", "2025-11-23 06:00"]  # each run known 6 h after it
    assert sorted(past["issued_at"].unique()) == [pd.Timestamp(t, tz="UTC") for t in issued]

    http_server.route("/v1/forecast", Reply(200, body))
    ingest_station_nwp(config, config.stations[0], now=NOW + pd.Timedelta(hours=1))

    again = [q.query.get("run", [None])[0] for q in http_server.hits("/v1/forecast")][5:]
    assert again == [None, "2025-11-23T12:00"]  # only the live forecast and the run refused last time


def test_the_project_clock_decides_which_runs_are_available_and_when_an_issue_is_known(
    tmp_path, http_server, fast_http, monkeypatch
):
    # observed: past runs were requested up to the real today and issues stamped with the real time, so a soak's
    # simulated hours (WINDCAST_NOW) did not reach the NWP ingest
    monkeypatch.setenv(NOW_ENV, "2025-11-23T17:20Z")
    http_server.route("/v1/forecast", Reply(200, _payload()))
    history = {"history_runs_from": "2025-11-22", "single_runs_base_url": http_server.url}
    config = _config(tmp_path, http_server.url, fast_http, models=["icon_seamless"], **history)

    ingest_station_nwp(config, config.stations[0])

    runs = [q.query.get("run", [None])[0] for q in http_server.hits("/v1/forecast")]
    # the 12:00 run is known 6 h after it, at 18:00: not yet at 17:20
    assert runs == [None, "2025-11-22T00:00", "2025-11-22T12:00", "2025-11-23T00:00"]
    rows = read_nwp(st.Store(config.data_dir), "lagoon")
    live = rows[rows["run_time"].isna()]
    assert (live["issued_at"] == pd.Timestamp("2025-11-23T18:00Z")).all()
    assert (rows["ingested_at"] == pd.Timestamp("2025-11-23T17:20Z")).all()
