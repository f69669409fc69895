"""Closed-form start for the networks' linear skip path: the ridge regression the `linear` baseline fits.

The skip path maps [level, recent lags - level, one-hot hour] to a correction of the network's blend baseline at
every lead. Before any gradient step it is set to a ridge solution of (target - blend) on the training windows
(scaled units), with the number of lags, the penalty and what the penalty shrinks towards (the centre) chosen on
the validation windows (a search like `models.baselines.fit_linear`'s); then it is frozen, and the recurrent
encoder's head (initialised at zero) learns only what blend + ridge miss. Centres:
    "blend"        every coefficient shrunk towards 0: a large penalty leaves the blend alone. Wins on short records,
                   where the blend is the safer prior.
    "persistence"  the `linear` baseline's ridge (lags shrunk towards persistence, the hours free); for a
                   one-station model exactly, so the network's start is then the `linear` baseline itself (with
                   several stations the hour columns are shared and each station's climatology term stays in).
                   Wins where that baseline does.
So an untrained network is the best of the blend, a blend-anchored and the `linear` ridge on validation, and early
stopping keeps the encoder only where it helps.
"""

from __future__ import annotations

import numpy as np
import torch

from models.baselines import LINEAR_LAG_CHOICES, MAX_LINEAR_ORIGINS, evenly_spaced, linear_ridge
from models.networks import ForecastEnsemble, skip_width
from models.windows import WindowSet

# Penalties (x each column group's mean square): the largest leaves the skip path near 0, i.e. the blend alone.
SKIP_ALPHAS = tuple(float(a) for a in np.geomspace(1e-4, 1e3, 15))
SKIP_CENTRES = ("blend", "persistence")


