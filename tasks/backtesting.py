"""Backtest a station's networks and baselines on the same origins, write the results, apply the promotion gate.

Plain functions (tested directly); ``tasks/backtest_tasks.py`` wraps them as Prefect tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from models.backtest import (
    HourlyGrid,
    best_model,
    decide_promotion,
    overall_rmse,
    run_backtest,
    select_origins,
    split_origins,
)
from models.baselines import BASELINES
from models.checkpoint import load_checkpoint
from models.intervals import INTERVAL_QUANTILES, MIN_RESIDUALS, recent_residual_quantiles, rolling_intervals
from models.nwp import NWP_BASELINES, align_nwp
from models.training import predict
from models.windows import Cutoffs
from tasks import nwp_models, registry
from tasks import store as st
from tasks.training import checkpoint_path, station_cutoffs
from windcast.config import PipelineConfig
from windcast.schemas import BACKTEST_SCHEMA, METRIC_SCHEMA

PARAMS_FILE = "params.json"
INTERVALS_FILE = "intervals.json"  # per-lead residual quantiles on the validation part, written by the backtest
BAND = (INTERVAL_QUANTILES[0], 0.5, INTERVAL_QUANTILES[1])  # the quantile levels every backtested model reports


@dataclass
class StationBacktest:
    """What a station's backtest found and decided, small enough for artifacts and task results."""

    station_id: str
    run_id: str
    n_origins: int
    rmse_ms: dict[str, float]  # model label -> overall RMSE on the test origins
    rmse_by_lead: dict[str, list[float]]  # model label -> RMSE per lead time 1..H
    skill_by_lead: dict[str, list[float]]  # model label -> skill per lead time 1..H
    champion: dict
    decision: str
    cutoffs: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)  # model label -> share of targets inside P10-P90


def load_grid(config: PipelineConfig, station_id: str) -> tuple[pd.DataFrame, HourlyGrid]:
    """The station's curated measurements and their regular hourly grid."""
    from models.backtest import to_hourly_grid

    frame = st.read_measurements(st.Store(config.data_dir), station_id)
    if frame.empty:
        raise ValueError(f"station {station_id!r}: no curated measurements to backtest; ingest first")
    return frame, to_hourly_grid(frame, config.frequency)


def register_baselines(
    config: PipelineConfig, station_id: str, grid: HourlyGrid, cutoffs: Cutoffs, val_origins: np.ndarray
) -> dict[str, registry.ModelVersion]:
    """Fit every baseline on the training/validation part; register a new version only when its params change."""
    store = st.Store(config.data_dir)
    horizon = config.training.horizon_steps
    train_mask = np.asarray(grid.times < cutoffs.train_end)
    versions = {}
    for name, baseline in BASELINES.items():
        params = baseline.fit(grid.times, grid.speed, train_mask, val_origins, horizon)
        existing = registry.list_versions(store, station_id, name)
        if existing and _read_params(existing[-1]) == params:
            versions[name] = existing[-1]
            continue
        meta = {"cutoffs": cutoffs.to_dict(), "params": params}
        write = lambda folder, p=params: (folder / PARAMS_FILE).write_text(json.dumps(p))  # noqa: E731
        versions[name] = registry.register(store, station_id, name, write, meta)
    return versions


def _read_params(version: registry.ModelVersion) -> dict:
    return json.loads((version.path / PARAMS_FILE).read_text())


def network_versions(
    config: PipelineConfig, station_id: str, with_nwp: bool = False
) -> dict[str, registry.ModelVersion]:
    """The newest registered version of every configured network kind (the challengers; with_nwp: and of the
    NWP-fed ones)."""
    store = st.Store(config.data_dir)
    latest = {}
    kinds = list(config.training.kinds)
    if with_nwp:
        kinds += [k + nwp_models.NWP_SUFFIX for k in kinds]
    for kind in kinds:
        versions = registry.list_versions(store, station_id, kind)
        if versions:
            latest[kind] = versions[-1]
    return latest


def make_predictor(
    version: registry.ModelVersion,
    frame: pd.DataFrame,
    grid: HourlyGrid,
    test_start: pd.Timestamp,
    horizon: int,
    nwp: pd.DataFrame | None = None,
):
    """A batched predictor for a registered model; refuses a network that trained or validated on test data.

    Models that read NWP get it aligned to each origin by the issue-time rule (only issues at or before it).
    """
    if version.kind in NWP_BASELINES or version.kind.endswith(nwp_models.NWP_SUFFIX):
        if nwp is None:
            raise ValueError(f"station {version.station_id!r}: {version.label} reads NWP, but the station has none")
    if version.kind in NWP_BASELINES:
        params = _read_params(version)
        return lambda origins: nwp_models.nwp_baseline_forecast(
            version.kind, params, align_nwp(nwp, grid.times[origins], horizon)
        )
    if version.kind in BASELINES:
        params = _read_params(version)
        baseline = BASELINES[version.kind]
        return lambda origins: baseline.predict(grid.times, grid.speed, origins, horizon, params)
    forecaster, meta = load_checkpoint(checkpoint_path(version))
    used_until = max(pd.Timestamp(c["val_end"]) for c in meta["extra"]["cutoffs"].values())
    if used_until > test_start:
        raise ValueError(
            f"station {version.station_id!r}: {version.label} used data up to {used_until} for training or "
            f"early stopping, after the test period's start {test_start}; retrain it before backtesting"
        )
    feed = nwp if forecaster.uses_nwp else None
    return lambda origins: predict(forecaster, frame, grid.times[origins], station_id=version.station_id, nwp=feed)


