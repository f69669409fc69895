"""Shapes, quantile order, persistence start, autoregressive rolling and config checks of the networks."""

import math

import numpy as np
import pytest
import torch

from models.networks import (
    ForecastEnsemble,
    NetworkConfig,
    RecurrentForecaster,
    forecast_loss,
    order_quantiles,
)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn", "cnn", "cnn_lstm", "fclstm"])
@pytest.mark.parametrize("autoregressive", [False, True])
@pytest.mark.parametrize("quantiles", [(), (0.1, 0.5, 0.9)])
def test_output_shapes(kind, autoregressive, quantiles):
    cfg = NetworkConfig(kind=kind, n_features=5, hidden_size=8, num_layers=2, dropout=0.1, horizon_steps=6,
                        quantiles=quantiles, autoregressive=autoregressive,
                        cyclic_pairs=((3, 4, 24.0),))  # fmt: skip
    out = RecurrentForecaster(cfg)(torch.randn(7, 12, 5))
    assert out.shape == ((7, 6, 3) if quantiles else (7, 6))


@pytest.mark.parametrize("autoregressive", [False, True])
def test_untrained_network_is_persistence(autoregressive):
    cfg = NetworkConfig(n_features=3, hidden_size=8, horizon_steps=4, autoregressive=autoregressive)
    x = torch.randn(5, 10, 3)
    out = RecurrentForecaster(cfg)(x)
    torch.testing.assert_close(out, x[:, -1:, 0].expand(5, 4))


@pytest.mark.parametrize("kind", ["gru", "cnn", "cnn_lstm", "fclstm"])
@pytest.mark.parametrize("autoregressive", [False, True])
def test_untrained_network_with_anchor_is_the_persistence_climatology_blend(autoregressive, kind):
    cfg = NetworkConfig(kind=kind, n_features=2, hidden_size=8, horizon_steps=30, autoregressive=autoregressive,
                        anchor_channel=1, anchor_period_steps=24, anchor_tau_steps=6.0)  # fmt: skip
    x = torch.randn(3, 48, 2)
    if autoregressive:  # a rolled one-step blend equals the direct one when the climatology is flat
        x[:, :, 1] = 0.7
    out = RecurrentForecaster(cfg)(x)
    h = torch.arange(1, 31, dtype=torch.float32)
    c = x[:, 24 + (h.long() - 1) % 24, 1]  # climatology at t+h, one day back in the history
    p = x[:, -1:, 0]
    torch.testing.assert_close(out, c + (p - c) * torch.exp(-h / 6.0), rtol=1e-4, atol=1e-5)


def test_quantiles_stay_ordered_for_any_weights():
    torch.manual_seed(0)
    cfg = NetworkConfig(n_features=3, hidden_size=8, horizon_steps=5, quantiles=(0.05, 0.1, 0.5, 0.9, 0.95))
    net = RecurrentForecaster(cfg)
    torch.nn.init.normal_(net.head.weight, std=5.0)
    out = net(torch.randn(64, 10, 3))
    assert (out.diff(dim=-1) >= 0).all()
    raw = torch.randn(100, 3) * 10
    q = order_quantiles(raw, 1)
    assert (q.diff(dim=-1) >= 0).all() and torch.equal(q[:, 1], raw[:, 1])


def test_ensemble_averages_members():
    torch.manual_seed(0)
    ens = ForecastEnsemble(NetworkConfig(n_features=2, hidden_size=4, horizon_steps=3, n_members=3))
    for m in ens.members:
        torch.nn.init.normal_(m.head.weight)
    x = torch.randn(4, 6, 2)
    torch.testing.assert_close(ens(x), torch.stack([m(x) for m in ens.members]).mean(0))


def test_autoregressive_rolls_hour_of_day_one_step():
    cfg = NetworkConfig(n_features=3, hidden_size=4, horizon_steps=2, autoregressive=True, cyclic_pairs=((1, 2, 24.0),))
    net = RecurrentForecaster(cfg)
    hour = 5
    x_t = torch.tensor([[0.3, math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24)]])
    nxt = net._next_input(x_t, torch.tensor([1.5]))
    expect = [1.5, math.sin(2 * math.pi * (hour + 1) / 24), math.cos(2 * math.pi * (hour + 1) / 24)]
    np.testing.assert_allclose(nxt[0].numpy(), expect, atol=1e-6)


def test_pinball_loss_matches_numpy():
    pred = torch.randn(4, 3, 3)
    y = torch.randn(4, 3)
    q = np.array([0.1, 0.5, 0.9])
    err = y.numpy()[..., None] - pred.numpy()
    expect = np.maximum(q * err, (q - 1) * err).mean()
    assert forecast_loss(pred, y, (0.1, 0.5, 0.9)).item() == pytest.approx(expect, rel=1e-5)
    assert forecast_loss(pred[..., 0], y).item() == pytest.approx(((pred[..., 0] - y) ** 2).mean().item())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": "transformer"},
            "kind 'transformer' is not one of ['cnn', 'cnn_lstm', 'fclstm', 'gru', 'lstm', 'rnn']",
        ),
        ({"hidden_size": 0}, "hidden_size must be >= 1, got 0"),
        ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
        (
            {"quantiles": (0.1, 0.9)},
            "quantiles (0.1, 0.9) must be strictly increasing in (0, 1) and contain 0.5",
        ),
        ({"target_channel": 5, "n_features": 5}, "target_channel 5 is outside 0..4"),
    ],
)
def test_config_errors_name_the_bad_value(kwargs, message):
    with pytest.raises(ValueError) as err:
        NetworkConfig(**kwargs)
    assert str(err.value) == message


def test_config_round_trips_through_a_plain_dict():
    cfg = NetworkConfig(kind="lstm", n_features=4, quantiles=(0.1, 0.5, 0.9), cyclic_pairs=((2, 3, 24.0),))
    d = cfg.to_dict()
    assert d["quantiles"] == [0.1, 0.5, 0.9] and d["cyclic_pairs"] == [[2, 3, 24.0]]
    assert NetworkConfig.from_dict(d) == cfg
