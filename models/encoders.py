"""Encoders beyond torch's recurrent layers: a dilated causal Conv1d stack (`cnn`), a Conv1d feature layer
under an LSTM (`cnn_lstm`) and the fully-connected LSTM with peephole connections (`fclstm`).

Each follows the call convention of torch's recurrent layers, so `RecurrentForecaster` uses them unchanged:
`encoder(x (B, L, F), state=None) -> (out (B, L', hidden), state)`; `out[:, -1]` is the encoding the head reads,
and calling it again with the next input step and the returned state continues the sequence (the autoregressive
roll). Constructors take `(input_size, hidden_size, num_layers, batch_first=True, dropout=0.0)` like `nn.LSTM`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CONV_KERNEL = 3  # taps per Conv1d layer
CNN_WINDOW_STEPS = 24  # the cnn's last feature sees at least this many of the latest steps (one day)


class CausalConvStack(nn.Module):
    """`cnn`: Conv1d layers (kernel 3, dilations 1, 3, 9, ...) + ReLU over the channels of the latest window.

    The dilations tile the window without holes, so the last output sees the last 3**n steps (27 for the
    24-step window); `num_layers - 1` extra dilation-1 layers deepen it. Only that window is convolved (valid
    convolutions, one output step), so a 168-step lookback costs no more than a 27-step one. The state is the
    latest `receptive_field - 1` input rows, which is all a next step needs.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__()
        if not batch_first:
            raise ValueError("CausalConvStack takes batch-first input (B, L, F) only")
        dilations = [1]
        while CONV_KERNEL ** len(dilations) < CNN_WINDOW_STEPS:
            dilations.append(dilations[-1] * CONV_KERNEL)
        dilations += [1] * (num_layers - 1)
        sizes = [input_size] + [hidden_size] * len(dilations)
        self.convs = nn.ModuleList(
            nn.Conv1d(n_in, n_out, CONV_KERNEL, dilation=d)
            for n_in, n_out, d in zip(sizes[:-1], sizes[1:], dilations, strict=True)
        )
        self.receptive_field = 1 + (CONV_KERNEL - 1) * sum(dilations)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The last step's feature (B, 1, hidden) and the new state (B, receptive_field - 1, F)."""
        seq = x if state is None else torch.cat([state, x], dim=1)
        window = seq[:, -self.receptive_field :]
        if window.shape[1] < self.receptive_field:  # a short lookback: zeros (the scaled mean) before it
            window = F.pad(window, (0, 0, self.receptive_field - window.shape[1], 0))
        y = window.transpose(1, 2)  # (B, F, R)
        for i, conv in enumerate(self.convs):
            y = F.relu(conv(self.drop(y) if i else y))
        return y.transpose(1, 2), window[:, 1:]  # (B, 1, hidden)


class ConvLSTM(nn.Module):
    """`cnn_lstm`: a causal Conv1d (kernel 3) + ReLU extracts local features per step, an LSTM runs over them.

    The conv keeps one feature per input step (left zero padding), so the LSTM sees the whole lookback and the
    roll can advance one step at a time; the state is the last `kernel - 1` input rows plus the LSTM state.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__()
        if not batch_first:
            raise ValueError("ConvLSTM takes batch-first input (B, L, F) only")
        self.conv = nn.Conv1d(input_size, hidden_size, CONV_KERNEL)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)  # fmt: skip

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """LSTM outputs (B, L, hidden) and the state ((B, kernel - 1, F) input tail, LSTM (h, c))."""
        if state is None:
            tail, lstm_state = x.new_zeros(x.shape[0], CONV_KERNEL - 1, x.shape[2]), None
        else:
            tail, lstm_state = state
        seq = torch.cat([tail, x], dim=1)  # (B, L + kernel - 1, F)
        features = F.relu(self.conv(seq.transpose(1, 2))).transpose(1, 2)  # (B, L, hidden)
        out, lstm_state = self.lstm(features, lstm_state)
        return out, (seq[:, -(CONV_KERNEL - 1) :], lstm_state)


def peephole_lstm_step(
    xw: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_hh: torch.Tensor, peephole: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One FC-LSTM step (Gers & Schmidhuber peepholes; gate order i, f, g, o as in torch's LSTM).

        i = s(W_xi x + W_hi h + p_i * c + b_i)      f = s(W_xf x + W_hf h + p_f * c + b_f)
        c' = f * c + i * tanh(W_xg x + W_hg h + b_g)
        o = s(W_xo x + W_ho h + p_o * c' + b_o)     h' = o * tanh(c')

    Args:
        xw: (B, 4H) input projection W_x x + b of this step; h, c: (B, H); weight_hh: (4H, H);
            peephole: (3, H) rows p_i, p_f, p_o.
    Returns: (h', c'), each (B, H).
    """
    zi, zf, zg, zo = torch.addmm(xw, h, weight_hh.t()).chunk(4, dim=1)
    i = torch.sigmoid(zi + peephole[0] * c)
    f = torch.sigmoid(zf + peephole[1] * c)
    c = f * c + i * torch.tanh(zg)
    o = torch.sigmoid(zo + peephole[2] * c)
    return o * torch.tanh(c), c


