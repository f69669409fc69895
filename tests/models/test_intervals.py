"""Conformal intervals: per-lead residual quantiles cover what they promise on fresh data, ordered, >= 0 m/s."""

import json

import numpy as np
import pytest

from models.intervals import (
    apply_intervals,
    fit_residual_quantiles,
    recent_residual_quantiles,
    rolling_intervals,
    with_intervals,
)
from models.metrics import interval_coverage


def test_residual_quantiles_cover_80_percent_of_fresh_errors_per_lead():
    rng = np.random.default_rng(0)
    scale = np.linspace(0.5, 2.0, 6)  # errors grow with lead, as they do for wind
    point_val, point_test = rng.uniform(4, 8, (2000, 6)), rng.uniform(4, 8, (4000, 6))
    y_val = point_val + rng.normal(0.3, 1.0, (2000, 6)) * scale  # a biased forecaster: the band follows the bias
    y_test = point_test + rng.normal(0.3, 1.0, (4000, 6)) * scale
    intervals = json.loads(json.dumps(fit_residual_quantiles(y_val, point_val)))  # storable as JSON
    bounds = apply_intervals(point_test, intervals)
    cover = interval_coverage(y_test, bounds[0.1], bounds[0.9])
    assert np.all(np.abs(cover - 0.8) < 0.03)
    width = (bounds[0.9] - bounds[0.1]).mean(axis=0)
    assert np.all(np.diff(width) > 0)  # wider at longer leads
    band = with_intervals(point_test, intervals)
    assert band.shape == (4000, 6, 3) and np.array_equal(band[..., 1], point_test)


def test_bounds_stay_ordered_around_the_point_and_non_negative():
    intervals = {"quantiles": [0.1, 0.9], "offsets_ms": [[-3.0, 0.5], [-0.2, 2.0]]}  # a lopsided band
    bounds = apply_intervals(np.array([[1.0, 5.0]]), intervals)
    np.testing.assert_allclose(bounds[0.1], [[0.0, 5.0]])  # clipped at 0 m/s; never above the point
    np.testing.assert_allclose(bounds[0.9], [[1.0, 7.0]])  # never below the point


def test_too_few_origins_or_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="5 validation origins, need >= 10"):
        fit_residual_quantiles(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"y_true \(20, 3\) and y_pred \(20, 2\) must both be \(N, H\)"):
        fit_residual_quantiles(np.ones((20, 3)), np.ones((20, 2)))
    with pytest.raises(ValueError, match="intervals fitted for 2 leads, forecast has 3"):
        apply_intervals(np.ones((1, 3)), {"quantiles": [0.1, 0.9], "offsets_ms": [[0, 0], [0, 0]]})


def test_rolling_band_follows_a_change_of_season_that_the_validation_band_misses():
    rng = np.random.default_rng(1)
    n_val, n_test, h = 300, 6000, 4
    origins = np.arange(n_val + n_test)
    scale = np.where(origins < n_val + 1500, 2.0, 0.7)[:, None]  # a windy validation season, then a calm one
    point = rng.uniform(5, 9, (len(origins), h))
    y = point + rng.normal(0, 1, point.shape) * scale
    bounds = rolling_intervals(origins, y, point, n_val)
    calm = slice(2300, None)  # test rows more than 30 days after the change
    rolling = interval_coverage(y[n_val:][calm], bounds[0.1][calm], bounds[0.9][calm], axis=None)
    fixed = apply_intervals(point[n_val:], fit_residual_quantiles(y[:n_val], point[:n_val]))
    stale = interval_coverage(y[n_val:][calm], fixed[0.1][calm], fixed[0.9][calm], axis=None)
    assert abs(rolling - 0.8) < 0.03 and stale > 0.97  # fixed quantiles of the windy season over-cover


def test_rolling_band_reads_only_residuals_observed_before_each_origin():
    n_val, h = 30, 2
    origins = np.arange(n_val + 30)
    point = np.full((len(origins), h), 5.0)
    y = point + np.tile(np.linspace(-1, 1, n_val), 2)[:, None]  # validation residuals in [-1, 1]
    y[n_val + 1 :] += 100.0  # huge errors from the second scored origin on
    bounds = rolling_intervals(origins, y, point, n_val)
    expect = np.quantile(y[:n_val, 0] - 5.0, [0.1, 0.9])
    # the first block (24 origins) is scored with what was known at its first origin: validation residuals only
    np.testing.assert_allclose(bounds[0.1][:24, 0], 5.0 + expect[0])
    np.testing.assert_allclose(bounds[0.9][:24, 0], 5.0 + expect[1])
    assert bounds[0.9][24:, 0].min() > 50  # the next block has seen the large errors
    with pytest.raises(ValueError, match="origins must be strictly increasing"):
        rolling_intervals(origins[::-1], y, point, n_val)
    with pytest.raises(ValueError, match="5 calibration origins, need >= 10"):
        rolling_intervals(origins, y, point, 5)


def test_recent_quantiles_use_the_last_window_of_observed_origins():
    origins = np.arange(2000)
    point = np.zeros((2000, 1))
    y = np.where(origins < 1000, 10.0, 1.0)[:, None] * np.tile(np.linspace(-1, 1, 100), 20)[:, None]
    y[-5:] = np.nan  # the last origins' targets are not observed yet
    got = recent_residual_quantiles(origins, y, point, window_steps=720)
    assert got["n_origins"] == 720 and got["window_steps"] == 720
    np.testing.assert_allclose(np.asarray(got["offsets_ms"])[:, 0], np.quantile(y[1275:1995, 0], [0.1, 0.9]))
    sparse = recent_residual_quantiles(np.r_[np.arange(20), 5000], np.ones((21, 1)), np.zeros((21, 1)))
    assert sparse["n_origins"] == 10  # under 10 in the window: the latest 10 observed origins
