"""Origins scored per second: baselines and every network kind in batched passes vs a Python loop over origins.

Run: python benchmarks/backtest.py [--years 10] [--loop-origins 1000]

The data are 10 years of synthetic hourly wind (AR(1) anomaly around daily and yearly cycles, Weibull-like
marginal, 1 % of hours missing in short gaps), split 70/10/20 with origins every 6 h (and every hour for a
larger batch). Each network is windcast's default of its kind, trained for 2 epochs on the training part, scored
in float32 and in the precision `auto` picks on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backtest import HourlyGrid, run_backtest, split_origins  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.networks import KINDS  # noqa: E402
from models.windows import make_cutoffs  # noqa: E402

LOOKBACK, HORIZON = 168, 24
_TRAINED: dict[str, tuple] = {}


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
        f"  run_backtest ({len(predictors)} baselines, long table of {len(result.forecasts):,} rows + metrics): "
        f"{total_s:.2f} s, {len(test) / total_s:,.0f} origins/s"
    )


def _network_api(grid: HourlyGrid, kind: str):
    """A default network of `kind` (trained 2 epochs) as (forecaster, build_windows, predict_windows).

    Features are computed once for the whole grid, as the backtest does; `build_windows` gathers the (N, L, F)
    history windows of the given origins and `predict_windows` runs the network on them in one precision and
    unscales to m/s, so the loop below calls the model once per origin on exactly what the batched pass sees.
    """
    import torch

    from models.features import make_feature_matrix, to_regular_grid
    from models.training import PREDICT_BATCH_WINDOWS, ForecasterConfig, fit_forecaster

    if kind in _TRAINED:  # trained once per kind, scored in both precisions
        return _TRAINED[kind]
    frame = pd.DataFrame({"time": grid.times, "wind_speed_ms": grid.speed}).dropna()
    fit = fit_forecaster({"bench": frame}, ForecasterConfig(kind=kind, max_epochs=2, seed=0))
    forecaster = fit.forecaster
    regular = to_regular_grid(frame)
    clim = forecaster.climatology.get("bench") if forecaster.features.climatology else None
    values = forecaster.scaler.transform(make_feature_matrix(regular, forecaster.features, clim))  # (T, F)
    model = forecaster.model.eval()

    def build_windows(origins: np.ndarray) -> np.ndarray:
        rows = regular.index.get_indexer(grid.times[origins])  # the feature grid starts at the first observation
        return values[rows[:, None] + np.arange(-LOOKBACK + 1, 1)[None, :]]  # (N, L, F)

    def predict_windows(windows: np.ndarray, bf16: bool, batch: int = PREDICT_BATCH_WINDOWS) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            parts = [model(torch.from_numpy(windows[i : i + batch])) for i in range(0, len(windows), batch)]
        scaled = torch.cat(parts).float().numpy().astype(np.float64)
        return np.clip(forecaster.scaler.inverse_channel(scaled), 0.0, None)

    _TRAINED[kind] = forecaster, frame, build_windows, predict_windows
    return _TRAINED[kind]


def bench_networks(grid: HourlyGrid, kinds: list[str], loop_origins: int, both_precisions: bool = True) -> None:
    """Origins/s of each network kind: `predict` (the backtest's path) and batched passes vs a per-origin loop."""
    import torch

    from models.device import use_bf16_inference

    cpu = torch.device("cpu")
    auto = use_bf16_inference(cpu)  # what predict() and the backtest use here
    split = make_cutoffs(grid.times[np.isfinite(grid.speed)])
    _, test = split_origins(grid, split, LOOKBACK, HORIZON, 6)
    sub = test[:loop_origins]
    print(
        f"\nnetworks (default config: 3-member ensemble, hidden 32, trained 2 epochs), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {len(test)} test origins; forecasts in {'bf16' if auto else 'fp32'} (auto)"
    )
    print(f"  {'kind':<10}{'precision':<10}{'predict()':>12}{'batched':>12}{'loop/origin':>13}{'batched/loop':>14}"
          f"{'load':>7}")  # fmt: skip
    for kind in kinds:
        for bf16 in (False, True) if both_precisions else (auto,):
            rates = _score_kind(grid, kind, test, sub, bf16)
            tag = ("bf16" if bf16 else "fp32") + (" auto" if bf16 == auto else "")
            print(f"  {kind:<10}{tag:<10}{rates[0]:>12,.0f}{rates[1]:>12,.0f}{rates[2]:>13,.0f}"
                  f"{rates[1] / rates[2]:>13.1f}x{os.getloadavg()[0]:>7.1f}", flush=True)  # fmt: skip


def _score_kind(grid: HourlyGrid, kind: str, test: np.ndarray, sub: np.ndarray, bf16: bool) -> list[float]:
    """Origins/s of one kind in one precision: via `predict`, in batched passes, and in a per-origin loop."""
    from models.training import predict

    forecaster, frame, build_windows, predict_windows = _network_api(grid, kind)
    precision = "bf16" if bf16 else "fp32"
    predict_s, via_predict = _timed(lambda: predict(forecaster, frame, grid.times[test], precision=precision), 2)
    batched_s, batched = _timed(lambda: predict_windows(build_windows(test), bf16), repeat=2)

    def loop():
        return np.concatenate([predict_windows(build_windows(sub[i : i + 1]), bf16) for i in range(len(sub))])

    loop_s, looped = _timed(loop, repeat=2)
    assert np.allclose(via_predict, batched, atol=1e-4), "predict() and the batched pass differ"
    assert np.allclose(looped, batched[: len(sub)], atol=0.05 if bf16 else 1e-4), "batched and loop differ"
    return [len(test) / predict_s, len(test) / batched_s, len(sub) / loop_s]


def main() -> None:
    """Generate the data and print every figure in one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--loop-origins", type=int, default=300, help="origins timed in the per-origin loop")
    parser.add_argument("--kinds", default=",".join(KINDS), help="network kinds to score (default: every kind)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--auto-only", action="store_true", help="score networks in the `auto` precision only")
    parser.add_argument("--no-baselines", action="store_true", help="skip the baseline figures")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    grid = make_synthetic(args.years)
    observed, gen_s = int(np.isfinite(grid.speed).sum()), time.perf_counter() - t0
    print(f"{args.years} years hourly: {len(grid.speed):,} hours, {observed:,} observed ({gen_s:.1f} s)")
    for step in () if args.no_baselines else (6, 1):
        bench_baselines(grid, step)
    bench_networks(grid, args.kinds.split(","), args.loop_origins, not args.auto_only)


if __name__ == "__main__":
    main()