def backtest_station(config: PipelineConfig, station_id: str, run_id: str) -> StationBacktest:
    """Score the challengers, the current champion and every baseline on the same test origins; promote."""
    store = st.Store(config.data_dir)
    frame, grid = load_grid(config, station_id)
    cutoffs = station_cutoffs(frame, config.backtest)
    lookback, horizon = config.training.lookback_steps, config.training.horizon_steps
    val_origins, test_origins = split_origins(grid, cutoffs, lookback, horizon, config.backtest.step_hours)
    # with NWP, every model is scored on the origins where the NWP models can forecast too
    nwp, test_origins, nwp_left_out = nwp_models.usable_nwp(config, station_id, grid, cutoffs, test_origins)
    if len(test_origins) == 0:
        raise ValueError(
            f"station {station_id!r}: no test origin has {lookback} h of history and {horizon} h of targets "
            f"after {cutoffs.val_end}"
        )
    baselines = register_baselines(config, station_id, grid, cutoffs, val_origins)
    if nwp is not None:
        baselines.update(nwp_models.register_nwp_baselines(config, station_id, grid, cutoffs, nwp))
    challengers = network_versions(config, station_id, with_nwp=nwp is not None)
    models = {v.label: v for v in [*baselines.values(), *challengers.values()]}
    pointer = registry.read_champion(store, station_id)
    if pointer is not None:
        champ = registry.get_version(store, station_id, pointer["kind"], pointer["version"])
        models.setdefault(champ.label, champ)
    predictors = {label: make_predictor(v, frame, grid, cutoffs.val_end, horizon, nwp) for label, v in models.items()}
    train_stop, val_stop = cutoffs.stops(grid.times)
    interval_origins = select_origins(grid.speed, lookback, horizon, train_stop, val_stop, 1)
    net_quantiles = tuple(config.training.quantiles)
    banded = {
        label: banded_predictor(fn, models[label], grid, interval_origins, horizon, net_quantiles, cutoffs)
        for label, fn in predictors.items()
    }
    result = run_backtest(grid.times, grid.speed, test_origins, banded, horizon, BAND, baselines["persistence"].label)
    write_backtest(store, station_id, run_id, result, models)
    champion, decision = promote(store, station_id, result.metrics, baselines, challengers, pointer, models)
    if nwp is not None:
        scores = overall_rmse(result.metrics)
        plain = [label for label, v in models.items() if not nwp_models.uses_nwp(v.kind)]
        best = min(plain, key=lambda label: scores[label])
        nwp_models.write_fallback(store, station_id, models[best], scores[best])
    if nwp_left_out:
        decision = f"{decision}; {nwp_left_out}"
    metrics = result.metrics
    by_lead = metrics[metrics["horizon_h"] > 0].sort_values("horizon_h")
    return StationBacktest(
        station_id=station_id,
        run_id=run_id,
        n_origins=len(test_origins),
        rmse_ms={k: round(v, 4) for k, v in overall_rmse(metrics).items()},
        rmse_by_lead=_per_lead(by_lead, "rmse"),
        skill_by_lead=_per_lead(by_lead, "skill"),
        champion=champion,
        decision=decision,
        cutoffs=cutoffs.to_dict(),
        coverage=_overall(metrics, "coverage_p10_p90"),
    )


