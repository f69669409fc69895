"""NWP in training, backtest and forecast: which models read it, their origins, baselines and the fall-back.

Plain functions used by ``tasks/training.py``, ``tasks/backtesting.py`` and ``tasks/forecasting.py``.
An NWP-fed network is registered as kind ``<kind>_nwp`` (``gru_nwp``); the NWP baselines are ``nwp`` and
``nwp_mos``. A station with NWP gets a second pointer beside its champion, ``fallback.json``: the best
measurement-only model of its latest backtest, which forecasts when the NWP issue is missing or stale.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from models.backtest import HourlyGrid, select_origins
from models.nwp import NWP_BASELINES, AlignedNwp, align_nwp, fit_nwp_mos, nwp_forecast, nwp_mos_forecast
from models.windows import Cutoffs
from tasks import registry
from tasks import store as st
from tasks.nwp_store import read_nwp
from windcast.config import PipelineConfig

NWP_SUFFIX = "_nwp"
PARAMS_FILE = "params.json"
FALLBACK_FILE = "fallback.json"
MIN_NWP_ORIGINS = 24  # training origins with complete NWP before the NWP models join a backtest


def uses_nwp(kind: str) -> bool:
    """True for the models that read NWP: the NWP-fed networks and the NWP baselines."""
    return kind in NWP_BASELINES or kind.endswith(NWP_SUFFIX)


def nwp_groups(config: PipelineConfig, groups: list[list[str]]) -> list[list[str]]:
    """The training groups whose every station has an nwp block and NWP rows stored (they also get NWP-fed
    networks; a station that just turned NWP on trains them once its NWP is ingested)."""
    store = st.Store(config.data_dir)
    with_nwp = {s.id for s in config.stations if s.nwp is not None and not read_nwp(store, s.id, s.nwp.model).empty}
    return [g for g in groups if all(sid in with_nwp for sid in g)]


def station_nwp(config: PipelineConfig, station_id: str) -> pd.DataFrame | None:
    """The station's stored NWP rows of its configured weather model; None when it has no nwp block."""
    station = config.station(station_id)
    if station.nwp is None:
        return None
    return read_nwp(st.Store(config.data_dir), station_id, station.nwp.model)


def require_nwp(config: PipelineConfig, station_ids: list[str]) -> dict[str, pd.DataFrame]:
    """NWP rows per station for an NWP-fed model, with a clear error when a station has none stored."""
    out = {}
    for sid in station_ids:
        rows = station_nwp(config, sid)
        if rows is None or rows.empty:
            raise ValueError(f"station {sid!r}: no NWP rows in nwp/ for an NWP-fed model; ingest with an nwp block")
        out[sid] = rows
    return out


def with_complete_nwp(grid: HourlyGrid, origins: np.ndarray, nwp: pd.DataFrame, horizon: int) -> np.ndarray:
    """The origins whose latest NWP issue at or before them covers every lead 1..horizon."""
    if len(origins) == 0:
        return origins
    return origins[align_nwp(nwp, grid.times[origins], horizon).complete]


def mos_train_origins(grid: HourlyGrid, cutoffs: Cutoffs, nwp: pd.DataFrame, horizon: int) -> np.ndarray:
    """Hourly origins whose targets lie in the training part and whose NWP covers every lead."""
    train_stop = int(grid.times.searchsorted(cutoffs.train_end))
    return with_complete_nwp(grid, select_origins(grid.speed, 1, horizon, 0, train_stop, 1), nwp, horizon)


def usable_nwp(
    config: PipelineConfig, station_id: str, grid: HourlyGrid, cutoffs: Cutoffs, test_origins: np.ndarray
) -> tuple[pd.DataFrame | None, np.ndarray, str | None]:
    """(NWP rows, test origins restricted to those with NWP, None), or (None, all test origins, why the NWP
    models sit this backtest out): too little NWP for training or testing, e.g. just after turning it on."""
    nwp = station_nwp(config, station_id)
    if nwp is None:
        return None, test_origins, None
    horizon = config.training.horizon_steps
    n_train = len(mos_train_origins(grid, cutoffs, nwp, horizon)) if not nwp.empty else 0
    with_nwp = with_complete_nwp(grid, test_origins, nwp, horizon) if not nwp.empty else test_origins[:0]
    if n_train < MIN_NWP_ORIGINS or len(with_nwp) == 0:
        why = (
            f"NWP models left out: {n_train} training and {len(with_nwp)} test origins have NWP for leads "
            f"1..{horizon} (need >= {MIN_NWP_ORIGINS} and >= 1); fetch past runs (nwp.history_runs_from)"
        )
        return None, test_origins, why
    return nwp, with_nwp, None