class _PeepholeLoop(torch.autograd.Function):
    """The FC-LSTM recurrence over all steps with a hand-written backward through time.

    An autograd graph of the step loop costs ~25 recorded ops per step, which made `fclstm` 7x slower than
    torch's fused LSTM; here the forward runs untracked into preallocated buffers, every coefficient the
    backward needs that does not depend on the incoming gradient is computed for all steps at once, and the
    backward loop is 6 ops a step. Runs in float32 (float64 when given) whatever autocast says.
    """

    @staticmethod
    def forward(ctx, xw, h0, c0, weight_hh, peephole):  # xw (B, L, 4H); h0, c0 (B, H) -> hs, cs (B, L, H)
        batch, steps, n = xw.shape[0], xw.shape[1], h0.shape[1]
        ctx.dtypes = tuple(t.dtype for t in (xw, h0, c0, weight_hh, peephole))  # each gradient goes back in these
        with torch.autocast(xw.device.type, enabled=False):
            dtype = torch.promote_types(xw.dtype, torch.float32)
            xw, h, c, w, p = (t.to(dtype) for t in (xw, h0, c0, weight_hh, peephole))
            gates = xw.new_empty(steps, batch, 4, n)  # (L, B, 4, H): i, f, g, o after their nonlinearity
            hs, cs = xw.new_empty(steps, batch, n), xw.new_empty(steps, batch, n)
            wt = w.t()
            for t in range(steps):
                z = torch.addmm(xw[:, t], h, wt).view(batch, 4, n)
                g = gates[t]
                torch.sigmoid(torch.addcmul(z[:, :2], p[:2], c[:, None]), out=g[:, :2])
                torch.tanh(z[:, 2], out=g[:, 2])
                c = torch.addcmul(g[:, 1] * c, g[:, 0], g[:, 2], out=cs[t])
                torch.sigmoid(torch.addcmul(z[:, 3], p[2], c), out=g[:, 3])
                h = torch.mul(g[:, 3], torch.tanh(c), out=hs[t])
        ctx.save_for_backward(gates, hs, cs, h0.to(dtype), c0.to(dtype), w, p)
        return hs.transpose(0, 1), cs.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_hs, grad_cs):  # each (B, L, H) or None
        gates, hs, cs, h0, c0, w, p = ctx.saved_tensors
        steps, batch, _, n = gates.shape
        i, f, g, o = gates.unbind(dim=2)  # (L, B, H) each
        c_prev = torch.cat([c0[None], cs[:-1]])
        h_prev = torch.cat([h0[None], hs[:-1]])
        tc = torch.tanh(cs)
        do_dz = o * (1 - o)
        a = tc * do_dz  # dz_o / dh
        b = o * (1 - tc * tc) + a * p[2]  # dc_t / dh, through tanh(c) and the output peephole
        coef = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], dim=2)  # dz_ifg / dc_t
        carry = f + coef[:, :, 0] * p[0] + coef[:, :, 1] * p[1]  # dc_{t-1} / dc_t, peepholes included
        grad_hs = torch.zeros_like(hs) if grad_hs is None else grad_hs.to(hs.dtype).transpose(0, 1)
        grad_cs = None if grad_cs is None else grad_cs.to(hs.dtype).transpose(0, 1)
        dz = hs.new_empty(steps, batch, 4, n)
        dh, dc = torch.zeros_like(h0), torch.zeros_like(c0)
        for t in range(steps - 1, -1, -1):
            dh = dh + grad_hs[t]
            if grad_cs is not None:
                dc = dc + grad_cs[t]
            dct = torch.addcmul(dc, dh, b[t])
            torch.mul(dct[:, None], coef[t], out=dz[t, :, :3])
            torch.mul(dh, a[t], out=dz[t, :, 3])
            dc = dct * carry[t]
            dh = dz[t].view(batch, 4 * n) @ w
        flat = dz.view(steps * batch, 4 * n)
        grad_w = flat.t() @ h_prev.reshape(steps * batch, n)
        grad_p = torch.stack([
            (dz[:, :, 0] * c_prev).sum((0, 1)), (dz[:, :, 1] * c_prev).sum((0, 1)), (dz[:, :, 3] * cs).sum((0, 1)),
        ])  # fmt: skip
        grads = (dz.view(steps, batch, 4 * n).transpose(0, 1), dh, dc, grad_w, grad_p)
        return tuple(gr.to(dt) for gr, dt in zip(grads, ctx.dtypes, strict=True))


class PeepholeLSTMLayer(nn.Module):
    """One FC-LSTM layer: the input projection for all steps in one matmul, then the fused step loop."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.peephole = nn.Parameter(torch.empty(3, hidden_size))  # p_i, p_f, p_o
        bound = 1 / math.sqrt(hidden_size)  # torch's LSTM initialisation, peepholes included
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """Hidden states (B, L, H) and the last (h, c) from x (B, L, F)."""
        if state is None:
            h = c = x.new_zeros(x.shape[0], self.hidden_size, dtype=torch.float32)
        else:
            h, c = state
        xw = F.linear(x, self.weight_ih, self.bias)  # (B, L, 4H)
        hs, cs = _PeepholeLoop.apply(xw, h, c, self.weight_hh, self.peephole)
        return hs, (hs[:, -1], cs[:, -1])


class PeepholeLSTM(nn.Module):
    """`fclstm`: stacked peephole LSTM layers (dropout between them), torch's LSTM call convention."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__()
        if not batch_first:
            raise ValueError("PeepholeLSTM takes batch-first input (B, L, F) only")
        sizes = [input_size] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(PeepholeLSTMLayer(n_in, hidden_size) for n_in in sizes[:-1])
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """Last layer's hidden states (B, L, H) and every layer's (h, c)."""
        states = state if state is not None else (None,) * len(self.layers)
        out, new = x, []
        for i, layer in enumerate(self.layers):
            out, s = layer(self.drop(out) if i else out, states[i])
            new.append(s)
        return out, tuple(new)


ENCODERS = {"cnn": CausalConvStack, "cnn_lstm": ConvLSTM, "fclstm": PeepholeLSTM}
