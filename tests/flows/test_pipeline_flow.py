"""pipeline_flow end to end under a real Prefect API, on real-format payloads served over HTTP."""

import asyncio

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flows.pipeline import pipeline_flow
from tasks import store as st
from tests.flows.payloads import ndbc_realtime, open_meteo_archive
from tests.http_server import Reply, ScriptedServer
from windcast.config import PipelineConfig
from windcast.schemas import BACKTEST_SCHEMA, FORECAST_SCHEMA, MEASUREMENT_SCHEMA, METRIC_SCHEMA

HORIZON = 12


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def read(root):
    return ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()


async def artifacts():
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_artifacts()


def test_pipeline_flow_end_to_end(prefect_harness, server, tmp_path):
    server.route("/data/realtime2/44013.txt", Reply(200, ndbc_realtime("2022-04-01", hours=24 * 40)))
    server.route("/v1/archive", Reply(200, open_meteo_archive("2024-01-01", hours=24 * 40)))
    config = PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "http": {"retries": 1, "backoff_factor_s": 0.01},
            "stations": [
                {"id": "buoy", "source": {"kind": "ndbc", "station": "44013", "base_url": server.url}},
                {
                    "id": "grid",
                    "source": {
                        "kind": "open-meteo",
                        "latitude": 52.27,
                        "longitude": 6.82,
                        "start_date": "2024-01-01",
                        "end_date": "2024-02-09",
                        "base_url": server.url,
                    },
                },  # fmt: skip
            ],
            "training": {
                "kinds": ["gru", "lstm"],
                "lookback_steps": 48,
                "horizon_steps": HORIZON,
                "n_members": 1,
                "max_epochs": 2,
            },
        }
    )

    outcome = pipeline_flow(config=config)

    root = config.data_dir
    assert set(outcome["forecast"]) == {"buoy", "grid"}
    measurements = read(root / "measurements")
    assert measurements.groupby("station_id").size().to_dict() == {"buoy": 960, "grid": 960}
    files = list((root / "measurements").rglob("*.parquet"))
    assert pq.read_schema(files[0]).names == [n for n in MEASUREMENT_SCHEMA.names if n != "station_id"]

    backtests = read(root / "backtests")
    assert set(backtests.columns) >= set(BACKTEST_SCHEMA.names)
    models = {"persistence", "seasonal_naive", "climatology", "blend", "linear", "gru", "lstm"}
    for _, frame in backtests.groupby("station_id"):
        assert set(frame["model"]) == models
        counts = frame.groupby("model").size()
        assert counts.nunique() == 1 and counts.iloc[0] % HORIZON == 0  # same origins for every model
    metrics = read(root / "metrics")
    assert set(metrics.columns) >= set(METRIC_SCHEMA.names)
    overall = metrics[(metrics["horizon_h"] == 0) & (metrics["metric"] == "skill")]
    assert len(overall) == 2 * len(models)
    coverage = metrics[(metrics["horizon_h"] == 0) & (metrics["metric"] == "coverage_p10_p90")]
    assert len(coverage) == 2 * len(models) and coverage["value"].between(0, 1).all()

    forecasts = read(root / "forecasts")
    assert set(forecasts.columns) >= set(FORECAST_SCHEMA.names) - {"station_id"}
    for _, frame in forecasts.groupby("station_id"):
        assert sorted(frame["horizon_h"]) == list(range(1, HORIZON + 1))
        assert np.isfinite(frame["wind_speed_ms"]).all() and (frame["wind_speed_ms"] >= 0).all()
        assert frame[["p10", "p90"]].notna().all().all()  # every champion publishes its P10-P90 band
        assert (frame["p10"] <= frame["wind_speed_ms"]).all() and (frame["wind_speed_ms"] <= frame["p90"]).all()
        assert frame["stale"].all()  # the payloads are from 2022/2024: honest about it
    assert len(list((root / "reports").rglob("*.png"))) >= 2 * 3

    keys = {a.key for a in asyncio.run(artifacts()) if a.key}
    for sid in ("buoy", "grid"):
        for kind in ("validation", "skill", "backtest-report", "forecast", "report", "forecast-file"):
            assert f"windcast-{kind}-{sid}" in keys, f"missing artifact windcast-{kind}-{sid}"
    assert {"windcast-training", "windcast-training-report"} <= keys
    report = next(a for a in asyncio.run(artifacts()) if a.key == "windcast-report-buoy")
    assert "data:image/png;base64," in report.data
    assert st.read_watermark(st.Store(root), "buoy") is not None
