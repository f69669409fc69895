"""The whole NWP path under a real Prefect API, from real-format payloads on loopback:
ingest (measurements + past runs + the latest forecast) -> nwp/ -> train (with and without NWP) -> backtest
(nwp, nwp_mos and the NWP-fed network on the same origins as every other model) -> forecast, and the fall-back
to the measurement-only model when the NWP is stale."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from flows.pipeline import pipeline_flow
from tasks import registry
from tasks import store as st
from tasks.forecasting import forecast_station
from tasks.nwp_store import read_nwp
from tests.flows.payloads import open_meteo_archive, open_meteo_forecast
from tests.http_server import Reply, ScriptedServer
from windcast.config import PipelineConfig

HORIZON, DAYS, START = 12, 40, "2024-01-01"
MODELS = ["ecmwf_ifs025", "gfs_global"]


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def _truth(body: bytes) -> pd.Series:
    hourly = json.loads(body)["hourly"]
    return pd.Series(hourly["wind_speed_10m"], index=pd.DatetimeIndex(hourly["time"]).tz_localize("UTC"))


def _config(tmp_path, url: str, **nwp) -> PipelineConfig:
    station = {
        "id": "coast",
        "source": {
            "kind": "open-meteo", "latitude": 52.27, "longitude": 6.82, "start_date": START,
            "end_date": "2024-02-09", "base_url": url,
        },
        "nwp": {
            "latitude": 52.27, "longitude": 6.82, "models": MODELS, "forecast_days": 2,
            "history_runs_from": "2023-12-31", "history_runs_until": "2024-02-09", "base_url": url,
            "single_runs_base_url": url, **nwp,
        },
    }  # fmt: skip
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "http": {"retries": 1, "backoff_factor_s": 0.01},
            "stations": [station],
            "training": {
                "kinds": ["gru"],
                "lookback_steps": 48,
                "horizon_steps": HORIZON,
                "n_members": 1,
                "max_epochs": 2,
            },
        }  # fmt: skip
    )


def test_nwp_path_end_to_end(prefect_harness, server, tmp_path):
    measured = open_meteo_archive(START, hours=24 * DAYS)
    truth = _truth(measured)
    runs = pd.date_range("2023-12-31", "2024-02-09 12:00", freq="12h", tz="UTC")
    replies = [Reply(200, open_meteo_forecast("2024-02-10", 48, truth, MODELS))]  # the latest forecast, then runs
    replies += [Reply(200, open_meteo_forecast(f"{r:%Y-%m-%d}", 48, truth, MODELS, seed=i)) for i, r in enumerate(runs)]
    server.route("/v1/archive", Reply(200, measured))
    server.route("/v1/forecast", *replies)
    config = _config(tmp_path, server.url)

    outcome = pipeline_flow(config=config)

    store = st.Store(config.data_dir)
    sent = server.hits("/v1/forecast")
    assert [q.query.get("run", [None])[0] for q in sent] == [None] + [f"{r:%Y-%m-%dT%H:%M}" for r in runs]
    nwp = read_nwp(store, "coast")
    assert outcome["ingest"]["coast/nwp"]["rows_curated"] == len(nwp) == (len(runs) + 1) * 48 * len(MODELS)
    past = nwp[nwp["run_time"].notna()]
    assert ((past["issued_at"] - past["run_time"]) == pd.Timedelta(hours=6)).all()  # known 6 h after the run

    backtests = ds.dataset(config.data_dir / "backtests", format="parquet", partitioning="hive").to_table().to_pandas()
    kinds = {"persistence", "seasonal_naive", "climatology", "blend", "linear", "nwp", "nwp_mos", "gru", "gru_nwp"}
    assert set(backtests["model"]) == kinds
    origins = backtests.groupby("model")["origin_time"].apply(lambda s: tuple(sorted(set(s))))
    assert origins.nunique() == 1 and len(origins.iloc[0]) > 10  # every model on the same origins
    rmse = outcome["backtest"]["coast"]["rmse_ms"]
    assert rmse["nwp_mos v1"] < rmse["persistence v1"]  # the NWP here is truth + noise: aligned right, it helps

    forecast = outcome["forecast"]["coast"]
    rows = pd.read_parquet(config.data_dir / forecast["path"])
    champion = registry.read_champion(store, "coast")
    if champion["kind"] in ("nwp", "nwp_mos", "gru_nwp"):  # the latest issue at or before the origin was read
        assert rows["nwp_issued_at"].iloc[0] == pd.Timestamp("2024-02-09 18:00", tz="UTC")
    assert rows["nwp_note"].isna().all() and forecast["nwp_note"] is None

    # an NWP champion whose latest issue is too old at the origin: the measurement-only fallback forecasts
    registry.set_champion(store, registry.list_versions(store, "coast", "nwp_mos")[-1], "test", None)
    stale = _config(tmp_path, server.url, max_issue_age_hours=1)
    result = forecast_station(stale, "coast", pd.Timestamp("2024-02-10 01:00", tz="UTC"))

    fallback = json.loads((registry.registry_dir(store, "coast") / "fallback.json").read_text())
    assert fallback["kind"] in {"persistence", "seasonal_naive", "climatology", "blend", "linear", "gru"}
    assert (result.rows["model"] == fallback["kind"]).all() and result.rows["nwp_issued_at"].isna().all()
    assert result.nwp_note.startswith("NWP unusable (the latest NWP issue 2024-02-09 18:00:00+00:00 is 5 h old")
    assert (result.rows["nwp_note"] == result.nwp_note).all()
    assert np.isfinite(result.rows["wind_speed_ms"]).all()
