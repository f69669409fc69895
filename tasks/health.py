"""Model health: the champion's realised error on recent forecasts against what its backtest promised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks import store as st
from tasks.forecasting import read_recent_forecasts
from tasks.reports import latest_metrics
from windcast.config import PipelineConfig


@dataclass
class HealthCheck:
    """Realised against expected RMSE of a station's recent, non-stale forecasts."""

    station_id: str
    model: str
    n_pairs: int
    realised_rmse_ms: float | None
    expected_rmse_ms: float | None
    degraded: bool
    message: str


def check_health(
    config: PipelineConfig, station_id: str, model: str, model_version: int, now: pd.Timestamp
) -> HealthCheck:
    """Compare the realised RMSE of the last ``health_window_days`` of fresh forecasts with the backtest RMSE."""
    settings = config.forecast
    store = st.Store(config.data_dir)
    label = f"{model} v{model_version}"
    window = pd.Timedelta(days=settings.health_window_days)
    # an issue made before the window and the longest lead cannot target a time inside the window
    longest_lead = pd.Timedelta(config.frequency) * config.training.horizon_steps
    forecasts = read_recent_forecasts(store, station_id, now - window - longest_lead)
    recent = forecasts[
        (~forecasts["stale"])
        & (forecasts["model"] == model)
        & (forecasts["model_version"] == model_version)
        & (forecasts["target_time"] > now - window)
        & (forecasts["target_time"] <= now)
    ]
    observed = st.read_measurements(store, station_id)[["time", "wind_speed_ms"]]
    pairs = recent.merge(observed.rename(columns={"time": "target_time", "wind_speed_ms": "y_true"}), on="target_time")
    metrics = latest_metrics(store, station_id)
    expected_rows = metrics[
        (metrics.get("model") == model) & (metrics.get("model_version") == model_version)
        & (metrics.get("metric") == "rmse") & (metrics.get("horizon_h") == 0)
    ] if not metrics.empty else metrics  # fmt: skip
    expected = float(expected_rows["value"].iloc[0]) if len(expected_rows) else None
    if len(pairs) < settings.health_min_forecasts or expected is None:
        why = "no backtest of it" if expected is None else f"{len(pairs)} realised forecast hours"
        return HealthCheck(
            station_id,
            label,
            len(pairs),
            None,
            expected,
            False,
            f"{label}: not enough evidence yet ({why}; need {settings.health_min_forecasts})",
        )
    realised = float(np.sqrt(np.mean((pairs["wind_speed_ms"] - pairs["y_true"]) ** 2)))
    degraded = realised > settings.health_tolerance * expected
    verdict = "DEGRADED" if degraded else "healthy"
    message = (
        f"{label} {verdict}: realised RMSE {realised:.2f} m/s over {len(pairs)} forecast hours of the last "
        f"{settings.health_window_days:g} days, backtest RMSE {expected:.2f} m/s "
        f"(warn above x{settings.health_tolerance:g})"
    )
    return HealthCheck(station_id, label, len(pairs), realised, expected, degraded, message)
