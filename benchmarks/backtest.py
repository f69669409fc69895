"""Origins scored per second: baselines and a GRU in batched passes vs a Python loop over origins.

Run: python benchmarks/backtest.py [--years 10] [--loop-origins 1000]

The data are 10 years of synthetic hourly wind (AR(1) anomaly around daily and yearly cycles, Weibull-like
marginal, 1 % of hours missing in short gaps), split 70/10/20 with origins every 6 h (and every hour for a
larger batch). The GRU part uses `models.networks`/`models.training` when they provide what `_load_gru_api`
needs; otherwise a stand-in `torch.nn.GRU` of the same shape (throughput does not depend on the weights).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backtest import HourlyGrid, run_backtest, split_origins  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.windows import make_cutoffs  # noqa: E402

LOOKBACK, HORIZON = 168, 24


def make_synthetic(years: int, seed: int = 0) -> HourlyGrid:
    """Realistic-looking hourly wind speed on a regular grid, NaN in short random gaps."""
    rng = np.random.default_rng(seed)
    n = years * 8760
    times = pd.date_range("2010-01-01", periods=n, freq="1h", tz="UTC")
    phi, noise = np.exp(-1.0 / 10.0), rng.normal(0.0, np.sqrt(1 - np.exp(-2.0 / 10.0)), n)
    anomaly = np.empty(n)
    anomaly[0] = noise[0]
    for i in range(1, n):  # data generation only
        anomaly[i] = phi * anomaly[i - 1] + noise[i]
    hours = np.arange(n)
    cycles = 0.25 * np.sin(2 * np.pi * (hours % 24 - 9) / 24) + 0.2 * np.cos(2 * np.pi * hours / 8766)
    speed = 7.0 * np.exp(0.35 * (anomaly + cycles))  # positive, right-skewed like a Weibull
    starts = rng.choice(n - 12, size=n // 600, replace=False)
    for s, length in zip(starts, rng.integers(1, 12, size=len(starts)), strict=True):
        speed[s : s + length] = np.nan
    return HourlyGrid(times, speed)


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_baselines(grid: HourlyGrid, step_steps: int) -> None:
    """Print fit time and origins/s of each baseline, and of the whole run_backtest, for one origin stride."""
    split = make_cutoffs(grid.times[np.isfinite(grid.speed)])
    val, test = split_origins(grid, split, LOOKBACK, HORIZON, step_steps)
    mask = np.asarray(grid.times < split.train_end)
    print(f"\nbaselines, origins every {step_steps} h: {len(val)} validation, {len(test)} test origins")
    predictors = {}
    for b in BASELINES.values():
        fit_s, params = _timed(lambda b=b: b.fit(grid.times, grid.speed, mask, val, HORIZON))
        pred_s, _ = _timed(lambda b=b, p=params: b.predict(grid.times, grid.speed, test, HORIZON, p))
        predictors[b.name] = lambda o, b=b, p=params: b.predict(grid.times, grid.speed, o, HORIZON, p)
        print(f"  {b.name:15s} fit {fit_s * 1e3:7.1f} ms   predict {len(test) / pred_s:12,.0f} origins/s")
    total_s, result = _timed(lambda: run_backtest(grid.times, grid.speed, test, predictors, HORIZON), repeat=1)
    print(
        f"  run_backtest (4 baselines, long table of {len(result.forecasts):,} rows + metrics): "
        f"{total_s:.2f} s, {len(test) / total_s:,.0f} origins/s"
    )


def _load_gru_api():
    """The windcast GRU, if models.networks/models.training are ready; None otherwise.

    TODO(GRU): wire to the network engineer's API once it exists. This needs: (1) train a GRU for a few epochs
    on the training rows of `grid`, (2) `predict(model, windows) -> (N, H)` for a batch of (N, L, F) windows,
    and (3) a function building the (N, L, F) feature windows for given origins on the same grid. Return
    `(build_windows(grid, origins) -> np.ndarray, predict_batch(windows) -> np.ndarray)`.
    """
    if not (importlib.util.find_spec("models.networks") and importlib.util.find_spec("models.training")):
        return None
    return None  # not wired yet: see the TODO above


def _stand_in_gru():
    """A torch GRU of windcast's shape (1 feature, hidden 64, 2 layers, linear head to 24 leads)."""
    import torch

    torch.manual_seed(0)

    class GRUForecaster(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(1, 64, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(64, HORIZON)

        def forward(self, x):  # (B, L, 1) -> (B, H)
            out, _ = self.gru(x)
            return self.head(out[:, -1])

    model = GRUForecaster().eval()

    def build_windows(grid: HourlyGrid, origins: np.ndarray) -> np.ndarray:
        idx = origins[:, None] + np.arange(-LOOKBACK + 1, 1)[None, :]
        return ((grid.speed[idx] - 7.0) / 3.0)[..., None].astype(np.float32)  # (N, L, 1)

    def predict_batch(windows: np.ndarray, batch: int = 1024) -> np.ndarray:
        with torch.inference_mode():
            parts = [model(torch.from_numpy(windows[i : i + batch])) for i in range(0, len(windows), batch)]
        return torch.cat(parts).numpy() * 3.0 + 7.0

    return build_windows, predict_batch


def bench_gru(grid: HourlyGrid, loop_origins: int) -> None:
    """Print GRU origins/s in batched passes and in a loop calling the model once per origin."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    api = _load_gru_api()
    label = "windcast GRU" if api else "stand-in nn.GRU (models.networks not wired yet)"
    build_windows, predict_batch = api or _stand_in_gru()
    split = make_cutoffs(grid.times[np.isfinite(grid.speed)])
    _, test = split_origins(grid, split, LOOKBACK, HORIZON, 6)
    windows = build_windows(grid, test)
    batched_s, batched = _timed(lambda: predict_batch(build_windows(grid, test)), repeat=2)
    sub = test[:loop_origins]

    def loop():
        return np.concatenate([predict_batch(build_windows(grid, sub[i : i + 1])) for i in range(len(sub))])

    loop_s, looped = _timed(loop, repeat=1)
    assert np.allclose(looped, batched[: len(sub)], atol=1e-4), "batched and looped predictions differ"
    print(f"\n{label}, torch {torch.__version__}, {torch.get_num_threads()} threads, windows {windows.shape}")
    print(f"  batched passes : {len(test) / batched_s:12,.0f} origins/s ({len(test)} in {batched_s:.2f} s)")
    print(f"  loop per origin: {len(sub) / loop_s:12,.0f} origins/s ({len(sub)} in {loop_s:.2f} s)")
    print(f"  speed-up       : {(len(test) / batched_s) / (len(sub) / loop_s):12.1f}x")


def main() -> None:
    """Generate the data and print every figure in one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--loop-origins", type=int, default=300, help="origins timed in the per-origin loop")
    args = parser.parse_args()
    t0 = time.perf_counter()
    grid = make_synthetic(args.years)
    observed, gen_s = int(np.isfinite(grid.speed).sum()), time.perf_counter() - t0
    print(f"{args.years} years hourly: {len(grid.speed):,} hours, {observed:,} observed ({gen_s:.1f} s)")
    for step in (6, 1):
        bench_baselines(grid, step)
    bench_gru(grid, args.loop_origins)


if __name__ == "__main__":
    main()