def _design(model: ForecastEnsemble, windows: WindowSet, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    member = model.members[0]
    xs, ys = [], []
    for chunk in np.array_split(starts, max(1, -(-len(starts) // 4096))):
        x, y = windows.gather(chunk)
        base = member._baseline(x[:, -1, member.config.target_channel], member._anchors(x))  # the start: the blend
        xs.append(member.skip_inputs(x).double().numpy())
        ys.append((y - base).double().numpy())
    return np.concatenate(xs), np.concatenate(ys)


def _columns(n_lags: int, width: int, skip_lags: int) -> np.ndarray:
    return np.concatenate([np.arange(n_lags), np.arange(skip_lags, width)])  # the first n_lags lags + the hours


def _ridge(gram: np.ndarray, cross: np.ndarray, n_lags: int, alpha: float, centre: str, keep: np.ndarray) -> np.ndarray:
    """Coefficients (columns, leads) of (target - blend) on the skip inputs, shrunk towards `centre`.

    keep (H,): the level coefficient that turns the blend into persistence (`_keep`).
    """
    if centre == "persistence":  # the linear baseline's ridge, shifted by the blend's own level term
        prior = np.zeros_like(cross)
        prior[0] = keep
        return prior + linear_ridge(gram, cross - gram @ prior, n_lags, alpha)
    if centre != "blend":
        raise ValueError(f"unknown skip centre {centre!r}, expected one of {SKIP_CENTRES}")
    # every coefficient is shrunk towards 0, i.e. towards the blend: lags by their mean square, hours by theirs
    diag = np.diag(gram)
    penalty = np.empty_like(diag)
    penalty[:n_lags] = diag[:n_lags].mean()
    penalty[n_lags:] = diag[n_lags:].mean() if len(diag) > n_lags else 0.0
    return np.linalg.solve(gram + np.diag(alpha * penalty + 1e-12), cross)


def _keep(member) -> np.ndarray:
    """(H,) level coefficient of a skip path that makes the member's baseline + skip = persistence."""
    h = member.config.horizon_steps
    if not member.config.residual:
        return np.ones(h)  # the baseline is 0: the skip carries the level
    if getattr(member, "blend_logit", None) is None:
        return np.zeros(h)  # the baseline is persistence already
    return 1.0 - torch.sigmoid(member.blend_logit.detach().float()).double().numpy()


@torch.no_grad()
def init_skip_path(
    model: ForecastEnsemble, windows: WindowSet, per_lead: bool = False, centres: tuple[str, ...] = SKIP_CENTRES
) -> dict:
    """Set every member's skip path to the ridge chosen on validation; returns {n_lags, alpha, centre, val_mse}.

    per_lead: each lead keeps its own (lags, penalty, centre), chosen on its own validation MSE (under "leads").
    centres: the candidate centres (module docstring).
    """
    config = model.config
    train = evenly_spaced(windows.starts["train"], MAX_LINEAR_ORIGINS)
    x, y = _design(model, windows, train)
    x_val, y_val = _design(model, windows, windows.starts["val"])
    width, h = x.shape[1], config.horizon_steps
    keep = _keep(model.members[0])
    candidates, val_mse = [], []  # (n_lags, alpha, centre, cols, coef); per-lead validation MSE (H,) of each
    for n_lags in [n for n in LINEAR_LAG_CHOICES if n < config.skip_lags] + [config.skip_lags]:
        cols = _columns(n_lags, width, config.skip_lags)
        gram, cross = x[:, cols].T @ x[:, cols], x[:, cols].T @ y
        for centre in centres:
            for alpha in SKIP_ALPHAS:
                coef = _ridge(gram, cross, n_lags, alpha, centre, keep)
                candidates.append((n_lags, alpha, centre, cols, coef))
                val_mse.append(np.mean((x_val[:, cols] @ coef - y_val) ** 2, axis=0))
    val_mse = np.array(val_mse)  # (candidates, H)
    best = int(np.argmin(val_mse.mean(axis=1)))
    n_lags, alpha, centre, cols, coef = candidates[best]
    weight = np.zeros((h, width))
    weight[:, cols] = coef.T
    out = {"n_lags": int(n_lags), "alpha": float(alpha), "centre": centre, "val_mse": float(val_mse[best].mean())}
    if per_lead:
        picks = np.argmin(val_mse, axis=0)  # (H,)
        weight[:] = 0.0
        for j, c in enumerate(picks):
            weight[j, candidates[c][3]] = candidates[c][4][:, j]
        out["leads"] = [(int(candidates[c][0]), float(candidates[c][1]), candidates[c][2]) for c in picks]
        out["val_mse"] = float(val_mse[picks, np.arange(h)].mean())
    for member in model.members:
        member.skip.weight.copy_(torch.from_numpy(weight).float())
        member.skip.bias.zero_()
    return out


@torch.no_grad()
def refit_skip_path(model: ForecastEnsemble, windows: WindowSet, choice: dict) -> dict:
    """After training, re-solve each member's skip ridge on training + validation windows with its encoder fixed.

    The lags, penalty and centre stay those chosen on validation (`choice`, init_skip_path's result); the target is what
    the member's blend and trained head leave over. So the skip path, like the `linear` baseline, also learns
    from the most recent eighth of the data that early stopping only watched. Point networks only (a quantile
    network keeps its frozen start). Returns {"n_windows": N}.
    """
    config = model.config
    if config.quantiles or not config.skip_lags:
        return {"n_windows": 0}
    starts = np.concatenate([evenly_spaced(windows.starts["train"], MAX_LINEAR_ORIGINS), windows.starts["val"]])
    leads = choice.get("leads") or [(choice["n_lags"], choice["alpha"], choice["centre"])] * config.horizon_steps
    groups: dict[tuple[int, float, str], list[int]] = {}
    for j, (n_lags, alpha, centre) in enumerate(leads):
        groups.setdefault((int(n_lags), float(alpha), centre), []).append(j)
    for member in model.members:
        member.eval()
        xs, ys = [], []
        for chunk in np.array_split(starts, max(1, -(-len(starts) // 4096))):
            x, y = windows.gather(chunk)
            f = windows.gather_future(chunk)
            inputs = member.skip_inputs(x)
            rest = member(x, f) - member.skip(inputs)  # blend + head: what the skip path corrects
            xs.append(inputs.double().numpy())
            ys.append((y - rest).double().numpy())
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        weight = np.zeros((config.horizon_steps, skip_width(config)))
        keep = _keep(member)  # training may have moved the blend weights
        for (n_lags, alpha, centre), rows in groups.items():
            cols = _columns(n_lags, skip_width(config), config.skip_lags)
            x = x_all[:, cols]
            coef = _ridge(x.T @ x, x.T @ y_all[:, rows], n_lags, alpha, centre, keep[rows])
            weight[np.ix_(rows, cols)] = coef.T
        member.skip.weight.copy_(torch.from_numpy(weight).float())
        member.skip.bias.zero_()
    return {"n_windows": int(len(starts))}
