"""Metrics: hand-computed tiny examples and one-line numpy references."""

import numpy as np
import pandas as pd
import pytest

from models.metrics import (
    METRIC_COLUMNS,
    bias,
    interval_coverage,
    mae,
    metrics_table,
    pinball_loss,
    quantile_label,
    rmse,
    skill,
)

Y = np.array([[1.0, 2.0], [3.0, 4.0]])
P = np.array([[2.0, 2.0], [1.0, 6.0]])  # errors pred - true: [[1, 0], [-2, 2]]


def test_point_metrics_by_hand():
    np.testing.assert_allclose(mae(Y, P), [1.5, 1.0])
    assert mae(Y, P, axis=None) == 1.25
    np.testing.assert_allclose(rmse(Y, P), [np.sqrt(2.5), np.sqrt(2.0)])
    assert rmse(Y, P, axis=None) == 1.5
    np.testing.assert_allclose(bias(Y, P), [-0.5, 1.0])
    assert bias(Y, P, axis=None) == 0.25
    np.testing.assert_allclose(skill([1.0, 3.0], [2.0, 2.0]), [0.5, -0.5])
    assert np.isnan(skill(1.0, 0.0))  # undefined against a perfect reference, no warning


def test_pinball_and_coverage_by_hand():
    np.testing.assert_allclose(pinball_loss(np.array([[1.0, 2.0]]), np.array([[2.0, 0.0]]), 0.1), [0.9, 0.2])
    y = np.array([[1.0, 5.0], [3.0, 3.0]])
    lo, hi = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[2.0, 4.0], [4.0, 5.0]])
    np.testing.assert_allclose(interval_coverage(y, lo, hi), [1.0, 0.0])  # bounds count as inside
    assert interval_coverage(y, lo, hi, axis=None) == 0.5


@pytest.fixture
def rand():
    rng = np.random.default_rng(0)
    return rng.gamma(2.0, 3.0, (50, 6)), rng.gamma(2.0, 3.0, (50, 6)), rng.gamma(2.0, 3.0, (50, 6))


@pytest.mark.parametrize("axis", [0, None])
def test_metrics_match_numpy_references(rand, axis):
    y, p, q = rand
    np.testing.assert_allclose(mae(y, p, axis), np.abs(y - p).mean(axis))
    np.testing.assert_allclose(rmse(y, p, axis), np.sqrt(np.square(y - p).mean(axis)))
    np.testing.assert_allclose(bias(y, p, axis), (p - y).mean(axis))
    np.testing.assert_allclose(pinball_loss(y, p, 0.9, axis), np.where(y >= p, 0.9 * (y - p), 0.1 * (p - y)).mean(axis))
    lo, hi = np.minimum(p, q), np.maximum(p, q)
    np.testing.assert_allclose(interval_coverage(y, lo, hi, axis), ((lo <= y) & (y <= hi)).mean(axis))


def test_shape_mismatch_and_bad_quantile_raise():
    with pytest.raises(ValueError, match=r"y_pred has shape \(2, 3\), expected y_true's shape \(2, 2\)"):
        mae(Y, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="quantile 1.5 must lie strictly between 0 and 1"):
        pinball_loss(Y, P, 1.5)
    assert quantile_label(0.1) == "p10" and quantile_label(0.5) == "p50"
    with pytest.raises(ValueError, match="quantile 0.125 must be a whole percent"):
        quantile_label(0.125)


def _value(table, model, horizon_h, metric):
    row = table[(table.model == model) & (table.horizon_h == horizon_h) & (table.metric == metric)]
    assert len(row) == 1
    return row["value"].iloc[0]


def test_metrics_table_long_format_and_skill():
    persistence = np.array([[3.0, 2.0], [3.0, 6.0]])  # errors [[2, 0], [0, 2]]: rmse [sqrt 2, sqrt 2], overall sqrt 2
    table = metrics_table(Y, {"persistence": persistence, "model": P})
    assert list(table.columns) == METRIC_COLUMNS
    assert table["horizon_h"].dtype == np.int64 and table["value"].dtype == np.float64
    assert len(table) == 2 * 4 * 3  # models x metrics (mae, rmse, bias, skill) x (overall + 2 leads)
    assert set(table.metric) == {"mae", "rmse", "bias", "skill"}
    assert _value(table, "model", 0, "rmse") == 1.5
    assert _value(table, "model", 1, "mae") == 1.5
    assert _value(table, "persistence", 2, "skill") == 0.0
    np.testing.assert_allclose(_value(table, "model", 1, "skill"), 1 - np.sqrt(2.5) / np.sqrt(2))
    # overall skill comes from overall RMSEs, not from the mean of per-lead skills
    np.testing.assert_allclose(_value(table, "model", 0, "skill"), 1 - 1.5 / np.sqrt(2))


def test_metrics_table_quantile_forecasts():
    q = np.stack([P - 1, P, P + 1], axis=-1)  # (N, H, 3)
    table = metrics_table(Y, {"persistence": P, "qmodel": q}, quantiles=(0.1, 0.5, 0.9))
    assert _value(table, "qmodel", 0, "rmse") == 1.5  # the median is the point forecast
    assert _value(table, "qmodel", 0, "pinball_p50") == 0.5 * 1.25
    np.testing.assert_allclose(_value(table, "qmodel", 0, "coverage_p10_p90"), 0.5)  # |error| <= 1 in 2 of 4
    assert "pinball_p10" in set(table.metric) and "coverage_p10_p90" not in set(
        table[table.model == "persistence"].metric
    )


def test_metrics_table_rejects_bad_input():
    with pytest.raises(ValueError, match=r"reference model 'persistence' not among predictions \['m'\]"):
        metrics_table(Y, {"m": P})
    with pytest.raises(ValueError, match="predictions of 'm' hold non-finite values"):
        metrics_table(Y, {"m": np.where(P > 5, np.nan, P)}, persistence_name=None)
    with pytest.raises(ValueError, match=r"predictions of 'm' have shape \(2, 2, 3\)"):
        metrics_table(Y, {"m": np.zeros((2, 2, 3))}, persistence_name=None)
    table = metrics_table(Y, {"m": P}, persistence_name=None)
    assert "skill" not in set(table.metric) and isinstance(table, pd.DataFrame)
