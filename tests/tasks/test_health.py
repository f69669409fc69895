"""Model health: realised error of recent fresh forecasts against the backtest's promise."""

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks import store as st
from tasks.forecasting import write_forecast
from tasks.health import check_health
from windcast.config import PipelineConfig
from windcast.schemas import METRIC_SCHEMA

NOW = pd.Timestamp("2024-03-10T00:00Z")


def setup_store(tmp_path, forecast_error_ms: float) -> PipelineConfig:
    config = PipelineConfig.model_validate({"data_dir": str(tmp_path / "store")})
    store = st.Store(config.data_dir)
    times = pd.date_range(NOW - pd.Timedelta(days=10), NOW, freq="h", tz="UTC")
    speed = 6 + np.sin(np.arange(len(times)) / 5)
    st.merge_measurements(store, "s1", pd.DataFrame({
        "station_id": "s1", "time": times.as_unit("us"), "wind_speed_ms": speed, "wind_dir_deg": 180.0,
        "wind_gust_ms": np.nan, "n_samples": 1, "source": "file", "raw_ref": "raw/x", "ingested_at": NOW,
    }))  # fmt: skip
    truth = pd.Series(speed, index=times)
    for issued in pd.date_range(NOW - pd.Timedelta(days=5), NOW - pd.Timedelta(hours=12), freq="12h"):
        targets = issued + pd.to_timedelta(np.arange(1, 13), unit="h")
        write_forecast(store, "s1", pd.DataFrame({
            "station_id": "s1", "issued_at": issued, "origin_time": issued, "target_time": targets,
            "horizon_h": np.arange(1, 13, dtype="int32"),
            "wind_speed_ms": truth.reindex(targets).to_numpy() + forecast_error_ms,
            "p10": np.nan, "p90": np.nan, "model": "gru", "model_version": 2, "stale": False, "stale_reason": None,
        }))  # fmt: skip
    metrics = pd.DataFrame({
        "run_id": "r1", "run_at": NOW, "model": "gru", "model_version": 2, "horizon_h": 0, "metric": "rmse",
        "value": 1.0, "n_origins": 100, "station_id": "s1",
    }, index=[0])  # fmt: skip
    table = pa.Table.from_pandas(metrics[METRIC_SCHEMA.names], schema=METRIC_SCHEMA, preserve_index=False)
    st.atomic_write_table(
        tmp_path / "store/metrics/station_id=s1/run_id=r1/part-0.parquet",
        table.drop_columns(["station_id", "run_id"]),
    )
    return config


def test_a_champion_far_worse_than_its_backtest_is_flagged(tmp_path):
    config = setup_store(tmp_path, forecast_error_ms=3.0)
    health = check_health(config, "s1", "gru", 2, NOW)
    assert health.degraded and health.n_pairs == 10 * 12
    assert abs(health.realised_rmse_ms - 3.0) < 1e-9
    assert health.message.startswith("gru v2 DEGRADED: realised RMSE 3.00 m/s over 120 forecast hours")


def test_a_champion_as_good_as_its_backtest_is_healthy(tmp_path):
    config = setup_store(tmp_path, forecast_error_ms=1.0)
    health = check_health(config, "s1", "gru", 2, NOW)
    assert not health.degraded and abs(health.realised_rmse_ms - 1.0) < 1e-9


def test_too_little_evidence_is_not_a_verdict(tmp_path):
    config = setup_store(tmp_path, forecast_error_ms=3.0)
    health = check_health(config, "s1", "gru", 1, NOW)  # a version with no forecasts or backtest
    assert not health.degraded and "not enough evidence" in health.message


def test_the_health_check_reads_only_the_days_its_window_can_reach(tmp_path):
    from tasks.forecasting import read_forecasts, read_recent_forecasts

    config = setup_store(tmp_path, forecast_error_ms=3.0)
    store = st.Store(config.data_dir)
    since = NOW - pd.Timedelta(days=2, hours=3)
    every = read_forecasts(store, "s1")
    expected = every[every["issued_at"] >= since.floor("D")].sort_values(["issued_at", "horizon_h"])
    got = read_recent_forecasts(store, "s1", since).sort_values(["issued_at", "horizon_h"])
    assert 0 < len(got) < len(every)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    # an unreadable file of a day the 2-day window cannot reach is never opened
    (tmp_path / "store/forecasts/station_id=s1/issued_date=2024-03-06/issue-bad.parquet").write_bytes(b"not parquet")
    short = config.model_copy(update={"forecast": config.forecast.model_copy(update={"health_window_days": 2.0})})
    health = check_health(short, "s1", "gru", 2, NOW)
    assert health.n_pairs == 2 * 24 and health.degraded
    assert read_recent_forecasts(store, "nowhere", NOW).empty
