"""Forecast intervals for any point forecaster: per-lead empirical quantiles of its validation residuals.

Split conformal, per lead time: on validation origins the model never trained on (early stopping aside), the
residuals y - yhat at lead h give offsets q_lo[h], q_hi[h]; a forecast yhat then gets the interval
[yhat + q_lo[h], yhat + q_hi[h]] (the lower end clipped at 0 m/s). It works for baselines and networks alike,
and needs only a JSON-serialisable dict to be stored with the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

INTERVAL_QUANTILES = (0.1, 0.9)  # the published band: P10 and P90
MIN_RESIDUALS = 10  # fewer validation origins than this give no interval


def fit_residual_quantiles(
    y_true: np.ndarray, y_pred: np.ndarray, quantiles: Sequence[float] = INTERVAL_QUANTILES
) -> dict:
    """{"quantiles": [...], "offsets_ms": Q lists of H per-lead residual quantiles, "n_origins": N}."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must both be (N, H)")
    if len(y_true) < MIN_RESIDUALS:
        raise ValueError(f"{len(y_true)} validation origins, need >= {MIN_RESIDUALS} to estimate an interval")
    if not all(0 < q < 1 for q in quantiles) or list(quantiles) != sorted(quantiles):
        raise ValueError(f"quantiles {list(quantiles)} must be increasing and strictly inside (0, 1)")
    resid = y_true - y_pred
    if not np.isfinite(resid).all():
        raise ValueError("residuals hold non-finite values")
    offsets = np.quantile(resid, list(quantiles), axis=0)  # (Q, H)
    return {"quantiles": [float(q) for q in quantiles], "offsets_ms": offsets.tolist(), "n_origins": len(y_true)}


def apply_intervals(point: np.ndarray, intervals: dict) -> dict[float, np.ndarray]:
    """quantile -> (N, H) bounds around the point forecast (N, H); never below 0 m/s, ordered around the point."""
    point = np.asarray(point, dtype=float)
    offsets = np.asarray(intervals["offsets_ms"], dtype=float)  # (Q, H)
    if offsets.shape[1] != point.shape[-1]:
        raise ValueError(f"intervals fitted for {offsets.shape[1]} leads, forecast has {point.shape[-1]}")
    out = {}
    for q, off in zip(intervals["quantiles"], offsets, strict=True):
        bound = point + off
        bound = np.minimum(bound, point) if q < 0.5 else np.maximum(bound, point)
        out[float(q)] = np.clip(bound, 0.0, None)
    return out


def with_intervals(point: np.ndarray, intervals: dict) -> np.ndarray:
    """(N, H, 3): P10, the point as the median, P90 (for run_backtest's quantile forecasts)."""
    bounds = apply_intervals(point, intervals)
    return np.stack([bounds[0.1], np.asarray(point, dtype=float), bounds[0.9]], axis=-1)
