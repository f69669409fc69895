"""Forecast each station with its champion from the latest complete history window; write forecasts/.

Plain functions (tested directly); ``tasks/forecast_tasks.py`` wraps them as Prefect tasks.

Freshness rule: the origin is the newest observed interval. If that interval is older than
``forecast.max_data_age_hours`` before the issue time, or its history window has a gap, the forecast is marked
``stale`` with the reason, and made from the newest origin whose whole history window exists: history is never
invented. With no complete window at all, the station fails with a clear error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from models.backtest import HourlyGrid
from models.baselines import BASELINES
from models.checkpoint import load_checkpoint
from models.intervals import apply_intervals
from models.training import predict
from tasks import nwp_models, registry
from tasks import store as st
from tasks.backtesting import PARAMS_FILE, load_grid, read_intervals
from tasks.training import checkpoint_path
from windcast.config import PipelineConfig
from windcast.schemas import FORECAST_SCHEMA

NWP_FORECAST_COLUMNS = ("nwp_issued_at", "nwp_note")


@dataclass
class StationForecast:
    """One station's forecast issue, with where it was written."""

    station_id: str
    rows: pd.DataFrame  # FORECAST_SCHEMA columns
    path: str  # relative to the data directory
    stale: bool
    stale_reason: str | None
    nwp_note: str | None = None  # why a station with NWP fell back to its measurement-only model


def choose_origin(grid: HourlyGrid, lookback_steps: int, issued_at: pd.Timestamp, max_age_h: float):
    """(origin index, stale reason or None): the newest interval with a gap-free history window."""
    observed = np.isfinite(grid.speed)
    if not observed.any():
        raise ValueError("no observed interval to forecast from")
    newest = int(np.flatnonzero(observed)[-1])
    missing = np.concatenate([[0], np.cumsum(~observed)])
    ends = np.arange(lookback_steps - 1, len(grid.speed))
    complete = ends[missing[ends + 1] - missing[ends + 1 - lookback_steps] == 0]
    if len(complete) == 0:
        raise ValueError(f"no {lookback_steps}-hour gap-free history window anywhere in the data")
    origin = int(complete[-1])
    reasons = []
    if origin != newest:
        reasons.append(
            f"the {lookback_steps} h before the newest observation {grid.times[newest]} have gaps; "
            f"forecast from {grid.times[origin]} instead"
        )
    age_h = (issued_at - grid.times[origin]) / pd.Timedelta("1h")
    if age_h > max_age_h:
        reasons.append(
            f"its newest usable observation {grid.times[origin]} is {age_h:,.0f} h old (limit {max_age_h:g} h)"
        )
    return origin, "; ".join(reasons) or None


def champion_version(store: st.Store, station_id: str) -> registry.ModelVersion:
    """The station's champion."""
    pointer = registry.read_champion(store, station_id)
    if pointer is None:
        raise ValueError(f"station {station_id!r} has no champion yet: run the backtest (windcast backtest) first")
    return registry.get_version(store, station_id, pointer["kind"], pointer["version"])


def champion_forecast(
    store: st.Store,
    station_id: str,
    frame: pd.DataFrame,
    grid: HourlyGrid,
    origin: int,
    horizon: int,
    version: registry.ModelVersion | None = None,
    nwp=None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, registry.ModelVersion]:
    """(point, p10, p90, version) from the station's champion (or the given version) at one origin.

    P10/P90: a quantile network's own, else the per-lead residual quantiles of the last 30 days its backtest stored.

    Args:
        nwp: `models.nwp.AlignedNwp` at this origin, for a model that reads NWP.
    """
    point, p10, p90, version = _model_forecast(store, station_id, frame, grid, origin, horizon, version, nwp)
    intervals = read_intervals(version)
    if (p10 is None or p90 is None) and intervals is not None:
        bounds = apply_intervals(np.asarray(point)[None, :], intervals)
        p10, p90 = bounds[0.1][0], bounds[0.9][0]
    return point, p10, p90, version


def _model_forecast(store, station_id, frame, grid, origin, horizon, version, nwp):
    version = version or champion_version(store, station_id)
    origins = np.array([origin])
    if version.kind in nwp_models.NWP_BASELINES:
        params = json.loads((version.path / PARAMS_FILE).read_text())
        return nwp_models.nwp_baseline_forecast(version.kind, params, nwp)[0], None, None, version
    if version.kind in BASELINES:
        params = json.loads((version.path / PARAMS_FILE).read_text())
        point = BASELINES[version.kind].predict(grid.times, grid.speed, origins, horizon, params)[0]
        return point, None, None, version
    forecaster, _ = load_checkpoint(checkpoint_path(version))
    pred = predict(forecaster, frame, grid.times[origins], station_id=station_id, nwp=nwp)[0]
    if pred.ndim == 1:
        return pred, None, None, version
    q = list(forecaster.quantiles)
    lower = pred[:, q.index(0.1)] if 0.1 in q else None
    upper = pred[:, q.index(0.9)] if 0.9 in q else None
    return pred[:, q.index(0.5)], lower, upper, version


