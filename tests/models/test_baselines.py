"""Baselines: hand-computed forecasts, tau recovery on AR(1) data, JSON-serialisable params."""

import json

import numpy as np
import pandas as pd
import pytest

from models.baselines import (
    BASELINES,
    LINEAR_LAG_CHOICES,
    blend_forecast,
    climatology_forecast,
    fit_blend_tau,
    fit_climatology,
    get_baseline,
    linear_features,
    linear_forecast,
    persistence_forecast,
    seasonal_naive_forecast,
)


def _times(n, start="2024-01-01 00:00"):
    return pd.date_range(start, periods=n, freq="1h", tz="UTC")


def test_persistence_repeats_last_observation():
    speed = np.arange(10.0)
    np.testing.assert_array_equal(persistence_forecast(speed, np.array([3, 5]), 3), [[3, 3, 3], [5, 5, 5]])


def test_seasonal_naive_repeats_last_cycle():
    speed = np.arange(10.0)
    # season 3, origin 5: leads 1..4 read indices 3, 4, 5 then 3 again (two seasons back)
    np.testing.assert_array_equal(seasonal_naive_forecast(speed, np.array([5]), 4, season_steps=3), [[3, 4, 5, 3]])
    pred = seasonal_naive_forecast(np.arange(60.0), np.array([30]), 26)
    assert pred[0, 0] == 7 and pred[0, 23] == 30 and pred[0, 24] == 7 and pred[0, 25] == 8


def test_climatology_by_hand():
    speed = np.arange(48.0)
    speed[30] = np.nan  # hour 6 of day 2 is missing: hour 6 averages one value
    hour_mean = fit_climatology(_times(48), speed, np.ones(48, bool))
    expected = np.arange(24) + 12.0
    expected[6] = 6.0
    np.testing.assert_allclose(hour_mean, expected)
    # only training rows count
    np.testing.assert_allclose(fit_climatology(_times(48), np.arange(48.0), np.arange(48) < 24), np.arange(24))
    # origin 47 is 23:00 UTC; targets fall at 00, 01, 02 UTC, past the end of the grid
    np.testing.assert_allclose(climatology_forecast(_times(48), np.array([47]), 3, hour_mean), [[12, 13, 14]])


def test_climatology_uses_utc_hours():
    times = pd.date_range("2024-01-01 00:00", periods=48, freq="1h", tz="Europe/Paris")  # 23:00 UTC
    hour_mean = fit_climatology(times, np.arange(48.0), np.ones(48, bool))
    assert hour_mean[23] == (0 + 24) / 2
    np.testing.assert_allclose(climatology_forecast(times, np.array([0]), 1, np.arange(24.0)), [[0.0]])


def test_climatology_without_an_hour_raises():
    with pytest.raises(ValueError, match=r"climatology: no training data at hour\(s\) \[20, 21, 22, 23\] UTC"):
        fit_climatology(_times(20), np.ones(20), np.ones(20, bool))


def test_blend_by_hand():
    pred = blend_forecast(np.array([[4.0, 4.0]]), np.array([[2.0, 2.0]]), tau_h=1.0)
    np.testing.assert_allclose(pred, [[2 + 2 * np.exp(-1), 2 + 2 * np.exp(-2)]])
    with pytest.raises(ValueError, match="tau_h must be > 0, got 0.0"):
        blend_forecast(np.ones((1, 2)), np.ones((1, 2)), 0.0)


def _ar1(tau_h, n, seed=1, mean=8.0):
    rng = np.random.default_rng(seed)
    phi, noise = np.exp(-1.0 / tau_h), rng.normal(0.0, 1.0, n)
    anomaly = np.zeros(n)
    for i in range(1, n):  # test data only; the code under test has no loop over origins
        anomaly[i] = phi * anomaly[i - 1] + noise[i]
    return mean + anomaly


def test_fit_blend_tau_recovers_ar1_decay():
    # For AR(1) around a constant mean, E[y(t+h) | y(t)] = c + (y(t) - c) * exp(-h / tau): the blend is exact.
    speed = _ar1(tau_h=12.0, n=40_000)
    origins = np.arange(0, len(speed) - 24)
    y_true = speed[origins[:, None] + np.arange(1, 25)]
    pers = persistence_forecast(speed, origins, 24)
    tau = fit_blend_tau(y_true, pers, np.full_like(pers, 8.0))
    assert tau == pytest.approx(12.0, rel=0.1)


def test_fit_blend_tau_stays_in_bounds():
    pers, clim = np.array([[5.0, 5.0]]), np.array([[3.0, 3.0]])
    assert fit_blend_tau(pers, pers, clim) == pytest.approx(200.0)  # persistence is perfect
    assert fit_blend_tau(clim, pers, clim) == pytest.approx(0.5)  # climatology is perfect
    with pytest.raises(ValueError, match=r"tau bounds \(5, 1\) must satisfy 0 < low < high"):
        fit_blend_tau(pers, pers, clim, bounds_h=(5, 1))


