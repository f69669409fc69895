"""Reference forecasts on a regular hourly grid: persistence, seasonal naive, climatology, blend, linear.

Every forecast is vectorised over origins: an origin t is the index of the last observed hour, forecasts
target t + 1 .. t + H, and the result has shape (N, H) with lead h + 1 in column h. Persistence and seasonal
naive read only the history window [t - lookback_steps + 1, t], so they are defined at every origin that
`select_origins` accepts (seasonal naive needs lookback_steps >= season_steps, 24 on the hourly grid).
Climatology reads only the origin's time, so it (and the blend) also forecasts past the end of the grid.
`linear` is a direct multi-horizon ridge regression (closed form) of the change from the last value on the
recent lags and the origin's hour of day; it reads at most LINEAR_LAG_CHOICES[-1] hours of history (a lag
that is missing counts as no change from the last value).
Fitted parameters are plain JSON-serialisable dicts, so a baseline can be stored in the registry and promoted
like a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

HOURS_PER_DAY = 24
_NS_PER_HOUR = 3_600_000_000_000
TAU_BOUNDS_H = (0.5, 200.0)


def _leads(horizon_steps: int) -> np.ndarray:
    if horizon_steps < 1:
        raise ValueError(f"horizon_steps must be >= 1, got {horizon_steps}")
    return np.arange(1, horizon_steps + 1)


def persistence_forecast(speed: np.ndarray, origins: np.ndarray, horizon_steps: int) -> np.ndarray:
    """Last observed value y[t] repeated for every lead: (N, H)."""
    leads = _leads(horizon_steps)
    return np.repeat(speed[origins][:, None], len(leads), axis=1)


def seasonal_naive_forecast(
    speed: np.ndarray, origins: np.ndarray, horizon_steps: int, season_steps: int = HOURS_PER_DAY
) -> np.ndarray:
    """Value one season before the target, the last observed cycle repeated: y[t + h - s * ceil(h / s)]."""
    leads = _leads(horizon_steps)
    lag = season_steps * -(-leads // season_steps)  # ceil(h / s) whole seasons back, so the index is <= t
    return speed[origins[:, None] + leads[None, :] - lag[None, :]]


def _time_ns(times: pd.DatetimeIndex) -> np.ndarray:
    return times.tz_convert("UTC").as_unit("ns").asi8


def _hour_of_day(ns: np.ndarray) -> np.ndarray:
    return (ns // _NS_PER_HOUR) % HOURS_PER_DAY


def fit_climatology(times: pd.DatetimeIndex, speed: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """Mean speed by hour of day (UTC) over the observed training rows: (24,)."""
    use = np.asarray(train_mask, dtype=bool) & np.isfinite(speed)
    hours = _hour_of_day(_time_ns(times))[use]
    counts = np.bincount(hours, minlength=HOURS_PER_DAY)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise ValueError(f"climatology: no training data at hour(s) {missing.tolist()} UTC")
    return np.bincount(hours, weights=speed[use], minlength=HOURS_PER_DAY) / counts


def climatology_forecast(
    times: pd.DatetimeIndex, origins: np.ndarray, horizon_steps: int, hour_mean_ms: np.ndarray
) -> np.ndarray:
    """Training mean of the target's hour of day (UTC): (N, H); needs only the origin times."""
    leads = _leads(horizon_steps)
    ns = _time_ns(times)
    step_ns = ns[1] - ns[0] if len(ns) > 1 else _NS_PER_HOUR
    target_ns = ns[origins][:, None] + leads[None, :] * step_ns
    return np.asarray(hour_mean_ms, dtype=float)[_hour_of_day(target_ns)]


def blend_forecast(persistence: np.ndarray, climatology: np.ndarray, tau_h: float) -> np.ndarray:
    """Persistence decaying to climatology, c + (p - c) * exp(-h / tau), lead h in hours: (N, H)."""
    if not tau_h > 0:
        raise ValueError(f"tau_h must be > 0, got {tau_h!r}")
    weight = np.exp(-_leads(persistence.shape[1]) / tau_h)
    return climatology + (persistence - climatology) * weight[None, :]


