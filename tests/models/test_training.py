"""The training loop and the high-level fit/predict API on a small real-ish series (a few CPU epochs)."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from models.device import pick_device
from models.networks import ForecastEnsemble, NetworkConfig
from models.training import (
    ForecasterConfig,
    NonFiniteLossError,
    fit_forecaster,
    predict,
    train_network,
)
from models.windows import Cutoffs, build_window_set

FAST = dict(lookback_steps=24, horizon_steps=6, hidden_size=8, batch_size=64, windows_per_epoch=256,
            max_val_windows=256, max_epochs=3, patience=3, learning_rate=1e-2, n_members=1)  # fmt: skip


def wind_frame(n_hours: int = 1500, seed: int = 0, gust: bool = True, start: str = "2021-03-01") -> pd.DataFrame:
    """Hourly wind with a diurnal cycle and AR(1) weather, a 30-hour gap and some missing directions."""
    rng = np.random.default_rng(seed)
    t = pd.date_range(start, periods=n_hours, freq="1h", tz="UTC")
    weather = np.zeros(n_hours)
    for i in range(1, n_hours):
        weather[i] = 0.95 * weather[i - 1] + rng.normal(0, 0.6)
    speed = np.clip(6 + 1.5 * np.sin(2 * np.pi * (t.hour.to_numpy() - 9) / 24) + weather, 0, None)
    f = pd.DataFrame({"time": t.astype("datetime64[us, UTC]"), "wind_speed_ms": speed,
                      "wind_dir_deg": rng.uniform(0, 360, n_hours),
                      "wind_gust_ms": speed * 1.4 if gust else np.nan})  # fmt: skip
    f.loc[rng.choice(n_hours, 20, replace=False), "wind_dir_deg"] = np.nan
    return f.drop(index=range(400, min(430, n_hours))).reset_index(drop=True)


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def test_fit_learns_and_reports_everything(caplog):
    seen = []
    with caplog.at_level(logging.INFO, logger="windcast.models.training"):
        fit = fit_forecaster({"a": wind_frame()}, ForecasterConfig(**FAST), callback=seen.append)
    assert [s.epoch for s in seen] == [1, 2, 3] and len(fit.history) == 3
    assert fit.history[-1].train_loss < fit.history[0].train_loss  # the loss falls
    assert any("epoch 3/3" in r.getMessage() for r in caplog.records)
    assert fit.feature_names == ["wind_speed_ms", "wind_dir_sin", "wind_dir_cos", "wind_gust_ms",
                                 "hour_clim_ms", "hour_sin", "hour_cos"]  # fmt: skip
    assert fit.best_epochs[0] in (0, 1, 2, 3)  # 0: no epoch beat the closed-form start on validation
    assert set(fit.cutoffs) == {"a"} and fit.n_windows["train"] > fit.n_windows["val"] > 0
    assert fit.metrics["test_rmse_ms"] > 0 and len(fit.metrics["test_rmse_by_lead_ms"]) == 6
    assert fit.training_window["end"] == fit.cutoffs["a"].train_end.isoformat()


def test_same_seed_same_weights_and_other_seed_differs():
    frames = {"a": wind_frame(900)}
    cfg = dict(FAST, max_epochs=2)
    w1 = weights(fit_forecaster(frames, ForecasterConfig(**cfg, seed=1)).forecaster.model)
    w2 = weights(fit_forecaster(frames, ForecasterConfig(**cfg, seed=1)).forecaster.model)
    w3 = weights(fit_forecaster(frames, ForecasterConfig(**cfg, seed=2)).forecaster.model)
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(w1, w3, strict=True))


def test_scaler_never_sees_validation_or_test_values():
    frame = wind_frame(900)
    train_end, val_end = frame["time"].iloc[600], frame["time"].iloc[700]
    frame.loc[800, "wind_speed_ms"] = 1e6  # a wild value in the test part
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**dict(FAST, max_epochs=1)), Cutoffs(train_end, val_end))
    train = frame.loc[frame["time"] < train_end, "wind_speed_ms"]
    assert fit.forecaster.scaler.mean[0] == pytest.approx(train.mean(), rel=1e-6)
    assert fit.forecaster.scaler.std[0] == pytest.approx(train.std(ddof=0), rel=1e-6)


def test_multi_station_quantile_ensemble_predicts_ordered_physical_values():
    frames = {"a": wind_frame(900, seed=1), "b": wind_frame(900, seed=2, gust=False, start="2022-01-01")}
    cfg = ForecasterConfig(**dict(FAST, max_epochs=1, quantiles=(0.1, 0.5, 0.9), n_members=2, kind="lstm"))
    fit = fit_forecaster(frames, cfg)
    assert "wind_gust_ms" not in fit.feature_names  # station b has no gust, so nobody gets the channel
    with pytest.raises(ValueError, match=r"model knows stations \['a', 'b'\]: pass station_id to predict"):
        predict(fit.forecaster, frames["b"], frames["b"]["time"].iloc[[100]])
    origins = frames["b"]["time"].iloc[[100, 500, 800]]
    out = predict(fit.forecaster, frames["b"], origins, station_id="b")
    assert out.shape == (3, 6, 3) and (out >= 0).all() and (np.diff(out, axis=-1) >= 0).all()


def test_predict_checks_the_history_of_each_origin():
    frame = wind_frame(900)
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**dict(FAST, max_epochs=1)))
    assert predict(fit.forecaster, frame, frame["time"].iloc[[50, 60]]).shape == (2, 6)
    with pytest.raises(ValueError, match="needs 24 hours of history"):
        predict(fit.forecaster, frame, frame["time"].iloc[[10]])
    gap_end = pd.Timestamp("2021-03-01", tz="UTC") + pd.Timedelta(hours=440)  # 30-h gap at hours 400..429
    with pytest.raises(ValueError, match=r"2021-03-19 08:00:00\+00:00: its 24-hour history has gaps"):
        predict(fit.forecaster, frame, [gap_end])


def test_nan_loss_stops_with_the_epoch_named():
    frame = wind_frame(900)
    torch.manual_seed(0)
    model = ForecastEnsemble(NetworkConfig(n_features=1, hidden_size=4, horizon_steps=6))
    with torch.no_grad():
        model.members[0].head.weight.fill_(float("nan"))
    values = frame[["wind_speed_ms"]].to_numpy(np.float32)
    windows = build_window_set([values], [(600, 700)], 24, 6)
    with pytest.raises(NonFiniteLossError) as err:
        train_network(model, windows, ForecasterConfig(**FAST), device=torch.device("cpu"))
    assert str(err.value) == (
        "training loss is nan at epoch 1, batch 1: check the inputs or lower learning_rate (now 0.01)"
    )


def test_too_short_series_is_refused_with_counts():
    with pytest.raises(ValueError, match=r"need gap-free windows of 168\+24 hours in training and validation"):
        fit_forecaster({"a": wind_frame(200)}, ForecasterConfig(max_epochs=1))


def test_config_and_device_checks():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ForecasterConfig(batch_size=0)
    with pytest.raises(ValueError, match="lookback_steps 12 must be >= 24 with climatology_anchor"):
        ForecasterConfig(lookback_steps=12)
    assert ForecasterConfig(lookback_steps=12, climatology_anchor=False).lookback_steps == 12
    with pytest.raises(ValueError, match="kind 'tcn' is not one of"):
        ForecasterConfig(kind="tcn")
    with pytest.raises(ValueError, match=r"skip_centres must be a non-empty subset of \('blend', 'persistence'\)"):
        ForecasterConfig(skip_centres=("median",))
    with pytest.raises(ValueError, match="device 'tpu' is not one of"):
        pick_device("tpu")
    assert pick_device("cpu") == torch.device("cpu")