def test_baselines_fit_json_params_and_predict():
    times = _times(24 * 60)
    speed = _ar1(tau_h=6.0, n=len(times), seed=3) + np.sin(2 * np.pi * np.arange(len(times)) / 24)
    train, val_origins, test_origins = (
        np.arange(len(times)) < 24 * 40,
        np.arange(24 * 40, 24 * 50, 6),
        np.array([1300]),
    )
    assert list(BASELINES) == ["persistence", "seasonal_naive", "climatology", "blend", "linear"]
    for name, baseline in BASELINES.items():
        params = json.loads(json.dumps(baseline.fit(times, speed, train, val_origins, 24)))  # survives the registry
        pred = baseline.predict(times, speed, test_origins, 24, params)
        assert pred.shape == (1, 24) and np.isfinite(pred).all(), name
    blend = get_baseline("blend").fit(times, speed, train, val_origins, 24)
    assert set(blend) == {"hour_mean_ms", "tau_h"} and 0.5 <= blend["tau_h"] <= 200
    with pytest.raises(ValueError, match="blend: 0 validation origins to fit tau on"):
        get_baseline("blend").fit(times, speed, train, np.array([], dtype=int), 24)
    with pytest.raises(ValueError, match=r"unknown baseline 'arima', expected one of \['blend', "):
        get_baseline("arima")


def _ar2_with_daily_cycle(n, seed=5):
    # y_t = 6 + 1.5 sin(hour) + a_t, a_t = 1.2 a_(t-1) - 0.35 a_(t-2) + noise: a linear model is the best forecast
    rng = np.random.default_rng(seed)
    a, noise = np.zeros(n), rng.normal(0.0, 0.5, n)
    for i in range(2, n):  # test data only
        a[i] = 1.2 * a[i - 1] - 0.35 * a[i - 2] + noise[i]
    return 6.0 + 1.5 * np.sin(2 * np.pi * np.arange(n) / 24) + a


def test_linear_beats_the_blend_on_a_linear_process_and_is_exact_on_its_features():
    times = _times(24 * 400)
    speed = _ar2_with_daily_cycle(len(times))
    train, val_origins = np.arange(len(times)) < 24 * 280, np.arange(24 * 280 + 168, 24 * 320, 6)
    test_origins = np.arange(24 * 330, 24 * 399, 6)
    linear = get_baseline("linear")
    params = json.loads(json.dumps(linear.fit(times, speed, train, val_origins, 24)))
    assert params["n_lags"] in LINEAR_LAG_CHOICES and np.shape(params["coef"]) == (params["n_lags"] + 24, 24)
    y = speed[test_origins[:, None] + np.arange(1, 25)]
    pred = linear.predict(times, speed, test_origins, 24, params)
    blend = get_baseline("blend")
    pred_blend = blend.predict(times, speed, test_origins, 24, blend.fit(times, speed, train, val_origins, 24))
    rmse_lin, rmse_blend = np.sqrt(np.mean((pred - y) ** 2, 0)), np.sqrt(np.mean((pred_blend - y) ** 2, 0))
    assert (rmse_lin[:3] < 0.95 * rmse_blend[:3]).all()  # the AR(2) momentum the blend cannot see
    assert np.mean(rmse_lin) < np.mean(rmse_blend)
    # the forecast is the last value plus features @ coef, by hand for one origin
    x = linear_features(times, speed, test_origins[:1], params["n_lags"], params["level_mean"])
    np.testing.assert_allclose(pred[0], speed[test_origins[0]] + x[0] @ np.asarray(params["coef"]))


def test_linear_features_treat_missing_lags_as_no_change():
    times = _times(10)
    speed = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    x = linear_features(times, speed, np.array([2, 9]), n_lags=4, level_mean=5.0)
    # origin 2 (02:00 UTC): level 3 - 5, lags y1 (missing) and y0 = 1, then one before the grid
    np.testing.assert_allclose(x[0, :4], [-2.0, 0.0, -2.0, 0.0])
    np.testing.assert_allclose(x[1, :4], [5.0, -1.0, -2.0, -3.0])
    assert x[0, 4 + 2] == 1 and x[1, 4 + 9] == 1 and x[:, 4:].sum() == 2
    params = {"n_lags": 4, "level_mean": 5.0, "coef": np.full((28, 2), -1.0).tolist()}
    assert (linear_forecast(times, speed, np.array([2]), 2, params) >= 0).all()  # clipped at 0 m/s
    with pytest.raises(ValueError, match="linear: fitted for 2 leads, asked for 3"):
        linear_forecast(times, speed, np.array([2]), 3, params)