def forecast_station(config: PipelineConfig, station_id: str, issued_at: pd.Timestamp) -> StationForecast:
    """Forecast the next horizon for one station and append the issue to forecasts/."""
    store = st.Store(config.data_dir)
    frame, grid = load_grid(config, station_id)
    horizon = config.training.horizon_steps
    origin, stale_reason = choose_origin(
        grid, config.training.lookback_steps, issued_at, config.forecast.max_data_age_hours
    )
    version, aligned, nwp_note = choose_model(config, store, station_id, grid.times[origin])
    point, p10, p90, version = champion_forecast(store, station_id, frame, grid, origin, horizon, version, aligned)
    nwp_issued = aligned.issued_at[0] if aligned is not None else pd.NaT
    leads = np.arange(1, len(point) + 1)
    rows = pd.DataFrame(
        {
            "station_id": station_id,
            "issued_at": issued_at,
            "origin_time": grid.times[origin],
            "target_time": grid.times[origin] + pd.to_timedelta(leads, unit="h"),
            "horizon_h": leads.astype("int32"),
            "wind_speed_ms": np.clip(point, 0, None),
            "p10": p10 if p10 is not None else np.nan,
            "p90": p90 if p90 is not None else np.nan,
            "model": version.kind,
            "model_version": version.version,
            "stale": stale_reason is not None,
            "stale_reason": stale_reason,
            "nwp_issued_at": nwp_issued,
            "nwp_note": nwp_note,
        }
    )
    if not np.isfinite(rows["wind_speed_ms"]).all():
        raise ValueError(f"station {station_id!r}: {version.label} produced a non-finite forecast")
    path = write_forecast(store, station_id, rows)
    return StationForecast(station_id, rows, path, stale_reason is not None, stale_reason, nwp_note)


def choose_model(config: PipelineConfig, store: st.Store, station_id: str, origin_time: pd.Timestamp):
    """(version, NWP aligned to the origin or None, fall-back note or None): the champion, unless it reads NWP
    and the latest issue at or before the origin is missing, stale or short; then the measurement-only fallback."""
    version = champion_version(store, station_id)
    if not nwp_models.uses_nwp(version.kind):
        return version, None, None
    aligned, why = nwp_models.nwp_at_origin(config, station_id, origin_time)
    if aligned is not None:
        return version, aligned, None
    fallback = nwp_models.read_fallback(store, station_id)
    if fallback is None:
        raise ValueError(
            f"station {station_id!r}: champion {version.label} needs NWP ({why}) and no measurement-only fallback "
            "is recorded; run the backtest"
        )
    note = f"NWP unusable ({why}): forecast by the measurement-only {fallback.label} instead of {version.label}"
    return fallback, None, note


def write_forecast(store: st.Store, station_id: str, rows: pd.DataFrame) -> str:
    """Write one issue as its own file (earlier issues are never rewritten); return its relative path."""
    issued_at = pd.Timestamp(rows["issued_at"].iloc[0])
    rows = rows.assign(**{c: rows[c] if c in rows else None for c in NWP_FORECAST_COLUMNS})  # optional, nullable
    folder = store.station_dir(store.root / "forecasts", station_id) / f"issued_date={issued_at:%Y-%m-%d}"
    path = folder / f"issue-{issued_at:%Y%m%dT%H%M%S%fZ}.parquet"
    table = pa.Table.from_pandas(rows[FORECAST_SCHEMA.names], schema=FORECAST_SCHEMA, preserve_index=False)
    st.atomic_write_table(path, table.drop_columns(["station_id"]))
    return path.relative_to(store.root).as_posix()


def read_forecasts(store: st.Store, station_id: str | None = None) -> pd.DataFrame:
    """Every published forecast issue (one station or all)."""
    return st.read_station_dataset(store, "forecasts", FORECAST_SCHEMA, station_id)


def read_recent_forecasts(store: st.Store, station_id: str, issued_since: pd.Timestamp) -> pd.DataFrame:
    """The station's forecast issues of the UTC day of ``issued_since`` and later (and maybe a few earlier ones
    of that day): only those days' files are read, not the whole history of hourly issues."""
    root = store.station_dir(store.root / "forecasts", station_id)
    first_day = f"issued_date={issued_since.tz_convert('UTC'):%Y-%m-%d}"
    days = sorted(p for p in root.glob("issued_date=*") if p.name >= first_day) if root.exists() else []
    files = [str(f) for day in days for f in sorted(day.glob("issue-*.parquet"))]  # not the writers' .tmp files
    schema = FORECAST_SCHEMA.remove(FORECAST_SCHEMA.get_field_index("station_id"))
    frame = ds.dataset(files, format="parquet", schema=schema).to_table().to_pandas()
    return frame.assign(station_id=station_id)[FORECAST_SCHEMA.names]