def _point_and_band(pred: np.ndarray, quantiles: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """(point, (N, H, 3) P10/P50/P90 or None) from a model's output: quantile networks keep their own band."""
    if pred.ndim == 2:
        return pred, None
    point = pred[..., quantiles.index(0.5)]
    if all(q in quantiles for q in BAND):
        return point, pred[..., [quantiles.index(q) for q in BAND]]
    return point, None


def banded_predictor(fn, version, grid: HourlyGrid, interval_origins, horizon, net_quantiles, cutoffs: Cutoffs):
    """The predictor returning (N, H, 3) P10/P50/P90: a quantile network's own band, or the point forecast with
    per-lead quantiles of its residuals of the last 30 days observed at each origin (rolling conformal, the
    validation origins first); the offsets of the last window are written to the version's intervals.json for
    the forecast flow. With under MIN_RESIDUALS validation origins it stays a point forecast."""
    quantiles = net_quantiles if version.kind not in BASELINES else ()
    if len(interval_origins) < MIN_RESIDUALS:
        return lambda origins: _point_and_band(np.asarray(fn(origins), dtype=float), quantiles)[0]
    point_val, band = _point_and_band(np.asarray(fn(interval_origins), dtype=float), quantiles)
    if band is not None:
        return lambda origins: _point_and_band(np.asarray(fn(origins), dtype=float), quantiles)[1]

    def banded(origins: np.ndarray) -> np.ndarray:
        point = _point_and_band(np.asarray(fn(origins), dtype=float), quantiles)[0]
        every = np.concatenate([interval_origins, origins])
        y_true = _targets(grid, every, horizon)
        y_pred = np.concatenate([point_val, point])
        bounds = rolling_intervals(every, y_true, y_pred, len(interval_origins))
        intervals = {**recent_residual_quantiles(every, y_true, y_pred), "cutoffs": cutoffs.to_dict()}
        st.atomic_write_bytes(version.path / INTERVALS_FILE, json.dumps(intervals).encode())
        return np.stack([bounds[0.1], point, bounds[0.9]], axis=-1)

    return banded


def _targets(grid: HourlyGrid, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(N, H) observed speeds after each origin, NaN past the end of the grid or at gaps."""
    idx = origins[:, None] + np.arange(1, horizon + 1)[None, :]
    padded = np.append(grid.speed, np.nan)
    return padded[np.minimum(idx, len(grid.speed))]


def read_intervals(version: registry.ModelVersion) -> dict | None:
    """The version's interval offsets from its latest backtest, or None before its first."""
    path = version.path / INTERVALS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _overall(metrics: pd.DataFrame, metric: str) -> dict[str, float]:
    rows = metrics[(metrics["metric"] == metric) & (metrics["horizon_h"] == 0)]
    return {str(m): round(float(v), 4) for m, v in zip(rows["model"], rows["value"], strict=True)}


def _per_lead(by_lead: pd.DataFrame, metric: str) -> dict[str, list[float]]:
    rows = by_lead[by_lead["metric"] == metric]
    return {str(m): g["value"].round(4).tolist() for m, g in rows.groupby("model", sort=False)}


def promote(store, station_id, metrics, baselines, challengers, pointer, models) -> tuple[dict, str]:
    """Apply the gate: the best challenger replaces the champion only if it beats it and the best baseline."""
    scores = overall_rmse(metrics)
    best_base = best_model(metrics, [v.label for v in baselines.values()])
    champ_label = None if pointer is None else f"{pointer['kind']} v{pointer['version']}"
    contenders = [v.label for v in challengers.values() if v.label != champ_label]
    if contenders:
        challenger = min(contenders, key=lambda label: scores[label])
        decision = decide_promotion(
            scores[challenger],
            None if champ_label is None else scores[champ_label],
            best_base,
            challenger_name=challenger,
            champion_name=champ_label,
        )
        winner, reason = decision.champion, decision.reason
    elif champ_label is None or best_base[1] < scores[champ_label]:
        winner = best_base[0]
        reason = f"no network to promote; best baseline {best_base[0]} RMSE {best_base[1]:.3f} m/s is champion"
    else:
        winner, reason = champ_label, f"no new network; champion stays {champ_label}"
    if winner != champ_label:
        pointer = registry.set_champion(store, models[winner], reason, scores[winner])
    return {k: v for k, v in pointer.items() if k != "history"}, reason


def write_backtest(store: st.Store, station_id: str, run_id: str, result, models: dict) -> None:
    """Write the run's forecasts to backtests/ and its metrics to metrics/ (one partition per station and run)."""
    run_at = pd.Timestamp.now(tz="UTC").floor("us")
    forecasts = _with_model_columns(result.forecasts, models)
    metrics = _with_model_columns(result.metrics, models)
    metrics["n_origins"] = len(result.origins)
    for frame in (forecasts, metrics):
        frame["run_id"] = run_id
        frame["run_at"] = run_at
        frame["station_id"] = station_id
    for name, frame, schema in (
        ("backtests", forecasts, BACKTEST_SCHEMA),
        ("metrics", metrics, METRIC_SCHEMA),
    ):
        for col in schema.names:
            if col not in frame.columns:
                frame[col] = np.nan
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        folder = store.station_dir(store.root / name, station_id) / f"run_id={run_id}"
        st.atomic_write_table(folder / st.PART_FILE, table.drop_columns(["station_id", "run_id"]))


def _with_model_columns(frame: pd.DataFrame, models: dict) -> pd.DataFrame:
    out = frame.copy()
    labels = out["model"].astype(str)
    out["model"] = labels.map(lambda label: models[label].kind)
    out["model_version"] = labels.map(lambda label: models[label].version).astype("int32")
    return out
