"""Fit recurrent forecasters on stations' measurements and predict from them, in physical units.

Entry points: `fit_forecaster(frames, config, cutoffs)` -> `FitResult`, and `predict(forecaster, frame,
origin_times)` -> (N, H) or (N, H, Q) m/s. `train_network` is the loop itself (AdamW, one-cycle LR, gradient
clipping, early stopping with the best weights restored, a stop on a non-finite loss).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from models.baselines import evenly_spaced
from models.device import configure_backend, pick_device, use_bf16, use_bf16_inference
from models.features import (
    FeatureSpec,
    choose_feature_spec,
    fit_hour_climatology,
    make_feature_matrix,
    to_regular_grid,
)
from models.networks import ForecastEnsemble, NetworkConfig, forecast_loss
from models.nwp import NWP_FEATURE_NAMES, AlignedNwp, align_nwp, nwp_features, refuse_future_issues
from models.scaling import Scaler, fit_scaler
from models.skip import SKIP_CENTRES, init_skip_path, refit_skip_path
from models.warm_start import load_pretrained, read_pretrained, resolve_init_weights
from models.windows import SPLIT_FRACTIONS, Cutoffs, WindowSet, build_window_set, history_view, make_cutoffs

log = logging.getLogger("windcast.models.training")
# windows per forecasting pass: torch's recurrent layers write (windows, lookback, gates * hidden) per call, so
# 4,096 windows of 168 steps stream ~260 MB per member; 512 keep it near the cache (docs/benchmarks.md, issue 13)
PREDICT_BATCH_WINDOWS = 512


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


@dataclass
class ForecasterConfig:
    """Everything `fit_forecaster` needs; defaults are tuned for hourly station data on a CPU."""

    kind: str = "gru"  # gru | lstm | rnn | cnn | cnn_lstm | fclstm
    lookback_steps: int = 168
    horizon_steps: int = 24
    hidden_size: int = 32  # 32 matches 64 in skill on the sample at 2-3x the speed
    num_layers: int = 1
    dropout: float = 0.0
    quantiles: tuple[float, ...] = ()  # e.g. (0.1, 0.5, 0.9); () = point forecast trained on MSE
    autoregressive: bool = False
    n_members: int = 3  # seed ensemble: on the sample it turned a loss to the blend (mast) into a 1 % win
    max_epochs: int = 20
    patience: int = 4  # epochs without a better validation loss before stopping
    batch_size: int = 256
    windows_per_epoch: int = 2048  # training windows sampled per epoch (0: all); stride-1 windows overlap
    max_val_windows: int = 4096  # validation windows scored per epoch, evenly spaced (0: all)
    learning_rate: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cuda | mps | cpu
    precision: str = "auto"  # auto (bf16 where CUDA or the CPU runs it natively, see models.device) | fp32 | bf16
    num_threads: int | None = None  # CPU threads; None leaves torch's setting
    day_of_year: bool | None = None  # None: only when training covers every month in >= 2 years
    climatology_anchor: bool = True  # hour-of-day climatology channel + blend baseline under the head
    anchor_tau_steps: float = 12.0  # initial e-folding time (steps) of the blend weights
    linear_skip: bool = True  # a frozen closed-form ridge skip path on top of the blend (models/skip.py)
    refit_skip: bool = True  # after early stopping, re-solve the skip ridge on training + validation windows
    skip_per_lead: bool = False  # the skip ridge's lags and penalty chosen per lead (lost on 3-month records)
    skip_centres: tuple[str, ...] = SKIP_CENTRES  # what the skip ridge may shrink towards, chosen on validation
    init_weights: str | None = "auto"  # pretrained start: auto (the bundled checkpoint that fits) | a path | None
    finetune_learning_rate: float = 3e-4  # peak learning rate when starting from pretrained weights
    pretrained_max_hours: int = 4380  # pretrained start only below this many observed training hours per station
    split_fractions: tuple[float, float, float] = SPLIT_FRACTIONS

    def __post_init__(self) -> None:
        for name in ("lookback_steps", "horizon_steps", "max_epochs", "batch_size", "n_members"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("patience", "windows_per_epoch", "max_val_windows", "pretrained_max_hours"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("learning_rate", "finetune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        unknown = sorted(set(self.skip_centres) - set(SKIP_CENTRES))
        if not self.skip_centres or unknown:
            raise ValueError(f"skip_centres must be a non-empty subset of {SKIP_CENTRES}, got {self.skip_centres!r}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip!r}")
        if self.climatology_anchor and self.lookback_steps < 24:
            raise ValueError(
                f"lookback_steps {self.lookback_steps} must be >= 24 with climatology_anchor (it reads the "
                "climatology of each target hour one day back in the history)"
            )
        self.network_config(n_features=1)  # validates kind, sizes, dropout and quantiles early

    def network_config(
        self, n_features: int, cyclic_pairs=(), anchor_channel: int = -1, n_future: int = 0
    ) -> NetworkConfig:
        """The network hyperparameters for a given number of input channels."""
        return NetworkConfig(
            anchor_channel=anchor_channel, anchor_tau_steps=self.anchor_tau_steps, n_future=n_future,
            kind=self.kind, n_features=n_features, hidden_size=self.hidden_size, num_layers=self.num_layers,
            dropout=self.dropout, horizon_steps=self.horizon_steps, quantiles=tuple(self.quantiles),
            autoregressive=self.autoregressive, cyclic_pairs=tuple(cyclic_pairs), n_members=self.n_members,
            skip_lags=self.lookback_steps if self.linear_skip and not self.autoregressive else 0,
        )  # fmt: skip


@dataclass
class EpochStats:
    """One epoch of one ensemble member, as logged and passed to the callback."""

    member: int
    epoch: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    lr: float
    seconds: float


@dataclass
class Forecaster:
    """A trained network with what it needs to read raw measurements: scaler, feature spec, window sizes."""

    model: ForecastEnsemble
    scaler: Scaler
    features: FeatureSpec
    lookback_steps: int
    horizon_steps: int
    climatology: dict[str, list[float]] = field(default_factory=dict)  # station -> 24 hourly means (m/s)
    freq: str = "1h"
    nwp_scaler: Scaler | None = None  # scales the NWP_FEATURE_NAMES inputs of the head; None: no NWP input

    @property
    def uses_nwp(self) -> bool:
        """True when the network reads NWP at the target hours (and predict needs it)."""
        return self.nwp_scaler is not None

    @property
    def quantiles(self) -> tuple[float, ...]:
        """Quantile levels of the output's last axis; () for a point forecast."""
        return self.model.config.quantiles


