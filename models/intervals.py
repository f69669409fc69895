"""Forecast intervals for any point forecaster: per-lead empirical quantiles of its recent residuals.

Conformal, per lead time: residuals y - yhat at lead h give offsets q_lo[h], q_hi[h]; a forecast yhat then gets
the interval [yhat + q_lo[h], yhat + q_hi[h]] (the lower end clipped at 0 m/s). It works for baselines and
networks alike, and needs only a JSON-serialisable dict to be stored with the model.

Which residuals: the last RECENT_WINDOW_STEPS origins whose targets were already observed (rolling conformal).
The validation period alone is one season, and a short one on a new station: on the dev stations its fixed
quantiles covered 70-90 % of test hours; quantiles of the most recent 30 days cover 78-81 % (docs/models.md).
`rolling_intervals` scores a backtest that way; `fit_residual_quantiles` on the last window gives the offsets
stored for live forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

INTERVAL_QUANTILES = (0.1, 0.9)  # the published band: P10 and P90
MIN_RESIDUALS = 10  # fewer validation origins than this give no interval
RECENT_WINDOW_STEPS = 720  # origins (hours) of residuals behind each band: 30 days follow the season
REFRESH_STEPS = 24  # the rolling band's quantiles are recomputed once per this many steps of origin time


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
    return {float(q): _bound(point, q, off) for q, off in zip(intervals["quantiles"], offsets, strict=True)}


def _bound(point: np.ndarray, q: float, offset: np.ndarray) -> np.ndarray:
    """point + offset, on the quantile's side of the point (the band never crosses it), never below 0 m/s."""
    bound = point + offset
    bound = np.minimum(bound, point) if q < 0.5 else np.maximum(bound, point)
    return np.clip(bound, 0.0, None)


def with_intervals(point: np.ndarray, intervals: dict) -> np.ndarray:
    """(N, H, 3): P10, the point as the median, P90 (for run_backtest's quantile forecasts)."""
    bounds = apply_intervals(point, intervals)
    return np.stack([bounds[0.1], np.asarray(point, dtype=float), bounds[0.9]], axis=-1)


def rolling_intervals(
    origins: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_calibration: int,
    quantiles: Sequence[float] = INTERVAL_QUANTILES,
    window_steps: int = RECENT_WINDOW_STEPS,
) -> dict[float, np.ndarray]:
    """quantile -> (N - n_calibration, H) bounds for the rows after the first n_calibration.

    Each row's band comes from residuals already observed at its origin (row origin o + lead <= its block's first
    origin; blocks of REFRESH_STEPS) of the rows within window_steps before it, or of all earlier rows where the
    window holds under MIN_RESIDUALS. The first n_calibration rows (validation origins) only feed the pool.

    Args:
        origins: (N,) increasing origin indices on the hourly grid; y_true may hold NaN (unobserved targets).
    """
    origins = np.asarray(origins, dtype=np.int64)
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or len(origins) != len(y_true):
        raise ValueError(f"origins {origins.shape}, y_true {y_true.shape} and y_pred {y_pred.shape} must be N, (N, H)")
    if np.any(np.diff(origins) <= 0):
        raise ValueError("origins must be strictly increasing (calibration origins before the scored ones)")
    if n_calibration < MIN_RESIDUALS:
        raise ValueError(f"{n_calibration} calibration origins, need >= {MIN_RESIDUALS} to estimate an interval")
    resid, leads = y_true - y_pred, np.arange(1, y_true.shape[1] + 1)
    scored = np.arange(n_calibration, len(origins))
    offsets = np.empty((len(quantiles), len(scored), len(leads)))
    block_of = (origins[scored] - origins[n_calibration]) // REFRESH_STEPS if len(scored) else scored
    for block in np.unique(block_of):
        rows = np.flatnonzero(block_of == block)
        now = origins[scored[rows[0]]]
        for j, lead in enumerate(leads):
            known = (origins + lead <= now) & np.isfinite(resid[:, j])
            recent = known & (origins >= now - window_steps)
            pool = resid[recent if recent.sum() >= MIN_RESIDUALS else known, j]
            offsets[:, rows, j] = np.quantile(pool, list(quantiles))[:, None]
    point = y_pred[scored]
    return {float(q): _bound(point, q, off) for q, off in zip(quantiles, offsets, strict=True)}


def recent_residual_quantiles(
    origins: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    quantiles: Sequence[float] = INTERVAL_QUANTILES,
    window_steps: int = RECENT_WINDOW_STEPS,
) -> dict:
    """fit_residual_quantiles on the fully observed rows of the last window_steps of origins (for live forecasts)."""
    origins = np.asarray(origins, dtype=np.int64)
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    observed = np.isfinite(y_true).all(axis=1) & np.isfinite(y_pred).all(axis=1)
    if not observed.any():
        raise ValueError("no origin with every target observed: cannot estimate an interval")
    keep = observed & (origins > origins[observed].max() - window_steps)
    if keep.sum() < MIN_RESIDUALS:  # a sparse window: the latest MIN_RESIDUALS observed origins instead
        keep = observed & (np.cumsum(observed[::-1])[::-1] <= MIN_RESIDUALS)
    return {**fit_residual_quantiles(y_true[keep], y_pred[keep], quantiles), "window_steps": int(window_steps)}
