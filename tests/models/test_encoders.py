"""The cnn, cnn_lstm and fclstm kinds: the peephole step by hand, the fused backward, state continuation,
and per kind a few CPU epochs that lower the loss, seeded determinism and identical forecasts after save/load."""

import math

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, save_fit
from models.encoders import (
    CNN_WINDOW_STEPS,
    CausalConvStack,
    ConvLSTM,
    PeepholeLSTM,
    PeepholeLSTMLayer,
    _PeepholeLoop,
    peephole_lstm_step,
)
from models.networks import NetworkConfig, RecurrentForecaster
from models.training import ForecasterConfig, evaluate_loss, fit_forecaster, predict, train_network
from models.windows import build_window_set
from tests.models.test_training import FAST, wind_frame

NEW_KINDS = ["cnn", "cnn_lstm", "fclstm"]


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_fclstm_one_step_matches_a_hand_computed_step():
    layer = PeepholeLSTMLayer(input_size=1, hidden_size=1)
    with torch.no_grad():  # gates i, f, g, o
        layer.weight_ih.copy_(torch.tensor([[0.5], [-0.3], [0.8], [0.2]]))
        layer.weight_hh.copy_(torch.tensor([[0.1], [0.4], [-0.6], [0.7]]))
        layer.bias.copy_(torch.tensor([0.05, 1.0, -0.1, 0.0]))
        layer.peephole.copy_(torch.tensor([[0.3], [-0.2], [0.9]]))
    x, h0, c0 = 1.5, -0.4, 0.6
    i = _sigmoid(0.5 * x + 0.1 * h0 + 0.3 * c0 + 0.05)
    f = _sigmoid(-0.3 * x + 0.4 * h0 - 0.2 * c0 + 1.0)
    c1 = f * c0 + i * math.tanh(0.8 * x - 0.6 * h0 - 0.1)
    o = _sigmoid(0.2 * x + 0.7 * h0 + 0.9 * c1)  # the output gate peeks at the new cell state
    h1 = o * math.tanh(c1)
    out, (h, c) = layer(torch.tensor([[[x]]]), (torch.tensor([[h0]]), torch.tensor([[c0]])))
    assert out.shape == (1, 1, 1)
    assert out.item() == pytest.approx(h1, rel=1e-6) and h.item() == pytest.approx(h1, rel=1e-6)
    assert c.item() == pytest.approx(c1, rel=1e-6)


def test_fclstm_steps_match_a_numpy_reference_with_peepholes():
    torch.manual_seed(0)
    layer = PeepholeLSTMLayer(input_size=3, hidden_size=4)
    x = torch.randn(2, 5, 3)
    out, (h_last, c_last) = layer(x)
    w_ih, w_hh, b, p = (t.detach().double().numpy() for t in (layer.weight_ih, layer.weight_hh, layer.bias,
                                                             layer.peephole))  # fmt: skip
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(5):
        zi, zf, zg, zo = np.split(x[:, t].double().numpy() @ w_ih.T + h @ w_hh.T + b, 4, axis=1)
        i, f = sig(zi + p[0] * c), sig(zf + p[1] * c)
        c = f * c + i * np.tanh(zg)
        h = sig(zo + p[2] * c) * np.tanh(c)
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_last.detach().numpy(), c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_last.detach().numpy(), h, rtol=1e-5, atol=1e-6)


def test_fclstm_fused_backward_matches_autograd_through_the_step():
    torch.manual_seed(1)
    args = [torch.randn(3, 6, 16), torch.randn(3, 4), torch.randn(3, 4), 0.5 * torch.randn(16, 4), torch.randn(3, 4)]
    args = [a.double().requires_grad_() for a in args]
    assert torch.autograd.gradcheck(_PeepholeLoop.apply, args)
    hs, cs = _PeepholeLoop.apply(*args)
    grads = torch.autograd.grad((hs.sin().sum() + cs[:, -1].sum()), args)
    h, c, ref_hs = args[1], args[2], []
    for t in range(6):
        h, c = peephole_lstm_step(args[0][:, t], h, c, args[3], args[4])
        ref_hs.append(h)
    ref = torch.autograd.grad(torch.stack(ref_hs, 1).sin().sum() + c.sum(), args)
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("encoder", [CausalConvStack, ConvLSTM, PeepholeLSTM])
def test_continuing_from_the_state_equals_one_pass(encoder):
    torch.manual_seed(0)
    enc = encoder(3, 5, 2).eval()
    x = torch.randn(4, 40, 3)
    full, _ = enc(x)
    _, state = enc(x[:, :-2])
    step1, state = enc(x[:, -2:-1], state)
    step2, _ = enc(x[:, -1:], state)
    torch.testing.assert_close(step1[:, -1], enc(x[:, :-1])[0][:, -1])
    torch.testing.assert_close(step2[:, -1], full[:, -1])


