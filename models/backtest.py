"""Rolling-origin backtest: regular grid, time splits, forecast origins, batched scoring, promotion rule.

An origin t is the grid index of the last observed hour; its forecasts target t + 1 .. t + H. It counts only
when the whole history window [t - lookback_steps + 1, t] and every target are observed, so every model
(networks and baselines alike) is scored on exactly the same origins. `origin_time` is the start of the last
observed hour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from models.metrics import metrics_table, quantile_label
from models.windows import Cutoffs

# Columns of the long per-forecast table (the `backtests/` dataset adds run, station and model_version).
FORECAST_COLUMNS = ["model", "origin_time", "target_time", "horizon_h", "y_true", "y_pred"]


class HourlyGrid(NamedTuple):
    """A series on a regular grid: times (DatetimeIndex, UTC) and wind_speed_ms with NaN at gaps."""

    times: pd.DatetimeIndex
    speed: np.ndarray


def to_hourly_grid(df: pd.DataFrame, freq: str = "1h") -> HourlyGrid:
    """Put curated measurements (`time`, `wind_speed_ms`) on a regular grid, NaN where rows are missing."""
    for col in ("time", "wind_speed_ms"):
        if col not in df.columns:
            raise ValueError(f"measurements lack column {col!r}, got {list(df.columns)}")
    if len(df) == 0:
        raise ValueError("measurements are empty: nothing to put on a grid")
    times = pd.DatetimeIndex(df["time"])
    if times.tz is None:
        raise ValueError("column 'time' must be tz-aware (UTC), got naive timestamps")
    times = times.tz_convert("UTC")
    if not times.is_monotonic_increasing or times.has_duplicates:
        raise ValueError("column 'time' must be strictly increasing")
    grid = pd.date_range(times[0], times[-1], freq=freq)
    pos = grid.get_indexer(times)
    if (pos < 0).any():
        bad = times[np.flatnonzero(pos < 0)[0]]
        raise ValueError(f"time {bad} is not on the {freq} grid starting at {times[0]}")
    speed = np.full(len(grid), np.nan)
    speed[pos] = df["wind_speed_ms"].to_numpy(dtype=float, na_value=np.nan)
    return HourlyGrid(grid, speed)


def select_origins(
    speed: np.ndarray,
    lookback_steps: int,
    horizon_steps: int,
    start_idx: int,
    end_idx: int,
    step_steps: int = 6,
) -> np.ndarray:
    """Valid origins start_idx, start_idx + step, ... whose targets all fall before end_idx.

    Valid: history [t - lookback_steps + 1, t] and targets [t + 1, t + horizon_steps] all observed (finite).
    Candidates sit on a fixed stride from start_idx, so a gap drops origins without shifting the others.
    """
    sizes = {"lookback_steps": lookback_steps, "horizon_steps": horizon_steps, "step_steps": step_steps}
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if start_idx < 0:
        raise ValueError(f"start_idx must be >= 0, got {start_idx}")
    end_idx = min(end_idx, len(speed))
    short = max(0, lookback_steps - 1 - start_idx)  # the first candidates lack a full history window
    first = start_idx + -(-short // step_steps) * step_steps
    cand = np.arange(first, end_idx - horizon_steps, step_steps)
    missing = np.concatenate([[0], np.cumsum(~np.isfinite(speed))])  # missing[i] = NaNs in speed[:i]
    n_missing = missing[cand + horizon_steps + 1] - missing[cand - lookback_steps + 1]
    return cand[n_missing == 0]


def split_origins(
    grid: HourlyGrid, split: Cutoffs, lookback_steps: int, horizon_steps: int, step_steps: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """(validation origins, test origins): each period's targets stay inside it, histories may reach back."""
    train_stop, val_stop = split.stops(grid.times)
    args = (lookback_steps, horizon_steps)
    val = select_origins(grid.speed, *args, train_stop, val_stop, step_steps)
    test = select_origins(grid.speed, *args, val_stop, len(grid.speed), step_steps)
    return val, test


def refit_blocks(origins: np.ndarray, every_k: int | None) -> list[np.ndarray]:
    """Split origins into consecutive blocks of every_k (None or 0: one block) for the refit protocol.

    The flow refits each model before each block on an expanding window, rows [0, block[0]] (all data
    observed at the block's first origin), and predicts that block with it.
    """
    if not every_k:
        return [np.asarray(origins)]
    if every_k < 0:
        raise ValueError(f"every_k must be >= 0 or None, got {every_k}")
    return [origins[i : i + every_k] for i in range(0, len(origins), every_k)]


@dataclass(frozen=True)
class BacktestResult:
    """Per-forecast long table (FORECAST_COLUMNS + quantile columns) and the metrics table."""

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    origins: np.ndarray


Predictor = Callable[[np.ndarray], np.ndarray]


def _gather_targets(times: pd.DatetimeIndex, speed: np.ndarray, origins: np.ndarray, horizon_steps: int) -> np.ndarray:
    if len(origins) == 0:
        raise ValueError("no origins to score")
    idx = origins[:, None] + np.arange(1, horizon_steps + 1)[None, :]
    if origins.min() < 0 or idx.max() >= len(speed):
        top = len(speed) - horizon_steps
        raise ValueError(f"origins must lie in [0, {top}), got {origins.min()}..{origins.max()}")
    y_true = speed[idx]
    bad = ~np.isfinite(y_true).all(axis=1)
    if bad.any():
        t = origins[np.flatnonzero(bad)[0]]
        raise ValueError(f"origin {t} ({times[t]}) has missing targets; select origins with select_origins")
    return y_true


