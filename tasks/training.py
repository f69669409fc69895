"""Train networks on the store's measurements and register them (plain functions; Prefect tasks wrap them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.checkpoint import save_fit
from models.training import EpochCallback, FitResult, ForecasterConfig, fit_forecaster
from models.windows import Cutoffs, make_cutoffs
from tasks import registry
from tasks import store as st
from tasks.plots import plot_loss_curves
from windcast.config import BacktestSettings, PipelineConfig, TrainingSettings

CHECKPOINT_FILE = "model.pt"


@dataclass
class TrainSummary:
    """What one training run produced, small enough for artifacts and task results."""

    kind: str
    station_ids: list[str]
    versions: dict[str, int]  # station id -> registry version
    epochs: int
    best_epochs: list[int]
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # scalar val/test metrics
    train_loss: list[float] = field(default_factory=list)  # member 0, per epoch
    val_loss: list[float] = field(default_factory=list)


def split_fractions(backtest: BacktestSettings) -> tuple[float, float, float]:
    """(train, validation, test) fractions of a station's observed hours."""
    return (
        backtest.train_fraction,
        backtest.val_fraction,
        round(1 - backtest.train_fraction - backtest.val_fraction, 9),
    )


def station_cutoffs(frame, backtest: BacktestSettings) -> Cutoffs:
    """The station's train/validation/test cutoffs: training and backtest use exactly these."""
    observed = frame["time"][np.isfinite(frame["wind_speed_ms"].to_numpy())]
    return make_cutoffs(observed.array, split_fractions(backtest))


def forecaster_config(
    training: TrainingSettings, kind: str, backtest: BacktestSettings, concurrent_jobs: int = 1
) -> ForecasterConfig:
    """The models-layer config for one network kind (one CPU thread each when several trainings share the CPU:
    torch's intra-op threads of concurrent fits otherwise fight over the cores and run many times slower)."""
    threads = training.num_threads or (1 if concurrent_jobs > 1 else None)
    return ForecasterConfig(
        kind=kind,
        lookback_steps=training.lookback_steps,
        horizon_steps=training.horizon_steps,
        hidden_size=training.hidden_size,
        num_layers=training.num_layers,
        dropout=training.dropout,
        quantiles=tuple(training.quantiles),
        autoregressive=training.autoregressive,
        n_members=training.n_members,
        max_epochs=training.max_epochs,
        patience=training.patience,
        batch_size=training.batch_size,
        windows_per_epoch=training.windows_per_epoch,
        num_threads=threads,
        learning_rate=training.learning_rate,
        init_weights=training.init_weights,
        finetune_learning_rate=training.finetune_learning_rate,
        pretrained_max_hours=training.pretrained_max_hours,
        seed=training.seed,
        device=training.device,
        precision=training.precision,
        split_fractions=split_fractions(backtest),
    )


def load_frames(config: PipelineConfig, station_ids: list[str]) -> dict:
    """Curated measurements per station, with a clear error for a station the store does not hold."""
    store = st.Store(config.data_dir)
    frames = {}
    for sid in station_ids:
        frame = st.read_measurements(store, sid)
        if frame.empty:
            raise ValueError(f"station {sid!r}: no curated measurements in {store.measurements_dir}; ingest first")
        frames[sid] = frame
    return frames


def train_and_register(
    config: PipelineConfig,
    station_ids: list[str],
    kind: str,
    callback: EpochCallback | None = None,
    concurrent_jobs: int = 1,
    use_nwp: bool = False,
) -> TrainSummary:
    """Fit one network of ``kind`` on the stations (one model over all of them) and register it per station.

    With ``use_nwp`` the network also reads the stations' NWP at the target hours and is registered as
    ``<kind>_nwp`` (see tasks/nwp_models.py).
    """
    from tasks.nwp_models import NWP_SUFFIX, require_nwp

    frames = load_frames(config, station_ids)
    cutoffs = {sid: station_cutoffs(frame, config.backtest) for sid, frame in frames.items()}
    nwp = require_nwp(config, station_ids) if use_nwp else None
    started = time.perf_counter()
    settings = forecaster_config(config.training, kind, config.backtest, concurrent_jobs)
    fit = fit_forecaster(frames, settings, cutoffs, callback, nwp=nwp)
    kind = kind + NWP_SUFFIX if use_nwp else kind
    seconds = time.perf_counter() - started
    store = st.Store(config.data_dir)
    member0 = [e for e in fit.history if e.member == 0]
    versions = {}
    for sid in station_ids:
        meta = {
            "stations": station_ids,
            "cutoffs": {s: c.to_dict() for s, c in fit.cutoffs.items()},
            "training_window": fit.training_window,
            "best_epochs": fit.best_epochs,
            "n_windows": fit.n_windows,
            "init_weights": fit.init_weights,  # the pretrained checkpoint training started from, None: fresh
            "skip": fit.skip_choice,  # the skip ridge's lags, penalty and centre ("persistence": the linear baseline)
            "feature_names": fit.feature_names,
            "metrics": _scalar_metrics(fit),
            "seconds": round(seconds, 2),
            "train_loss": [e.train_loss for e in member0],
            "val_loss": [e.val_loss for e in member0],
        }
        version = registry.register(store, sid, kind, lambda folder: save_fit(folder / CHECKPOINT_FILE, fit), meta)
        versions[sid] = version.version
    return TrainSummary(
        kind=kind,
        station_ids=station_ids,
        versions=versions,
        epochs=len(member0),
        best_epochs=fit.best_epochs,
        seconds=round(seconds, 2),
        metrics=_scalar_metrics(fit),
        train_loss=[e.train_loss for e in member0],
        val_loss=[e.val_loss for e in member0],
    )


def _scalar_metrics(fit: FitResult) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in fit.metrics.items() if isinstance(v, (int, float))}


def training_groups(config: PipelineConfig) -> list[list[str]]:
    """Station groups that share one model: all stations together, or one group per station."""
    ids = [s.id for s in config.stations]
    return [ids] if config.training.multi_station else [[sid] for sid in ids]


def loss_plot(summaries: list[TrainSummary], title: str) -> bytes:
    """The loss curves of several training runs in one PNG."""
    curves = {f"{s.kind} {'+'.join(s.station_ids)}": (s.train_loss, s.val_loss) for s in summaries}
    return plot_loss_curves(curves, title)


def checkpoint_path(version: registry.ModelVersion) -> Path:
    """The checkpoint file of a registered network."""
    return version.path / CHECKPOINT_FILE