def test_cnn_last_feature_sees_exactly_its_receptive_field():
    torch.manual_seed(0)
    enc = CausalConvStack(2, 6)
    r = enc.receptive_field
    assert r == 27 >= CNN_WINDOW_STEPS  # dilations 1, 3, 9 tile 27 steps
    x = torch.randn(2, 60, 2)
    base = enc(x)[0]
    before, inside = x.clone(), x.clone()
    before[:, : 60 - r] += 5.0
    inside[:, 60 - r] += 5.0
    torch.testing.assert_close(enc(before)[0], base)
    assert not torch.allclose(enc(inside)[0], base)
    assert enc(x[:, -10:])[0].shape == (2, 1, 6)  # a lookback shorter than the field is zero-padded


@pytest.fixture(scope="module", params=NEW_KINDS)
def kind_fit(request):
    frame = wind_frame(900)
    cfg = ForecasterConfig(**dict(FAST, kind=request.param, seed=1))
    return request.param, frame, cfg, fit_forecaster({"a": frame}, cfg)


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_a_few_cpu_epochs_lower_the_training_loss(kind):
    values = wind_frame(900)[["wind_speed_ms"]].to_numpy(np.float32)
    values = (values - np.nanmean(values[:600])) / np.nanstd(values[:600])
    windows = build_window_set([values], [(600, 700)], 24, 6)
    torch.manual_seed(0)
    model = RecurrentForecaster(NetworkConfig(kind=kind, n_features=1, hidden_size=8, horizon_steps=6))
    train, cpu = windows.starts["train"], torch.device("cpu")
    before = evaluate_loss(model, windows, train, device=cpu)
    train_network(model, windows, ForecasterConfig(**FAST), device=cpu)
    after = evaluate_loss(model, windows, train, device=cpu)
    assert after < 0.97 * before


def test_fit_reports_test_metrics(kind_fit):
    _, _, _, fit = kind_fit
    assert len(fit.history) == 3 and fit.metrics["test_rmse_ms"] > 0
    assert len(fit.metrics["test_rmse_by_lead_ms"]) == 6


def test_same_seed_same_weights_other_seed_differs(kind_fit):
    _, frame, cfg, _ = kind_fit
    cfg = dict(FAST, kind=cfg.kind, max_epochs=1)
    again = fit_forecaster({"a": frame}, ForecasterConfig(**cfg, seed=1)).forecaster.model.state_dict()
    twice = fit_forecaster({"a": frame}, ForecasterConfig(**cfg, seed=1)).forecaster.model.state_dict()
    other = fit_forecaster({"a": frame}, ForecasterConfig(**cfg, seed=2)).forecaster.model.state_dict()
    assert all(torch.equal(again[k], twice[k]) for k in again)
    assert not all(torch.equal(again[k], other[k]) for k in again)


def test_save_load_gives_identical_forecasts(kind_fit, tmp_path):
    kind, frame, _, fit = kind_fit
    path = save_fit(tmp_path / "model.pt", fit)
    forecaster, meta = load_checkpoint(path)
    assert meta["kind"] == kind
    origins = frame["time"].iloc[[*range(100, 390, 7), *range(460, 860, 9)]]  # around the 30-hour gap
    out = predict(forecaster, frame, origins)
    assert out.shape == (len(origins), 6) and (out >= 0).all()
    np.testing.assert_array_equal(out, predict(fit.forecaster, frame, origins))


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_autoregressive_quantile_ensemble_trains_and_orders(kind):
    frame = wind_frame(900)
    cfg = ForecasterConfig(**dict(FAST, kind=kind, max_epochs=1, autoregressive=True, quantiles=(0.1, 0.5, 0.9),
                                  n_members=2))  # fmt: skip
    fit = fit_forecaster({"a": frame}, cfg)
    out = predict(fit.forecaster, frame, frame["time"].iloc[[100, 500, 800]])
    assert out.shape == (3, 6, 3) and (np.diff(out, axis=-1) >= 0).all()


def test_fclstm_under_bf16_autocast_keeps_a_float32_recurrence_and_gradient_dtypes():
    torch.manual_seed(0)
    enc = PeepholeLSTM(3, 4)
    x = torch.randn(2, 7, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = enc(x)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in enc.parameters())
    torch.testing.assert_close(out, enc(x)[0], atol=0.05, rtol=0.05)  # only the input projection ran in bf16
