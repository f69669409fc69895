"""Conformal intervals: per-lead residual quantiles cover what they promise on fresh data, ordered, >= 0 m/s."""

import json

import numpy as np
import pytest

from models.intervals import apply_intervals, fit_residual_quantiles, with_intervals
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