def register_nwp_baselines(
    config: PipelineConfig, station_id: str, grid: HourlyGrid, cutoffs: Cutoffs, nwp: pd.DataFrame
) -> dict[str, registry.ModelVersion]:
    """Fit `nwp` (nothing to fit) and `nwp_mos` (per-lead fit on training origins); register when params change."""
    store = st.Store(config.data_dir)
    horizon = config.training.horizon_steps
    train = mos_train_origins(grid, cutoffs, nwp, horizon)
    y = grid.speed[train[:, None] + np.arange(1, horizon + 1)[None, :]]
    model = config.station(station_id).nwp.model
    params = {
        "nwp": {"weather_model": model},
        "nwp_mos": {"weather_model": model, **fit_nwp_mos(align_nwp(nwp, grid.times[train], horizon), y)},
    }
    versions = {}
    for name, p in params.items():
        existing = registry.list_versions(store, station_id, name)
        if existing and json.loads((existing[-1].path / PARAMS_FILE).read_text()) == p:
            versions[name] = existing[-1]
            continue
        write = lambda folder, p=p: (folder / PARAMS_FILE).write_text(json.dumps(p))  # noqa: E731
        versions[name] = registry.register(store, station_id, name, write, {"cutoffs": cutoffs.to_dict(), "params": p})
    return versions


def nwp_baseline_forecast(kind: str, params: dict, aligned: AlignedNwp) -> np.ndarray:
    """(N, H) forecasts of an NWP baseline from NWP aligned to the origins."""
    return nwp_forecast(aligned) if kind == "nwp" else nwp_mos_forecast(aligned, params)


def write_fallback(store: st.Store, station_id: str, version: registry.ModelVersion, rmse_ms: float) -> None:
    """Record the station's best measurement-only model of the latest backtest."""
    pointer = {"kind": version.kind, "version": version.version, "rmse_ms": rmse_ms}
    st.atomic_write_bytes(registry.registry_dir(store, station_id) / FALLBACK_FILE, json.dumps(pointer).encode())


def read_fallback(store: st.Store, station_id: str) -> registry.ModelVersion | None:
    """The measurement-only model to forecast with when the NWP is missing or stale (None before a backtest)."""
    path = registry.registry_dir(store, station_id) / FALLBACK_FILE
    if not path.exists():
        return None
    pointer = json.loads(path.read_text())
    return registry.get_version(store, station_id, pointer["kind"], pointer["version"])


def nwp_at_origin(
    config: PipelineConfig, station_id: str, origin_time: pd.Timestamp
) -> tuple[AlignedNwp | None, str | None]:
    """(NWP aligned to one origin, None) when the latest issue at or before it is fresh and complete, else
    (None, why not)."""
    station = config.station(station_id)
    rows = station_nwp(config, station_id)
    if rows is None or rows.empty:
        return None, "no NWP issue stored"
    horizon, max_age = config.training.horizon_steps, station.nwp.max_issue_age_hours
    aligned = align_nwp(rows, [origin_time], horizon)
    issued = aligned.issued_at[0]
    if pd.isna(issued):
        return None, f"no NWP issue at or before the origin {origin_time}"
    age_h = (origin_time - issued) / pd.Timedelta("1h")
    if age_h > max_age:
        return None, f"the latest NWP issue {issued} is {age_h:,.0f} h old at the origin (limit {max_age:g} h)"
    if not aligned.complete[0]:
        return None, f"the latest NWP issue {issued} does not cover leads 1..{horizon} from the origin"
    return aligned, None