def fit_blend_tau(
    y_true: np.ndarray,
    persistence: np.ndarray,
    climatology: np.ndarray,
    bounds_h: tuple[float, float] = TAU_BOUNDS_H,
) -> float:
    """Tau (hours) within bounds that minimises the blend's RMSE over all origins and leads.

    The squared error is quadratic in the weight w_h = exp(-h / tau), so per-lead sums make each candidate
    O(H): a log-spaced grid over the bounds, then a finer grid around the best point.
    """
    lo, hi = bounds_h
    if not 0 < lo < hi:
        raise ValueError(f"tau bounds {bounds_h!r} must satisfy 0 < low < high")
    if y_true.shape[0] == 0:
        raise ValueError("cannot fit tau on 0 validation origins")
    resid, diff = y_true - climatology, persistence - climatology
    s_rd, s_dd = np.sum(resid * diff, axis=0), np.sum(diff * diff, axis=0)  # (H,)
    leads = _leads(y_true.shape[1])

    def sse(taus: np.ndarray) -> np.ndarray:  # up to a constant
        w = np.exp(-leads[None, :] / taus[:, None])  # (K, H)
        return np.sum(w * w * s_dd - 2 * w * s_rd, axis=1)

    taus = np.geomspace(lo, hi, 2001)
    k = int(np.argmin(sse(taus)))
    fine = np.geomspace(taus[max(k - 1, 0)], taus[min(k + 1, len(taus) - 1)], 2001)
    return float(fine[np.argmin(sse(fine))])


@dataclass(frozen=True)
class Baseline:
    """A baseline model kind: fit(times, speed, train_mask, val_origins, horizon_steps) -> params dict,
    predict(times, speed, origins, horizon_steps, params) -> (N, H)."""

    name: str
    fit: Callable[..., dict[str, Any]]
    predict: Callable[..., np.ndarray]


def _targets(speed: np.ndarray, origins: np.ndarray, horizon_steps: int) -> np.ndarray:
    return speed[origins[:, None] + _leads(horizon_steps)[None, :]]


def _fit_nothing(times, speed, train_mask, val_origins, horizon_steps) -> dict[str, Any]:
    return {}


def _fit_seasonal(times, speed, train_mask, val_origins, horizon_steps) -> dict[str, Any]:
    return {"season_steps": HOURS_PER_DAY}


def _fit_climatology(times, speed, train_mask, val_origins, horizon_steps) -> dict[str, Any]:
    return {"hour_mean_ms": fit_climatology(times, speed, train_mask).tolist()}


def _fit_blend(times, speed, train_mask, val_origins, horizon_steps) -> dict[str, Any]:
    if len(val_origins) == 0:
        raise ValueError(
            "blend: 0 validation origins to fit tau on; the validation period holds no complete "
            "history + horizon window (split by observed hours: models.windows.make_cutoffs)"
        )
    params = _fit_climatology(times, speed, train_mask, val_origins, horizon_steps)
    clim = climatology_forecast(times, val_origins, horizon_steps, np.asarray(params["hour_mean_ms"]))
    pers = persistence_forecast(speed, val_origins, horizon_steps)
    params["tau_h"] = fit_blend_tau(_targets(speed, val_origins, horizon_steps), pers, clim)
    return params


def _predict_blend(times, speed, origins, horizon_steps, params) -> np.ndarray:
    clim = climatology_forecast(times, origins, horizon_steps, np.asarray(params["hour_mean_ms"]))
    return blend_forecast(persistence_forecast(speed, origins, horizon_steps), clim, params["tau_h"])


# --- linear: direct multi-horizon ridge regression -------------------------------------------------------------
LINEAR_LAG_CHOICES = (24, 72, 168)  # hours of history the ridge may read; chosen on validation
LINEAR_ALPHAS = tuple(float(a) for a in np.geomspace(1e-4, 30.0, 12))  # x the mean lag variance per origin
MAX_LINEAR_ORIGINS = 60_000  # training origins used (evenly spaced) to keep the fit O(seconds) on long series


def linear_features(
    times: pd.DatetimeIndex, speed: np.ndarray, origins: np.ndarray, n_lags: int, level_mean: float
) -> np.ndarray:
    """(N, n_lags + 24): [y_t - level_mean, y_(t-k) - y_t for k = 1..n_lags-1, one-hot UTC hour of the origin].

    A lag before the grid or missing reads as y_t (no change), so any origin with an observed y_t is defined.
    """
    origins = np.asarray(origins, dtype=np.int64)
    last = speed[origins]
    idx = origins[:, None] - np.arange(1, n_lags)[None, :]
    lags = speed[np.clip(idx, 0, None)] - last[:, None]
    lags[(idx < 0) | ~np.isfinite(lags)] = 0.0
    hours = np.zeros((len(origins), HOURS_PER_DAY))
    hours[np.arange(len(origins)), _hour_of_day(_time_ns(times)[origins])] = 1.0
    return np.concatenate([(last - level_mean)[:, None], lags, hours], axis=1)


def _complete_origins(speed: np.ndarray, allowed: np.ndarray, horizon_steps: int) -> np.ndarray:
    """Origins t with y_t and every target y_(t+1..t+H) observed and inside `allowed` (a row mask)."""
    ok = np.isfinite(speed) & np.asarray(allowed, dtype=bool)
    bad = np.concatenate([[0], np.cumsum(~ok)])  # bad[i] = rows < i not usable
    cand = np.arange(0, len(speed) - horizon_steps)
    return cand[bad[cand + horizon_steps + 1] - bad[cand] == 0]


