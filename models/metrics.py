"""Forecast error metrics on arrays of shape (N, H): N origins, H lead times.

Each metric is a small pure function: `axis=0` gives one value per lead time (H,), `axis=None` one overall
value.
`metrics_table` turns them into the long table written to the `metrics/` dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

# Columns of the long metrics table; horizon_h 0 marks the overall row of a model and metric.
METRIC_COLUMNS = ["model", "horizon_h", "metric", "value"]
OVERALL_HORIZON_H = 0


def _check_same_shape(y_true: np.ndarray, y_pred: np.ndarray, what: str = "y_pred") -> None:
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(f"{what} has shape {np.shape(y_pred)}, expected y_true's shape {np.shape(y_true)}")


def mae(y_true: np.ndarray, y_pred: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Mean absolute error, per lead time (axis=0) or overall (axis=None)."""
    _check_same_shape(y_true, y_pred)
    return np.mean(np.abs(y_pred - y_true), axis=axis)


def rmse(y_true: np.ndarray, y_pred: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Root mean squared error, per lead time (axis=0) or overall (axis=None)."""
    _check_same_shape(y_true, y_pred)
    return np.sqrt(np.mean((y_pred - y_true) ** 2, axis=axis))


def bias(y_true: np.ndarray, y_pred: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Mean error pred - true (positive: over-forecast), per lead time or overall."""
    _check_same_shape(y_true, y_pred)
    return np.mean(y_pred - y_true, axis=axis)


def skill(rmse_model: np.ndarray, rmse_reference: np.ndarray) -> np.ndarray:
    """Skill score 1 - RMSE_model / RMSE_reference (1 perfect, 0 as good as the reference, < 0 worse).

    NaN where the reference RMSE is 0 (skill is undefined against a perfect reference).
    """
    model, ref = np.asarray(rmse_model, dtype=float), np.asarray(rmse_reference, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ref > 0, 1.0 - model / ref, np.nan)


def pinball_loss(y_true: np.ndarray, y_quantile: np.ndarray, quantile: float, axis: int | None = 0) -> np.ndarray:
    """Mean pinball (quantile) loss of a forecast of the given quantile, per lead time or overall."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile {quantile!r} must lie strictly between 0 and 1")
    _check_same_shape(y_true, y_quantile, "y_quantile")
    diff = y_true - y_quantile
    return np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff), axis=axis)


def interval_coverage(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Fraction of observations inside [lower, upper], per lead time or overall."""
    _check_same_shape(y_true, lower, "lower")
    _check_same_shape(y_true, upper, "upper")
    return np.mean((y_true >= lower) & (y_true <= upper), axis=axis)


def quantile_label(quantile: float) -> str:
    """Column label of a quantile: 0.1 -> 'p10', 0.5 -> 'p50'."""
    pct = quantile * 100
    if not 0 < quantile < 1 or abs(pct - round(pct)) > 1e-9:
        raise ValueError(f"quantile {quantile!r} must be a whole percent strictly between 0 and 1")
    return f"p{round(pct):02d}"


def _rows(model: str, metric: str, per_lead: np.ndarray, overall: float) -> pd.DataFrame:
    horizons = np.arange(0, len(per_lead) + 1, dtype="int64")
    values = np.concatenate([[overall], per_lead]).astype("float64")
    return pd.DataFrame({"model": model, "horizon_h": horizons, "metric": metric, "value": values})


def _point_and_quantiles(
    name: str, pred: np.ndarray, y_true: np.ndarray, quantiles: Sequence[float] | None
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    pred = np.asarray(pred, dtype=float)
    if pred.ndim == 2:
        _check_same_shape(y_true, pred, f"predictions of {name!r}")
        return pred, {}
    if pred.ndim != 3 or quantiles is None or pred.shape[2] != len(quantiles) or 0.5 not in quantiles:
        raise ValueError(
            f"predictions of {name!r} have shape {pred.shape}: expected (N, H) or (N, H, Q) with "
            f"quantiles given, Q == len(quantiles) and 0.5 among them (quantiles={quantiles})"
        )
    _check_same_shape(y_true, pred[..., 0], f"predictions of {name!r}")
    by_q = {float(q): pred[..., i] for i, q in enumerate(quantiles)}
    return by_q[0.5], by_q


def metrics_table(
    y_true: np.ndarray,
    preds: Mapping[str, np.ndarray],
    persistence_name: str | None = "persistence",
    quantiles: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Long table of metrics, one row per (model, horizon_h, metric); horizon_h 0 is the overall value.

    Args:
        y_true: observations (N, H), lead h + 1 in column h.
        preds: model name -> point forecasts (N, H), or quantile forecasts (N, H, Q) whose median is used
            as the point forecast.
        persistence_name: the reference model for `skill` (None: no skill rows); must be a key of preds.
        quantiles: the Q levels of quantile forecasts, e.g. (0.1, 0.5, 0.9).

    Metrics: mae, rmse, bias, skill (overall skill from overall RMSEs), and for quantile forecasts
    pinball_pXX per level plus coverage_p10_p90 when 0.1 and 0.9 are among the levels.
    """
    y_true = np.asarray(y_true, dtype=float)
    if y_true.ndim != 2 or y_true.shape[0] == 0:
        raise ValueError(f"y_true has shape {y_true.shape}, expected (N, H) with N >= 1")
    if not np.isfinite(y_true).all():
        raise ValueError(f"y_true holds {int((~np.isfinite(y_true)).sum())} non-finite values")
    if persistence_name is not None and persistence_name not in preds:
        raise ValueError(f"reference model {persistence_name!r} not among predictions {sorted(preds)}")
    points = {}
    frames = []
    for name, pred in preds.items():
        point, by_q = _point_and_quantiles(name, pred, y_true, quantiles)
        if not np.isfinite(point).all() or not all(np.isfinite(v).all() for v in by_q.values()):
            raise ValueError(f"predictions of {name!r} hold non-finite values")
        points[name] = point
        for metric, fn in (("mae", mae), ("rmse", rmse), ("bias", bias)):
            frames.append(_rows(name, metric, fn(y_true, point), float(fn(y_true, point, axis=None))))
        for q, yq in by_q.items():
            loss = pinball_loss(y_true, yq, q)
            frames.append(_rows(name, f"pinball_{quantile_label(q)}", loss, float(np.mean(loss))))
        if 0.1 in by_q and 0.9 in by_q:
            cover = interval_coverage(y_true, by_q[0.1], by_q[0.9])
            frames.append(_rows(name, "coverage_p10_p90", cover, float(np.mean(cover))))
    if persistence_name is not None:
        ref = points[persistence_name]
        ref_lead, ref_all = rmse(y_true, ref), rmse(y_true, ref, axis=None)
        for name, point in points.items():
            per_lead = skill(rmse(y_true, point), ref_lead)
            overall = float(skill(rmse(y_true, point, axis=None), ref_all))
            frames.append(_rows(name, "skill", per_lead, overall))
    table = pd.concat(frames, ignore_index=True)
    table["model"] = table["model"].astype("string")
    table["metric"] = table["metric"].astype("string")
    return table[METRIC_COLUMNS]