@dataclass
class FitResult:
    """What `fit_forecaster` returns: the forecaster plus its training record."""

    forecaster: Forecaster
    history: list[EpochStats]
    best_epochs: list[int]  # per ensemble member, 1-based
    cutoffs: dict[str, Cutoffs]  # per station
    training_window: dict[str, str]  # {"start": iso, "end": iso} of the training rows over all stations
    metrics: dict[str, float | list[float]]  # val/test RMSE (m/s), persistence RMSE and skill on the same windows
    n_windows: dict[str, int] = field(default_factory=dict)  # train/val/test window counts
    skip_start: list[torch.Tensor] | None = None  # per member, the skip weights before the refit (None: no refit)
    init_weights: str | None = None  # the checkpoint training started from (file name), None: a fresh start
    skip_choice: dict | None = None  # the skip ridge chosen on validation: n_lags, alpha, centre, val_mse

    @property
    def feature_names(self) -> list[str]:
        """Input channel names in matrix order."""
        return self.forecaster.features.names

    def history_frame(self) -> pd.DataFrame:
        """One row per (member, epoch): train_loss, val_loss, best_val_loss, best_epoch, lr, seconds."""
        return pd.DataFrame([dataclasses.asdict(s) for s in self.history])


EpochCallback = Callable[[EpochStats], None]