def evenly_spaced(values: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` evenly spaced entries of values (all of them when limit is 0 or they are fewer)."""
    if limit == 0 or len(values) <= limit:
        return values
    return values[np.linspace(0, len(values) - 1, limit).round().astype(int)]


def linear_ridge(gram: np.ndarray, cross: np.ndarray, n_lags: int, alpha: float) -> np.ndarray:
    """Ridge solution: level and lags penalised by alpha x their mean variance, the hour columns (the intercept) not."""
    scale = np.trace(gram[:n_lags, :n_lags]) / n_lags
    penalty = np.full(gram.shape[0], 1e-9 * scale)
    penalty[:n_lags] = alpha * scale
    return np.linalg.solve(gram + np.diag(penalty), cross)


def fit_linear(
    times: pd.DatetimeIndex, speed: np.ndarray, train_mask: np.ndarray, val_origins: np.ndarray, horizon_steps: int
) -> dict[str, Any]:
    """Ridge coefficients (n_lags + 24, H) of y_(t+h) - y_t; lags and penalty chosen on the validation origins.

    Fitted on every complete training origin, the choice scored on val_origins, then refitted on training and
    validation origins together (targets never reach past the last validation origin's horizon).
    """
    _leads(horizon_steps)
    if len(val_origins) == 0:
        raise ValueError("linear: 0 validation origins to choose the penalty on (see models.windows.make_cutoffs)")
    train = evenly_spaced(_complete_origins(speed, train_mask, horizon_steps), MAX_LINEAR_ORIGINS)
    if len(train) < 2 * HOURS_PER_DAY:
        raise ValueError(f"linear: {len(train)} complete training origins, need >= {2 * HOURS_PER_DAY}")
    level_mean = float(np.nanmean(speed[np.asarray(train_mask, dtype=bool)]))
    y_val = _targets(speed, val_origins, horizon_steps) - speed[val_origins][:, None]
    y_train = _targets(speed, train, horizon_steps) - speed[train][:, None]
    best = (np.inf, 0, 0.0)
    for n_lags in LINEAR_LAG_CHOICES:
        x = linear_features(times, speed, train, n_lags, level_mean)
        x_val = linear_features(times, speed, val_origins, n_lags, level_mean)
        gram, cross = x.T @ x, x.T @ y_train
        for alpha in LINEAR_ALPHAS:
            mse = float(np.mean((x_val @ linear_ridge(gram, cross, n_lags, alpha) - y_val) ** 2))
            if mse < best[0]:
                best = (mse, n_lags, alpha)
    _, n_lags, alpha = best
    val_span = np.zeros(len(speed), dtype=bool)
    val_span[val_origins.min() : val_origins.max() + horizon_steps + 1] = True
    both = _complete_origins(speed, np.asarray(train_mask, dtype=bool) | val_span, horizon_steps)
    both = evenly_spaced(both[both <= val_origins.max()], MAX_LINEAR_ORIGINS)
    x = linear_features(times, speed, both, n_lags, level_mean)
    y = _targets(speed, both, horizon_steps) - speed[both][:, None]
    coef = linear_ridge(x.T @ x, x.T @ y, n_lags, alpha)
    return {"n_lags": int(n_lags), "alpha": float(alpha), "level_mean": level_mean, "coef": coef.tolist()}


def linear_forecast(
    times: pd.DatetimeIndex, speed: np.ndarray, origins: np.ndarray, horizon_steps: int, params: dict[str, Any]
) -> np.ndarray:
    """y_t + ridge(lags, hour of day), clipped at 0 m/s: (N, H)."""
    coef = np.asarray(params["coef"], dtype=float)
    if coef.shape[1] != horizon_steps:
        raise ValueError(f"linear: fitted for {coef.shape[1]} leads, asked for {horizon_steps}")
    x = linear_features(times, speed, origins, params["n_lags"], params["level_mean"])
    return np.clip(speed[np.asarray(origins)][:, None] + x @ coef, 0.0, None)


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("persistence", _fit_nothing, lambda t, s, o, h, p: persistence_forecast(s, o, h)),
        Baseline(
            "seasonal_naive",
            _fit_seasonal,
            lambda t, s, o, h, p: seasonal_naive_forecast(s, o, h, p["season_steps"]),
        ),
        Baseline(
            "climatology",
            _fit_climatology,
            lambda t, s, o, h, p: climatology_forecast(t, o, h, np.asarray(p["hour_mean_ms"])),
        ),
        Baseline("blend", _fit_blend, _predict_blend),
        Baseline("linear", fit_linear, linear_forecast),
    )
}


def get_baseline(name: str) -> Baseline:
    """The baseline model kind of that name."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}, expected one of {sorted(BASELINES)}")
    return BASELINES[name]
