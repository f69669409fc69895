"""Forecasters (GRU, LSTM, Elman RNN, and from models.encoders a Conv1d CNN, CNN-LSTM and peephole FC-LSTM)
with a direct multi-horizon head on the last hidden state (the last convolutional feature for the CNN).

The head predicts a correction to a baseline and starts at zero. The baseline is the persistence-to-
climatology blend `p + (1 - w_h) * (c_{t+h} - p)` when an anchor channel (the hour-of-day climatology) is
given, with per-lead weights w_h learnt from exp(-h / tau); otherwise persistence p. So an untrained network
is the reference forecasters must beat, and training moves away from it only where the data supports it.
Optional quantile output keeps quantiles ordered by construction: a median plus cumulative softplus offsets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.encoders import ENCODERS

KINDS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN, **ENCODERS}


@dataclass
class NetworkConfig:
    """Hyperparameters of one recurrent forecaster (plain values only, so checkpoints can hold them)."""

    kind: str = "gru"  # gru | lstm | rnn | cnn | cnn_lstm | fclstm
    n_features: int = 5  # F, input channels; channel `target_channel` is the scaled target
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers and before the head
    horizon_steps: int = 24  # H
    quantiles: tuple[float, ...] = ()  # () -> point forecast (B, H); else (B, H, Q), must contain 0.5
    autoregressive: bool = False  # roll one step at a time on its own predictions (the tutorials' way)
    residual: bool = True  # predict the change from the last observed target value
    target_channel: int = 0
    cyclic_pairs: tuple[tuple[int, int, float], ...] = ()  # (sin idx, cos idx, period steps), rolled in AR mode
    n_members: int = 1  # seed ensemble size; members' outputs are averaged
    anchor_channel: int = -1  # channel holding the hour-of-day climatology (scaled like the target); -1: none
    anchor_period_steps: int = 24  # the anchor repeats with this period, so c_{t+h} = c_{t+h-period}
    anchor_tau_steps: float = 12.0  # initial e-folding time of the blend weights
    n_future: int = 0  # K, future-known inputs per target hour (NWP) read by the head; 0: none
    skip_lags: int = 0  # > 0: a linear skip path (last skip_lags target values + hour of day) adds to the base

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {sorted(KINDS)}")
        for name in ("n_features", "hidden_size", "num_layers", "horizon_steps", "n_members"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not -1 <= self.anchor_channel < self.n_features:
            raise ValueError(f"anchor_channel {self.anchor_channel!r} is outside -1..{self.n_features - 1}")
        if self.anchor_period_steps < 1 or not self.anchor_tau_steps > 0:
            raise ValueError(
                f"anchor_period_steps {self.anchor_period_steps!r} must be >= 1 and "
                f"anchor_tau_steps {self.anchor_tau_steps!r} > 0"
            )
        if self.n_future < 0 or (self.n_future and self.autoregressive):
            raise ValueError(f"n_future {self.n_future!r} must be >= 0, and 0 for an autoregressive network")
        if self.skip_lags < 0 or (self.skip_lags and self.autoregressive):
            raise ValueError(f"skip_lags must be >= 0 and 0 for an autoregressive network, got {self.skip_lags!r}")
        if not 0 <= self.target_channel < self.n_features:
            raise ValueError(f"target_channel {self.target_channel!r} is outside 0..{self.n_features - 1}")
        q = tuple(float(v) for v in self.quantiles)
        if q and (0.5 not in q or any(not 0 < v < 1 for v in q) or list(q) != sorted(set(q))):
            raise ValueError(f"quantiles {self.quantiles!r} must be strictly increasing in (0, 1) and contain 0.5")
        self.quantiles = q
        self.cyclic_pairs = tuple((int(s), int(c), float(p)) for s, c, p in self.cyclic_pairs)

    @property
    def n_outputs(self) -> int:
        """Q: values per lead (1 for a point forecast)."""
        return max(1, len(self.quantiles))

    def to_dict(self) -> dict:
        """Plain dict (lists instead of tuples) for a checkpoint."""
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        d["cyclic_pairs"] = [list(p) for p in self.cyclic_pairs]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        """Rebuild from `to_dict` output."""
        return cls(**d)


def order_quantiles(raw: torch.Tensor, median_index: int) -> torch.Tensor:
    """Monotone quantiles (..., Q) from raw outputs (..., Q): median plus cumulative softplus offsets."""
    center = raw[..., median_index : median_index + 1]  # (..., 1)
    up = center + torch.cumsum(F.softplus(raw[..., median_index + 1 :]), dim=-1)
    down = center - torch.cumsum(F.softplus(raw[..., :median_index]).flip(-1), dim=-1).flip(-1)
    return torch.cat([down, center, up], dim=-1)


class RecurrentForecaster(nn.Module):
    """Encoder (any of KINDS) + linear head on the last hidden state; direct or autoregressive."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = KINDS[c.kind](
            c.n_features,
            c.hidden_size,
            c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(c.dropout)
        steps = 1 if c.autoregressive else c.horizon_steps
        self.head = nn.Linear(c.hidden_size, steps * c.n_outputs)
        nn.init.zeros_(self.head.weight)  # start as the baseline: blend, persistence or (non-residual) zero
        nn.init.zeros_(self.head.bias)
        self._median = c.quantiles.index(0.5) if c.quantiles else 0
        if c.skip_lags:
            # the linear skip path: a direct ridge on the recent lags and the hour of day correcting the blend (set
            # in closed form by models.skip.init_skip_path, then frozen); the encoder's head learns what it misses
            self.skip = nn.Linear(skip_width(c), c.horizon_steps)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
            self.skip.requires_grad_(False)
        if c.anchor_channel >= 0:
            w = torch.exp(-torch.arange(1, steps + 1, dtype=torch.float32) / c.anchor_tau_steps)  # (S,)
            self.blend_logit = nn.Parameter(torch.logit(w.clamp(1e-4, 1 - 1e-4)))
        if c.n_future:
            # future-known inputs (NWP) at the target hours: the whole trajectory shifts the history's state, a
            # per-lead linear path reads each hour's value (MOS-like), and a small MLP shared by the leads mixes
            # that value with the state and the lead; zero at start, like the head
            self.future_state = nn.Linear(c.horizon_steps * c.n_future, c.hidden_size)
            self.future_linear = nn.Parameter(torch.zeros(c.horizon_steps, c.n_future, c.n_outputs))
            self.future_mlp = nn.Sequential(
                nn.Linear(c.hidden_size + c.n_future + 1, c.hidden_size),
                nn.Tanh(),
                nn.Linear(c.hidden_size, c.n_outputs),
            )
            nn.init.zeros_(self.future_mlp[-1].weight)
            nn.init.zeros_(self.future_mlp[-1].bias)

    def skip_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, skip_width): [level, x_(t-k) - level for k = 1..skip_lags-1, one-hot UTC hour of the origin]."""
        c = self.config
        target = x[:, -c.skip_lags :, c.target_channel]  # (B, K), oldest first
        level = target[:, -1:]
        lags = (target[:, :-1] - level).flip(-1)  # (B, K-1): t-1, t-2, ...
        parts = [level, lags]
        hour = [(s, co) for s, co, period in c.cyclic_pairs if period == 24.0]
        if hour:
            angle = torch.atan2(x[:, -1, hour[0][0]], x[:, -1, hour[0][1]])  # 2 pi hour / 24
            idx = torch.round(angle * 24 / (2 * math.pi)).long() % 24
            parts.append(F.one_hot(idx, 24).to(x.dtype))
        return torch.cat(parts, dim=1)

    def _baseline(self, level: torch.Tensor, anchor: torch.Tensor | None) -> torch.Tensor:
        # level (B,), anchor (B, S) climatology at the target times -> (B, S) baseline in scaled units
        if not self.config.residual:
            return torch.zeros_like(level)[:, None]
        if anchor is None:
            return level[:, None]
        return level[:, None] + (1 - torch.sigmoid(self.blend_logit)) * (anchor - level[:, None])

    def _anchors(self, x: torch.Tensor) -> torch.Tensor | None:
        # x (B, L, F) -> (B, H): the anchor channel at t+h, read one period back inside the history
        c = self.config
        if c.anchor_channel < 0:
            return None
        period, lookback = c.anchor_period_steps, x.shape[1]
        if lookback < period:
            raise ValueError(f"lookback {lookback} must be >= anchor_period_steps {period} to read c_(t+h)")
        idx = lookback - period + torch.arange(c.horizon_steps, device=x.device) % period  # (H,)
        return x[:, idx, c.anchor_channel]

    def _shape_out(self, raw: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        # raw (B, S, Q), base (B, S) -> (B, S, Q) forecasts in scaled units
        if self.config.quantiles:
            raw = order_quantiles(raw, self._median)
        return raw + base[..., None]

    def _check_future(self, future: torch.Tensor | None) -> None:
        c = self.config
        if not c.n_future:
            if future is not None:
                raise ValueError("this network has no future-known inputs (n_future 0), got some")
        elif future is None or tuple(future.shape[1:]) != (c.horizon_steps, c.n_future):
            got = None if future is None else tuple(future.shape)
            raise ValueError(f"this network needs future inputs (B, {c.horizon_steps}, {c.n_future}), got {got}")

    def _future_term(self, hidden: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        # hidden (B, hidden), future (B, H, K) -> (B, H, Q) contribution of the future-known inputs
        b, h = future.shape[0], self.config.horizon_steps
        lead = torch.arange(1, h + 1, device=future.device, dtype=future.dtype)[None, :, None] / h  # (1, H, 1)
        both = torch.cat([hidden[:, None, :].expand(-1, h, -1), future, lead.expand(b, -1, -1)], dim=-1)
        return torch.einsum("bhk,hkq->bhq", future, self.future_linear) + self.future_mlp(both)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """Forecast (B, H) or (B, H, Q) in scaled target units from history x (B, L, F).

        Args:
            future: (B, H, K) future-known inputs at the target hours (scaled NWP), when n_future > 0.
        """
        c = self.config
        out, state = self.encoder(x)  # out (B, L, hidden)
        level = x[:, -1, c.target_channel]  # (B,) last observed target
        anchors = self._anchors(x)  # (B, H) or None
        self._check_future(future)
        if not c.autoregressive:
            hidden = out[:, -1]  # (B, hidden)
            if future is not None:
                future = future.to(hidden.dtype)
                hidden = hidden + torch.tanh(self.future_state(future.flatten(1)))
            hidden = self.drop(hidden)
            raw = self.head(hidden).view(x.shape[0], c.horizon_steps, c.n_outputs)  # (B, H, Q)
            if future is not None:
                raw = raw + self._future_term(hidden, future)
            base = self._baseline(level, anchors)
            if c.skip_lags:
                base = base + self.skip(self.skip_inputs(x))  # (B, H)
            y = self._shape_out(raw, base)
        else:
            y = self._roll(out[:, -1], state, x[:, -1], level, anchors)  # (B, H, Q)
        return y if c.quantiles else y[..., 0]

    def _roll(self, h, state, last_x: torch.Tensor, level: torch.Tensor, anchors) -> torch.Tensor:
        # h (B, hidden), last_x (B, F), anchors (B, H) | None -> (B, H, Q); feeds its median back
        c = self.config
        steps, x_t = [], last_x
        for step in range(c.horizon_steps):
            anchor = None if anchors is None else anchors[:, step : step + 1]  # (B, 1)
            raw = self.head(self.drop(h)).view(-1, 1, c.n_outputs)  # (B, 1, Q)
            y_t = self._shape_out(raw, self._baseline(level, anchor))[:, 0]  # (B, Q)
            steps.append(y_t)
            if step + 1 == c.horizon_steps:
                break
            level = y_t[:, self._median]
            x_t = self._next_input(x_t, level, None if anchor is None else anchor[:, 0])
            out, state = self.encoder(x_t[:, None, :], state)  # out (B, 1, hidden)
            h = out[:, -1]
        return torch.stack(steps, dim=1)

    def _next_input(self, x_t: torch.Tensor, level: torch.Tensor, anchor: torch.Tensor | None = None):
        # x_t (B, F) -> (B, F): target <- prediction, anchor <- its value at the new row, calendar pairs
        # advanced one step, other channels (direction, gust) held at their last observed values
        cols = list(x_t.unbind(dim=1))
        cols[self.config.target_channel] = level
        if anchor is not None:
            cols[self.config.anchor_channel] = anchor
        for i_sin, i_cos, period in self.config.cyclic_pairs:
            a = 2 * math.pi / period
            s, co = cols[i_sin], cols[i_cos]
            cols[i_sin], cols[i_cos] = s * math.cos(a) + co * math.sin(a), co * math.cos(a) - s * math.sin(a)
        return torch.stack(cols, dim=1)


def skip_width(config: NetworkConfig) -> int:
    """Inputs of the skip path: level + (skip_lags - 1) lags + 24 hours when an hour sin/cos pair is an input."""
    has_hour = any(period == 24.0 for _, _, period in config.cyclic_pairs)
    return config.skip_lags + (24 if has_hour else 0)


class ForecastEnsemble(nn.Module):
    """`n_members` forecasters trained from different seeds; forecast = their mean (keeps quantile order)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(RecurrentForecaster(config) for _ in range(config.n_members))

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """Mean forecast (B, H) or (B, H, Q) of the members from history x (B, L, F) and future (B, H, K)."""
        return torch.stack([m(x, future) for m in self.members], dim=0).mean(dim=0)


def forecast_loss(pred: torch.Tensor, target: torch.Tensor, quantiles: tuple[float, ...] = ()) -> torch.Tensor:
    """Mean squared error for points (B, H); mean pinball loss for quantiles (B, H, Q); target (B, H)."""
    if not quantiles:
        return F.mse_loss(pred, target)
    q = torch.tensor(quantiles, dtype=pred.dtype, device=pred.device)  # (Q,)
    err = target[..., None] - pred  # (B, H, Q)
    return torch.maximum(q * err, (q - 1) * err).mean()