def train_network(
    model: torch.nn.Module,
    windows: WindowSet,
    config: ForecasterConfig,
    *,
    member: int = 0,
    device: torch.device | None = None,
    callback: EpochCallback | None = None,
) -> tuple[list[EpochStats], int]:
    """Train in place on windows.starts["train"], early-stop on ["val"]; returns (history, best epoch)."""
    device = device or pick_device(config.device)
    bf16 = use_bf16(device, config.precision)
    bf16_eval = use_bf16_inference(device, config.precision)  # validated as `predict` will forecast
    quantiles = tuple(model.config.quantiles)
    rng = np.random.default_rng([config.seed, member])
    train, val = windows.starts["train"], evenly_spaced(windows.starts["val"], config.max_val_windows)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"need training and validation windows, got {len(train)} and {len(val)}")
    per_epoch = len(train) if config.windows_per_epoch == 0 else min(len(train), config.windows_per_epoch)
    steps = -(-per_epoch // config.batch_size)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.learning_rate, total_steps=config.max_epochs * steps, pct_start=0.15
    )
    history, best_loss, best_epoch, best_state = [], float("inf"), 0, None
    if model.config.skip_lags:  # the start is a fitted linear model: training must beat it on validation
        best_loss, best_state = (
            evaluate_loss(model, windows, val, device=device, bf16=bf16_eval),  # same precision as the epochs
            copy.deepcopy(model.state_dict()),
        )
    for epoch in range(1, config.max_epochs + 1):
        t0, lr = time.perf_counter(), opt.param_groups[0]["lr"]
        model.train()
        chosen = rng.permutation(train)[:per_epoch]
        total = 0.0
        for b in range(steps):
            batch = chosen[b * config.batch_size : (b + 1) * config.batch_size]
            x, y = windows.gather(batch)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            f = _to(windows.gather_future(batch), device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                pred = model(x, f)
            loss = forecast_loss(pred.float(), y, quantiles)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"training loss is {loss.item()} at epoch {epoch}, batch {b + 1}: "
                    f"check the inputs or lower learning_rate (now {config.learning_rate})"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            total += loss.item() * len(y)
        val_loss = evaluate_loss(model, windows, val, device=device, bf16=bf16_eval)
        if not np.isfinite(val_loss):
            raise NonFiniteLossError(f"validation loss is {val_loss} at epoch {epoch}")
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        stats = EpochStats(member, epoch, total / per_epoch, val_loss, best_loss, best_epoch, lr,
                           time.perf_counter() - t0)  # fmt: skip
        history.append(stats)
        log.info(
            "member %d epoch %d/%d train %.4f val %.4f (best %.4f @%d) lr %.2e %.1fs", member, epoch,
            config.max_epochs, stats.train_loss, val_loss, best_loss, best_epoch, lr, stats.seconds,
        )  # fmt: skip
        if callback is not None:
            callback(stats)
        if epoch - best_epoch >= max(config.patience, 1):
            break
    model.load_state_dict(best_state)
    return history, best_epoch


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module,
    windows: WindowSet,
    starts: np.ndarray,
    *,
    device: torch.device,
    bf16: bool = False,
) -> float:
    """Mean training loss of the model over the given windows, in eval mode."""
    model.eval()
    quantiles, total = tuple(model.config.quantiles), 0.0
    for chunk in np.array_split(starts, max(1, -(-len(starts) // 2048))):
        x, y = windows.gather(chunk)
        f = _to(windows.gather_future(chunk), device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x.to(device), f)
        total += forecast_loss(pred.float(), y.to(device), quantiles).item() * len(chunk)
    return total / len(starts)


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device, non_blocking=True)


def fit_forecaster(
    frames: Mapping[str, pd.DataFrame],
    config: ForecasterConfig | None = None,
    cutoffs: Cutoffs | Mapping[str, Cutoffs] | None = None,
    callback: EpochCallback | None = None,
    nwp: Mapping[str, pd.DataFrame] | None = None,
) -> FitResult:
    """Train one forecaster on one or more stations' curated measurements (one model over all their windows).

    Args:
        frames: station id -> DataFrame with `time` (UTC), `wind_speed_ms`, optional `wind_dir_deg`,
            `wind_gust_ms`; gaps are missing rows.
        config: hyperparameters; None uses the defaults.
        cutoffs: one `Cutoffs` for every station, one per station id, or None for `make_cutoffs` on each
            station's observed hours with `config.split_fractions` (default 70/10/20).
        callback: called with an `EpochStats` after every epoch (e.g. to publish progress).
        nwp: station id -> NWP rows of one weather model (the `nwp/` columns); given, the network reads the
            NWP at each target hour, aligned per origin by the issue-time rule (`models.nwp.align_nwp`), and
            windows whose origin has no complete NWP are left out.
    """
    config = config or ForecasterConfig()
    if not frames:
        raise ValueError("frames is empty: need at least one station's measurements")
    device = pick_device(config.device)
    configure_backend(device, config.num_threads)
    grids = {sid: to_regular_grid(f, name=sid) for sid, f in frames.items()}
    cuts = {sid: _station_cutoffs(sid, g, cutoffs, config.split_fractions) for sid, g in grids.items()}
    stops = [cuts[sid].stops(g.index) for sid, g in grids.items()]
    train_grids = {sid: g.iloc[:stop] for (sid, g), (stop, _) in zip(grids.items(), stops, strict=True)}
    spec = choose_feature_spec(list(train_grids.values()), config.day_of_year, config.climatology_anchor)
    clim = {sid: fit_hour_climatology(g) for sid, g in train_grids.items()} if spec.climatology else {}
    raw = [make_feature_matrix(g, spec, clim.get(sid)) for sid, g in grids.items()]
    train_rows = [m[:stop] for m, (stop, _) in zip(raw, stops, strict=True)]
    scaler = fit_scaler(train_rows, spec.scaled_channels, spec.tied_channels)
    futures, nwp_scaler = None, None
    if nwp is not None:
        missing = sorted(set(grids) - set(nwp))
        if missing:
            raise ValueError(f"nwp lacks stations {missing}: every station of an NWP-fed model needs NWP")
        futures = [_nwp_inputs(nwp[sid], g.index, config.horizon_steps, "1h") for sid, g in grids.items()]
        nwp_scaler = _fit_nwp_scaler([f[:stop] for f, (stop, _) in zip(futures, stops, strict=True)])
        futures = [nwp_scaler.transform(f) for f in futures]
    windows = build_window_set(
        [scaler.transform(m) for m in raw], stops, config.lookback_steps, config.horizon_steps, futures
    )
    counts = {k: len(v) for k, v in windows.starts.items()}
    if counts["train"] == 0 or counts["val"] == 0:
        raise ValueError(
            f"stations {sorted(grids)}: need gap-free windows of {config.lookback_steps}+"
            f"{config.horizon_steps} hours in training and validation, "
            f"got {counts['train']} and {counts['val']}"
        )
    torch.manual_seed(config.seed)
    n_future = len(NWP_FEATURE_NAMES) if futures is not None else 0
    model = ForecastEnsemble(config.network_config(len(spec.names), spec.cyclic_pairs, spec.anchor_channel, n_future))
    pretrained = resolve_init_weights(config.init_weights, config.kind, config.hidden_size, config.num_layers)
    if _observed_hours(train_grids) >= config.pretrained_max_hours:
        pretrained = None  # enough of the station's own data: the pretrained start lost there (docs/models.md)
    if pretrained is not None:  # before the skip path: its ridge corrects the loaded blend, not the fresh one
        load_pretrained(model, read_pretrained(pretrained), spec.names)
        config = dataclasses.replace(config, learning_rate=config.finetune_learning_rate)
    choice = None
    if model.config.skip_lags:  # not for an autoregressive network
        choice = init_skip_path(model, windows, config.skip_per_lead, tuple(config.skip_centres))
        log.info("linear skip path: %s", choice)
    history, best = [], []
    for i, member in enumerate(model.members):
        torch.manual_seed(config.seed + 1009 * i)  # dropout stream per member
        h, b = train_network(member, windows, config, member=i, device=device, callback=callback)
        history += h
        best.append(b)
    model.to("cpu").eval()
    skip_start = None
    if model.config.skip_lags and config.refit_skip and not model.config.quantiles:
        skip_start = [m.skip.weight.detach().clone() for m in model.members]
        log.info("skip path refitted on training + validation: %s", refit_skip_path(model, windows, choice))
    forecaster = Forecaster(model, scaler, spec, config.lookback_steps, config.horizon_steps, clim,
                            nwp_scaler=nwp_scaler)  # fmt: skip
    starts_train = [g.index[0] for g in grids.values()]
    window = {
        "start": min(starts_train).isoformat(),
        "end": max(c.train_end for c in cuts.values()).isoformat(),
    }
    bf16 = use_bf16_inference(torch.device("cpu"), config.precision)  # scored as `predict` scores it
    metrics = {k: v for split in ("val", "test") for k, v in _window_metrics(forecaster, windows, split, bf16).items()}
    start = None if pretrained is None else pretrained.name
    return FitResult(forecaster, history, best, cuts, window, metrics, counts, skip_start, start, choice)


def _observed_hours(grids: Mapping[str, pd.DataFrame]) -> float:
    """Observed (non-missing speed) hours per station, the mean over stations."""
    return float(np.mean([np.isfinite(g["wind_speed_ms"].to_numpy()).sum() for g in grids.values()]))


def _nwp_inputs(nwp: pd.DataFrame, origin_times, horizon_steps: int, freq: str) -> np.ndarray:
    """(N, H, K) unscaled NWP inputs for origins, by the issue-time rule; NaN where no issue covers a lead."""
    return nwp_features(align_nwp(nwp, origin_times, horizon_steps, freq).values)


def _fit_nwp_scaler(train_futures: list[np.ndarray]) -> Scaler:
    """Standardise the NWP speed on training origins; its direction's sin/cos pass through."""
    flat = [f.reshape(-1, f.shape[-1]) for f in train_futures]
    return fit_scaler(flat, [NWP_FEATURE_NAMES.index("nwp_wind_speed_ms")])


def _station_cutoffs(sid: str, grid: pd.DataFrame, cutoffs, fractions) -> Cutoffs:
    if cutoffs is None:
        return make_cutoffs(grid.index[np.isfinite(grid["wind_speed_ms"].to_numpy())], fractions)
    if isinstance(cutoffs, Mapping):
        if sid not in cutoffs:
            raise ValueError(f"cutoffs lack station {sid!r}, have {sorted(cutoffs)}")
        return cutoffs[sid]
    return cutoffs


@torch.no_grad()
def _predict_scaled(
    model: torch.nn.Module,
    x_view: torch.Tensor,
    starts: np.ndarray,
    batch: int,
    future: torch.Tensor | None = None,
    bf16: bool = False,
) -> np.ndarray:
    # x_view (N, L, F) strided view, future (len(starts), H, K) or None; returns (len(starts), H[, Q]) scaled
    model.eval()
    device = next(model.parameters()).device
    out = []
    for pos in np.array_split(np.arange(len(starts)), max(1, -(-len(starts) // batch))):
        x = x_view[torch.as_tensor(starts[pos], dtype=torch.long)].to(device)
        f = None if future is None else future[torch.as_tensor(pos, dtype=torch.long)].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(x, f).float().cpu().numpy())
    return np.concatenate(out, axis=0)


def _window_metrics(
    forecaster: Forecaster, windows: WindowSet, split: str, bf16: bool = False
) -> dict[str, float | list[float]]:
    """RMSE by lead (m/s) of the forecaster's median and of persistence on one split's windows."""
    starts = windows.starts[split]
    if len(starts) == 0:
        return {}
    scaled = _predict_scaled(forecaster.model, windows.x_view, starts, 2048, windows.gather_future(starts), bf16)
    if forecaster.quantiles:
        scaled = scaled[..., forecaster.quantiles.index(0.5)]
    inv = forecaster.scaler.inverse_channel
    pred = np.clip(inv(scaled), 0, None)
    y = inv(windows.y_view[torch.as_tensor(starts + windows.lookback_steps)].numpy())
    last = inv(windows.values[starts + windows.lookback_steps - 1, 0])
    rmse = np.sqrt(((pred - y) ** 2).mean(axis=0))
    rmse_p = np.sqrt(((last[:, None] - y) ** 2).mean(axis=0))
    return {
        f"{split}_rmse_ms": float(np.sqrt((rmse**2).mean())),
        f"{split}_rmse_persistence_ms": float(np.sqrt((rmse_p**2).mean())),
        f"{split}_skill": float(np.mean(1 - rmse / rmse_p)),
        f"{split}_rmse_by_lead_ms": rmse.tolist(),
        f"{split}_rmse_persistence_by_lead_ms": rmse_p.tolist(),
    }


def predict(
    forecaster: Forecaster,
    frame: pd.DataFrame,
    origin_times,
    station_id: str | None = None,
    batch_size: int = PREDICT_BATCH_WINDOWS,
    nwp: pd.DataFrame | AlignedNwp | None = None,
    precision: str = "auto",
) -> np.ndarray:
    """Forecasts in m/s (>= 0) from each origin: (N, H), or (N, H, Q) for a quantile model.

    Args:
        forecaster: from `fit_forecaster(...).forecaster` or `load_checkpoint`.
        frame: the station's curated measurements covering every origin's lookback window.
        origin_times: N origin times (the start of each origin's last observed hour); lead h targets
            origin + h steps. Each needs `lookback_steps` gap-free hours ending at it, else ValueError.
        station_id: whose training climatology to use; may be left out when the model knows one station.
        nwp: for an NWP-fed forecaster: the station's NWP rows of its weather model (aligned here by the
            issue-time rule), or an `AlignedNwp` for exactly these origins, refused if any issue is after
            its origin. Every origin needs NWP at all H target hours, else ValueError.
        precision: "auto" (bf16 autocast on CUDA, float32 on CPUs: see `use_bf16_inference`), "fp32" or "bf16".
    """
    grid = to_regular_grid(frame, forecaster.freq)
    origins = pd.DatetimeIndex(origin_times)
    origins = origins.tz_convert("UTC") if origins.tz is not None else origins.tz_localize("UTC")
    rows = grid.index.get_indexer(origins)
    lookback = forecaster.lookback_steps
    starts = rows - lookback + 1
    bad = np.flatnonzero((rows < 0) | (starts < 0))
    if len(bad):
        raise ValueError(
            f"origin {origins[bad[0]]} needs {lookback} hours of history on the grid "
            f"{grid.index[0]} .. {grid.index[-1]}"
        )
    clim = _station_climatology(forecaster, station_id)
    values = forecaster.scaler.transform(make_feature_matrix(grid, forecaster.features, clim))  # (T, F)
    missing = np.concatenate([[0], np.cumsum(~np.isfinite(values).all(axis=1))])
    gappy = np.flatnonzero(missing[rows + 1] - missing[starts] > 0)
    if len(gappy):
        raise ValueError(f"origin {origins[gappy[0]]}: its {lookback}-hour history has gaps")
    if len(origins) == 0:
        q = len(forecaster.quantiles)
        return np.zeros((0, forecaster.horizon_steps) + ((q,) if q else ()))
    future = _future_for(forecaster, nwp, origins)
    x_view = torch.from_numpy(history_view(values, lookback))  # (T-L+1, L, F) view
    device = next(forecaster.model.parameters()).device
    bf16 = use_bf16_inference(device, precision)
    scaled = _predict_scaled(forecaster.model, x_view, starts, batch_size, future, bf16)
    return np.clip(forecaster.scaler.inverse_channel(scaled.astype(np.float64)), 0.0, None)


def _future_for(forecaster: Forecaster, nwp, origins: pd.DatetimeIndex) -> torch.Tensor | None:
    """Scaled NWP inputs (N, H, K) for the origins, with the issue-time guard; None for a measurement-only model."""
    if not forecaster.uses_nwp:
        if nwp is not None:
            raise ValueError("this forecaster was trained without NWP inputs; do not pass nwp")
        return None
    if nwp is None:
        raise ValueError("this forecaster reads NWP at the target hours: pass the station's nwp rows")
    if not isinstance(nwp, AlignedNwp):
        nwp = align_nwp(nwp, origins, forecaster.horizon_steps, forecaster.freq)
    refuse_future_issues(nwp, origins)
    if not nwp.complete.all():
        bad = int(np.flatnonzero(~nwp.complete)[0])
        raise ValueError(
            f"origin {origins[bad]}: the latest NWP issue at or before it ({nwp.issued_at[bad]}) does not cover "
            f"leads 1..{forecaster.horizon_steps}"
        )
    return torch.from_numpy(forecaster.nwp_scaler.transform(nwp_features(nwp.values)))


def _station_climatology(forecaster: Forecaster, station_id: str | None) -> list[float] | None:
    known = forecaster.climatology
    if not forecaster.features.climatology:
        return None
    if station_id is None:
        if len(known) != 1:
            raise ValueError(f"this model knows stations {sorted(known)}: pass station_id to predict")
        return next(iter(known.values()))
    if station_id not in known:
        raise ValueError(f"station {station_id!r} was not in this model's training set {sorted(known)}")
    return known[station_id]
