"""The networks' linear skip path: closed-form start, frozen, never worse than the blend start on validation."""

import math

import numpy as np
import pandas as pd
import torch

from models.baselines import linear_ridge
from models.checkpoint import load_checkpoint, save_fit
from models.networks import ForecastEnsemble, NetworkConfig
from models.skip import init_skip_path, refit_skip_path
from models.training import ForecasterConfig, evaluate_loss, fit_forecaster, predict
from models.windows import build_window_set
from tests.models.test_training import FAST


def ar2_frame(n_hours: int = 2400, seed: int = 0) -> pd.DataFrame:
    """AR(2) weather (momentum the blend cannot see) on a daily cycle: a linear model forecasts it best."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-01-01", periods=n_hours, freq="1h", tz="UTC")
    a = np.zeros(n_hours)
    for i in range(2, n_hours):  # test data only
        a[i] = 1.3 * a[i - 1] - 0.4 * a[i - 2] + rng.normal(0, 0.5)
    speed = np.clip(7 + 1.5 * np.sin(2 * np.pi * t.hour.to_numpy() / 24) + a, 0, None)
    return pd.DataFrame({"time": t.astype("datetime64[us, UTC]"), "wind_speed_ms": speed})


def test_skip_inputs_are_level_lags_and_the_origin_hour():
    config = NetworkConfig(n_features=3, hidden_size=4, horizon_steps=2, skip_lags=3, cyclic_pairs=((1, 2, 24.0),))
    member = ForecastEnsemble(config).members[0]
    hour = 13
    x = torch.zeros(1, 5, 3)
    x[0, :, 0] = torch.tensor([9.0, 9.0, 1.0, 2.0, 4.0])
    x[0, -1, 1], x[0, -1, 2] = math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24)
    z = member.skip_inputs(x)[0]
    assert z.shape == (3 + 24,)
    np.testing.assert_allclose(z[:3].numpy(), [4.0, -2.0, -3.0])  # level, then y_(t-1) - y_t, y_(t-2) - y_t
    assert z[3 + hour] == 1 and z[3:].sum() == 1
    assert not any(p.requires_grad for p in member.skip.parameters())  # frozen: set in closed form only


def test_the_closed_form_start_beats_the_blend_start_and_training_never_loses_it(tmp_path):
    frame = ar2_frame()
    fast = {**FAST, "lookback_steps": 48, "max_epochs": 2, "patience": 1}
    blend_fit = fit_forecaster(
        {"a": frame}, ForecasterConfig(**{**fast, "max_epochs": 1, "learning_rate": 1e-9}, linear_skip=False)
    )
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**fast, linear_skip=True))
    assert fit.forecaster.model.config.skip_lags == 48
    # validation RMSE of the untouched blend start vs the fitted skip network
    assert fit.metrics["val_rmse_ms"] < 0.95 * blend_fit.metrics["val_rmse_ms"]
    assert fit.metrics["test_rmse_ms"] < 0.95 * blend_fit.metrics["test_rmse_ms"]
    # a member whose training never beat the closed-form start keeps it: best epoch 0 is allowed
    assert all(b >= 0 for b in fit.best_epochs)
    path = save_fit(tmp_path / "m.pt", fit)
    loaded, _ = load_checkpoint(path)
    origins = frame["time"].iloc[[-100, -50]]
    np.testing.assert_array_equal(predict(loaded, frame, origins), predict(fit.forecaster, frame, origins))


def test_init_sets_every_member_and_reports_the_choice():
    windows = _speed_and_hour_windows(train_end=800)
    config = NetworkConfig(n_features=3, hidden_size=4, horizon_steps=6, skip_lags=48, n_members=2,
                           cyclic_pairs=((1, 2, 24.0),))  # fmt: skip
    model = ForecastEnsemble(config)
    before = evaluate_loss(model, windows, windows.starts["val"], device=torch.device("cpu"))
    choice = init_skip_path(model, windows)
    after = evaluate_loss(model, windows, windows.starts["val"], device=torch.device("cpu"))
    assert choice["n_lags"] in (24, 48) and choice["alpha"] > 0 and after < 0.9 * before
    assert torch.equal(model.members[0].skip.weight, model.members[1].skip.weight)


def test_per_lead_choice_fits_each_lead_at_least_as_well_on_validation_and_the_refit_keeps_it():
    windows = _speed_and_hour_windows(train_end=700)
    config = NetworkConfig(n_features=3, hidden_size=4, horizon_steps=6, skip_lags=48, cyclic_pairs=((1, 2, 24.0),))
    shared, per_lead = ForecastEnsemble(config), ForecastEnsemble(config)
    one = init_skip_path(shared, windows)
    each = init_skip_path(per_lead, windows, per_lead=True)
    assert "leads" not in one and len(each["leads"]) == 6 and each["val_mse"] <= one["val_mse"]
    x, y = windows.gather(windows.starts["val"])
    err = {name: ((m(x) - y) ** 2).mean(dim=0) for name, m in (("one", shared), ("each", per_lead))}
    assert torch.all(err["each"] <= err["one"] + 1e-6)  # lead by lead, not only on average
    for lead, (n_lags, _, _) in enumerate(each["leads"]):
        unused = per_lead.members[0].skip.weight[lead, n_lags:48]
        assert torch.count_nonzero(unused) == 0  # a lead's row reads only its own lags (+ the hours)
    refit_skip_path(per_lead, windows, each)
    for lead, (n_lags, _, _) in enumerate(each["leads"]):
        assert torch.count_nonzero(per_lead.members[0].skip.weight[lead, n_lags:48]) == 0


def test_fit_refits_the_skip_path_after_training_and_keeps_the_start():
    frame = ar2_frame(1000)
    fast = {**FAST, "lookback_steps": 48, "max_epochs": 1}
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**fast, refit_skip=True))
    (start,) = fit.skip_start  # one member
    assert start.shape == fit.forecaster.model.members[0].skip.weight.shape
    assert not torch.equal(start, fit.forecaster.model.members[0].skip.weight)
    assert fit_forecaster({"a": frame.iloc[:600]}, ForecasterConfig(**fast, refit_skip=False)).skip_start is None


def test_refit_fits_the_blend_residual_of_training_and_validation_windows():
    windows = _speed_and_hour_windows(train_end=700)
    config = NetworkConfig(n_features=3, hidden_size=4, horizon_steps=6, skip_lags=48, cyclic_pairs=((1, 2, 24.0),))
    model = ForecastEnsemble(config)
    choice = init_skip_path(model, windows, centres=("blend",))
    both = np.concatenate([windows.starts["train"], windows.starts["val"]])
    device = torch.device("cpu")
    before = evaluate_loss(model, windows, both, device=device)
    assert refit_skip_path(model, windows, choice) == {"n_windows": len(both)}
    after = evaluate_loss(model, windows, both, device=device)
    assert after < before  # the ridge now fits every window it may read, not only the training ones
    # the untrained head adds nothing: the skip path is the ridge of (target - blend) with the chosen lags/penalty
    x, y = windows.gather(both)
    member = model.members[0]
    inputs = member.skip_inputs(x).double().numpy()
    residual = (y - member._baseline(x[:, -1, 0], member._anchors(x))).double().numpy()
    cols = np.concatenate([np.arange(choice["n_lags"]), np.arange(48, inputs.shape[1])])
    gram = inputs[:, cols].T @ inputs[:, cols]
    diag = np.diag(gram)
    penalty = np.r_[
        np.full(choice["n_lags"], diag[: choice["n_lags"]].mean()), np.full(24, diag[choice["n_lags"] :].mean())
    ]
    coef = np.linalg.solve(gram + np.diag(choice["alpha"] * penalty + 1e-12), inputs[:, cols].T @ residual)
    np.testing.assert_allclose(member.skip.weight.numpy()[:, cols], coef.T, rtol=1e-4, atol=1e-5)


def test_the_persistence_centre_makes_the_start_the_linear_baselines_ridge_and_validation_picks_a_centre():
    windows = _speed_and_hour_windows(train_end=700, anchored=True)
    config = NetworkConfig(n_features=4, hidden_size=4, horizon_steps=6, skip_lags=48, anchor_channel=3,
                           cyclic_pairs=((1, 2, 24.0),))  # fmt: skip
    model = ForecastEnsemble(config)
    choice = init_skip_path(model, windows, centres=("persistence",))
    assert choice["centre"] == "persistence"
    # blend + skip = y_t + the linear baseline's ridge of (y - y_t) on the same inputs, lags and penalty
    member = model.members[0]
    train = windows.starts["train"]
    x, y = windows.gather(train)
    inputs = member.skip_inputs(x).double().numpy()
    cols = np.concatenate([np.arange(choice["n_lags"]), np.arange(48, inputs.shape[1])])
    z, change = inputs[:, cols], (y - x[:, -1:, 0]).double().numpy()
    coef = linear_ridge(z.T @ z, z.T @ change, choice["n_lags"], choice["alpha"])
    x_val, _ = windows.gather(windows.starts["val"])
    linear = x_val[:, -1:, 0].double().numpy() + member.skip_inputs(x_val).double().numpy()[:, cols] @ coef
    np.testing.assert_allclose(member(x_val).detach().double().numpy(), linear, rtol=1e-4, atol=1e-4)
    # both centres: validation keeps whichever fits it better, never worse than either alone
    losses = {}
    for centres in (("blend",), ("persistence",), ("blend", "persistence")):
        candidate = ForecastEnsemble(config)
        losses[centres] = init_skip_path(candidate, windows, centres=centres)["val_mse"]
    assert losses[("blend", "persistence")] == min(losses[("blend",)], losses[("persistence",)])


def _speed_and_hour_windows(train_end: int, anchored: bool = False):
    """Windows (lookback 48, 6 leads) over an AR(2) wind series scaled, with the hour of day as sin/cos."""
    frame = ar2_frame(1200)
    values = frame["wind_speed_ms"].to_numpy(np.float32)
    hours = frame["time"].dt.hour.to_numpy()
    channels = [(values - 7) / 2, np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24)]
    if anchored:  # an hour-of-day climatology channel for the blend (the series' daily cycle, scaled)
        channels.append(1.5 * np.sin(2 * np.pi * hours / 24) / 2)
    matrix = np.stack(channels, 1)
    return build_window_set([matrix.astype(np.float32)], [(train_end, 1000)], 48, 6)
