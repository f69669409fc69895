"""The backtest stage on a real store and registry: outputs, the promotion gate, the leakage guard."""

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import torch

from models.checkpoint import save_fit
from models.training import fit_forecaster
from tasks import registry
from tasks import store as st
from tasks.backtesting import backtest_station
from tasks.forecasting import forecast_station
from tasks.training import forecaster_config, station_cutoffs, train_and_register
from windcast.config import PipelineConfig


def synthetic_station(hours: int, seed: int = 0) -> pd.DataFrame:
    """An AR(1) wind with a diurnal cycle and a one-day gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    anomaly = np.zeros(hours)
    for i in range(1, hours):
        anomaly[i] = 0.9 * anomaly[i - 1] + rng.normal(0, 0.8)
    speed = np.clip(7 + 2 * np.sin(2 * np.pi * t / 24) + anomaly, 0.2, None)
    times = pd.date_range("2023-01-01", periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "station_id": "syn",
            "time": times.as_unit("us"),
            "wind_speed_ms": speed,
            "wind_dir_deg": (200 + 30 * np.sin(t / 50)) % 360,
            "wind_gust_ms": speed * 1.3,
            "n_samples": 1,
            "source": "file",
            "raw_ref": "raw/syn/file/x.csv",
            "ingested_at": pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    return frame.drop(index=range(1000, 1024)).reset_index(drop=True)


@pytest.fixture
def config(tmp_path):
    cfg = PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "stations": [{"id": "syn", "source": {"kind": "file", "path": str(tmp_path / "x.csv")}}],
            "training": {"kinds": ["gru"], "lookback_steps": 48, "horizon_steps": 12, "max_epochs": 3, "n_members": 1},
        }
    )
    st.merge_measurements(st.Store(cfg.data_dir), "syn", synthetic_station(24 * 90))
    return cfg


def register_untrained_gru(config: PipelineConfig) -> registry.ModelVersion:
    """A network whose weights are freshly initialised: a deliberately worse challenger."""
    frame = st.read_measurements(st.Store(config.data_dir), "syn")
    cutoffs = {"syn": station_cutoffs(frame, config.backtest)}
    fc = forecaster_config(config.training, "gru", config.backtest)
    fit = fit_forecaster({"syn": frame}, fc.__class__(**{**vars(fc), "max_epochs": 1}), cutoffs)
    torch.manual_seed(123)
    for module in fit.forecaster.model.modules():
        if hasattr(module, "reset_parameters") and module is not fit.forecaster.model:
            module.reset_parameters()
    return registry.register(
        st.Store(config.data_dir), "syn", "gru", lambda folder: save_fit(folder / "model.pt", fit), {}
    )


def test_first_backtest_makes_the_best_baseline_champion_and_writes_outputs(config):
    result = backtest_station(config, "syn", "run-1")
    assert result.champion["kind"] == "linear"  # an AR(1) around a daily cycle: the ridge is the right model
    assert set(result.rmse_ms) == {"persistence v1", "seasonal_naive v1", "climatology v1", "blend v1", "linear v1"}
    assert result.rmse_ms["blend v1"] < result.rmse_ms["persistence v1"]

    forecasts = ds.dataset(st.Store(config.data_dir).root / "backtests", partitioning="hive").to_table().to_pandas()
    assert set(forecasts["model"]) == {"persistence", "seasonal_naive", "climatology", "blend", "linear"}
    per_model = forecasts.groupby("model").size()
    assert (per_model == result.n_origins * 12).all()  # every model on exactly the same origins and leads
    assert sorted(forecasts["horizon_h"].unique()) == list(range(1, 13))
    same = forecasts.groupby("model")["origin_time"].apply(lambda s: tuple(sorted(set(s))))
    assert same.nunique() == 1
    metrics = ds.dataset(st.Store(config.data_dir).root / "metrics", partitioning="hive").to_table().to_pandas()
    overall = metrics[(metrics["horizon_h"] == 0) & (metrics["metric"] == "rmse")]
    assert dict(zip(overall["model"], overall["value"].round(4), strict=True))["blend"] == result.rmse_ms["blend v1"]


def test_every_model_gets_a_p10_p90_band_scored_in_metrics_and_published_with_the_forecast(config):
    result = backtest_station(config, "syn", "run-1")
    store = st.Store(config.data_dir)
    forecasts = ds.dataset(store.root / "backtests", partitioning="hive").to_table().to_pandas()
    assert forecasts[["p10", "p90"]].notna().all().all()
    assert (forecasts["p10"] <= forecasts["y_pred"]).all() and (forecasts["y_pred"] <= forecasts["p90"]).all()
    metrics = ds.dataset(store.root / "metrics", partitioning="hive").to_table().to_pandas()
    cover = metrics[(metrics["metric"] == "coverage_p10_p90") & (metrics["horizon_h"] == 0)]
    assert set(cover["model"]) == set(forecasts["model"])
    by_model = dict(zip(cover["model"], cover["value"], strict=True))
    inside = ((forecasts["y_true"] >= forecasts["p10"]) & (forecasts["y_true"] <= forecasts["p90"])).groupby(
        forecasts["model"]
    )
    assert by_model == pytest.approx(inside.mean().to_dict())  # coverage is what the band really covered
    assert 0.6 < by_model["linear"] < 0.95  # calibrated on the last 30 days of residuals: near 80 %
    assert {"pinball_p10", "pinball_p90"} <= set(metrics["metric"])
    assert result.coverage["linear v1"] == pytest.approx(by_model["linear"], abs=1e-4)

    issue = forecast_station(config, "syn", pd.Timestamp("2023-04-01", tz="UTC"))
    rows = issue.rows
    assert rows["model"].iloc[0] == result.champion["kind"]
    assert rows[["p10", "p90"]].notna().all().all()
    assert (rows["p10"] <= rows["wind_speed_ms"]).all() and (rows["wind_speed_ms"] <= rows["p90"]).all()
    assert (rows["p90"] - rows["p10"]).iloc[-1] > (rows["p90"] - rows["p10"]).iloc[0]  # wider at 12 h than 1 h


def test_a_worse_challenger_leaves_the_champion_unchanged(config):
    backtest_station(config, "syn", "run-1")
    before = registry.read_champion(st.Store(config.data_dir), "syn")
    register_untrained_gru(config)
    result = backtest_station(config, "syn", "run-2")
    after = registry.read_champion(st.Store(config.data_dir), "syn")
    assert (after["kind"], after["version"], after["promoted_at"]) == (
        before["kind"], before["version"], before["promoted_at"],
    )  # fmt: skip
    assert result.rmse_ms["gru v1"] > result.rmse_ms["linear v1"]
    assert result.decision.startswith("gru v1 RMSE") and "champion stays linear v1" in result.decision


def test_a_trained_network_is_scored_and_gated(config):
    summary = train_and_register(config, ["syn"], "gru")
    assert summary.versions == {"syn": 1}
    result = backtest_station(config, "syn", "run-1")
    assert "gru v1" in result.rmse_ms
    champion = registry.read_champion(st.Store(config.data_dir), "syn")
    best = min(result.rmse_ms, key=result.rmse_ms.get)
    assert f"{champion['kind']} v{champion['version']}" == best  # the gate keeps whichever scored best


def test_a_network_that_saw_the_test_period_is_refused(config):
    train_and_register(config, ["syn"], "gru")
    more = synthetic_station(24 * 90, seed=1)
    more = more[more["time"] < more["time"].min() + pd.Timedelta(days=60)]  # the backtest now sees less data
    store = st.Store(config.data_dir)
    for path in (store.measurements_dir).rglob("*.parquet"):
        path.unlink()
    st.merge_measurements(store, "syn", more)
    with pytest.raises(ValueError, match=r"gru v1 used data up to .* after the test period's start"):
        backtest_station(config, "syn", "run-1")


def test_a_station_whose_nwp_is_not_ingested_yet_is_backtested_without_the_nwp_models(config, tmp_path):
    raw = config.model_dump()
    raw["stations"][0]["nwp"] = {"latitude": 52.0, "longitude": 5.0}
    with_nwp = PipelineConfig.model_validate(raw)

    result = backtest_station(with_nwp, "syn", "r1")

    assert not any(label.startswith(("nwp", "gru_nwp")) for label in result.rmse_ms)
    assert result.decision.endswith(
        "; NWP models left out: 0 training and 0 test origins have NWP for leads 1..12 (need >= 24 and >= 1); "
        "fetch past runs (nwp.history_runs_from)"
    )
    assert not (registry.registry_dir(st.Store(config.data_dir), "syn") / "fallback.json").exists()