def run_backtest(
    times: pd.DatetimeIndex,
    speed: np.ndarray,
    origins: np.ndarray,
    predictors: Mapping[str, Predictor],
    horizon_steps: int,
    quantiles: Sequence[float] | None = None,
    persistence_name: str | None = "persistence",
) -> BacktestResult:
    """Score every predictor on the same origins in one batched call each.

    Args:
        times, speed: the regular grid.
        origins: (N,) valid origin indices (see select_origins).
        predictors: name -> callable(origins) returning (N, H) points or (N, H, Q) quantile forecasts.
        quantiles: the Q levels of quantile forecasts (their median becomes y_pred).
    """
    origins = np.asarray(origins, dtype=np.int64)
    y_true = _gather_targets(times, speed, origins, horizon_steps)
    preds = {name: np.asarray(fn(origins), dtype=float) for name, fn in predictors.items()}
    metrics = metrics_table(y_true, preds, persistence_name, quantiles)  # validates shapes and finiteness
    n, h = y_true.shape
    leads = np.arange(1, h + 1)
    base = {
        "origin_time": np.repeat(times[origins], h),
        "target_time": times[(origins[:, None] + leads[None, :]).ravel()],
        "horizon_h": np.tile(leads, n).astype("int64"),
        "y_true": y_true.ravel(),
    }
    frames = []
    for name, pred in preds.items():
        cols = {"model": name, **base}
        if pred.ndim == 3:
            for i, q in enumerate(quantiles or ()):
                cols[quantile_label(q)] = pred[..., i].ravel()
            cols["y_pred"] = pred[..., list(quantiles).index(0.5)].ravel()
        else:
            cols["y_pred"] = pred.ravel()
        frames.append(pd.DataFrame(cols))
    forecasts = pd.concat(frames, ignore_index=True)
    forecasts["model"] = forecasts["model"].astype("string")
    extra = [c for c in forecasts.columns if c not in FORECAST_COLUMNS]
    return BacktestResult(forecasts[FORECAST_COLUMNS + extra], metrics, origins)


@dataclass(frozen=True)
class Decision:
    """Outcome of the promotion gate: whether the challenger was promoted, who is champion, and why."""

    promote: bool
    champion: str
    reason: str


def _check_rmse(what: str, value: float) -> None:
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{what} RMSE must be a finite number >= 0, got {value!r}")


def decide_promotion(
    challenger_rmse: float,
    champion_rmse: float | None,
    best_baseline: tuple[str, float],
    challenger_name: str = "challenger",
    champion_name: str | None = None,
) -> Decision:
    """Promote the challenger only if its overall RMSE is below both the champion's and the best baseline's.

    All RMSEs must come from the same origins. With no champion yet, the challenger must beat the best
    baseline. Without promotion the champion stays, unless the best baseline now beats it too, in which case
    the baseline becomes champion: the published forecast is never worse than a baseline on the backtest.
    """
    base_name, base_rmse = best_baseline
    champion_name = champion_name or ("champion" if champion_rmse is not None else None)
    _check_rmse(challenger_name, challenger_rmse)
    _check_rmse(base_name, base_rmse)
    if champion_rmse is not None:
        _check_rmse(champion_name, champion_rmse)

    def fmt(name: str, value: float) -> str:
        return f"{name} {value:.3f} m/s"

    challenger = f"{challenger_name} RMSE {challenger_rmse:.3f} m/s"
    # The bar is the better of champion and best baseline; the baseline wins a tie.
    if champion_rmse is None or base_rmse <= champion_rmse:
        holder, bar = base_name, base_rmse
    else:
        holder, bar = champion_name, champion_rmse
    if challenger_rmse < bar:
        beaten = [fmt(f"best baseline {base_name}", base_rmse)]
        if champion_rmse is not None and champion_name != base_name:
            beaten.insert(0, fmt(f"champion {champion_name}", champion_rmse))
        reason = f"{challenger} beat {' and '.join(beaten)}; {challenger_name} is champion"
        return Decision(True, challenger_name, reason)
    if champion_rmse is None:
        reason = f"{challenger} did not beat {fmt(base_name, base_rmse)}; champion is {base_name}"
    elif holder == champion_name:
        reason = f"{challenger} did not beat {fmt(champion_name, bar)}; champion stays {champion_name}"
    else:
        reason = (
            f"{challenger} did not beat {fmt(base_name, base_rmse)}, which also beats champion "
            f"{fmt(champion_name, champion_rmse)}; champion is now {base_name}"
        )
    return Decision(False, holder, reason)


def overall_rmse(metrics: pd.DataFrame) -> dict[str, float]:
    """Model name -> overall RMSE, read from a metrics table."""
    rows = metrics[(metrics["metric"] == "rmse") & (metrics["horizon_h"] == 0)]
    return dict(zip(rows["model"].tolist(), rows["value"].astype(float).tolist(), strict=True))


def best_model(metrics: pd.DataFrame, names: Sequence[str]) -> tuple[str, float]:
    """(name, overall RMSE) of the lowest-RMSE model among names, e.g. the baselines."""
    scores = overall_rmse(metrics)
    missing = [n for n in names if n not in scores]
    if missing:
        raise ValueError(f"models {missing} not in the metrics table, which has {sorted(scores)}")
    name = min(names, key=lambda n: scores[n])
    return name, scores[name]
