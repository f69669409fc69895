"""Does bf16 autocast change skill? The same fits in float32 and bf16, scored on the same origins.

    python benchmarks/precision_skill.py                       # beijing, 2 stations, gru + lstm, seeds 0,1,2
    python benchmarks/precision_skill.py --stations Dongsi --kinds gru --seeds 0 --max-epochs 3   # quick

Each (kind, station, seed) is trained twice with the defaults of `ForecasterConfig`, once per precision, and
predicted in the precision it was trained in (as `precision="auto"` would). Validation and test RMSE of every
network sit beside persistence, the persistence-to-climatology blend and climatology on the same origins
(every gap-free hour of each period). The verdict compares the bf16 - fp32 difference of the seed mean with
the seed-to-seed spread of fp32.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.backtest import HourlyGrid, split_origins, to_hourly_grid  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.device import describe_precision  # noqa: E402
from models.training import ForecasterConfig, fit_forecaster, predict  # noqa: E402

BEIJING = ROOT.parent / "shared" / "devdata" / "beijing"
COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]
BASELINE_NAMES = ("persistence", "blend", "climatology")


def load_beijing(site: str) -> pd.DataFrame:
    """One site's hourly wind as curated measurements (time UTC, wind_speed_ms, wind_dir_deg)."""
    d = pd.read_csv(next(BEIJING.glob(f"PRSA_Data_{site}_*.csv")))
    local = pd.to_datetime(d[["year", "month", "day", "hour"]])
    t = (local - pd.Timedelta(hours=8)).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    direction = d["wd"].map({c: 22.5 * i for i, c in enumerate(COMPASS)})
    f = pd.DataFrame({"time": t, "wind_speed_ms": d["WSPM"], "wind_dir_deg": direction})
    return f.dropna(subset=["wind_speed_ms"]).reset_index(drop=True)


def score(grid: HourlyGrid, origins: np.ndarray, forecasts: dict[str, np.ndarray], horizon: int) -> dict:
    """Overall RMSE (m/s) of each forecast on the given origins."""
    y = grid.speed[origins[:, None] + np.arange(1, horizon + 1)]
    return {k: float(np.sqrt(((v - y) ** 2).mean())) for k, v in forecasts.items()}


def run_one(frame, kind, seed, precision, max_epochs, members):
    """Fit once; (val RMSEs, test RMSEs, seconds) of the network and the baselines on every gap-free origin."""
    cfg = ForecasterConfig(kind=kind, seed=seed, precision=precision, max_epochs=max_epochs, n_members=members)
    t0 = time.perf_counter()
    fit = fit_forecaster({"s": frame}, cfg)
    seconds = time.perf_counter() - t0
    grid = to_hourly_grid(frame)
    cut = fit.cutoffs["s"]
    val, test = split_origins(grid, cut, cfg.lookback_steps, cfg.horizon_steps, 1)
    mask = np.asarray(grid.times < cut.train_end)
    out = []
    for origins in (val, test):
        preds = {"net": predict(fit.forecaster, frame, grid.times[origins], precision=precision)}
        for name in BASELINE_NAMES:
            b = BASELINES[name]
            params = b.fit(grid.times, grid.speed, mask, val, cfg.horizon_steps)
            preds[name] = b.predict(grid.times, grid.speed, origins, cfg.horizon_steps, params)
        out.append(score(grid, origins, preds, cfg.horizon_steps))
    return out[0], out[1], seconds, len(test)


def main() -> None:
    """Print one line per fit, then the seed means and the verdict per (kind, station)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", default="Dongsi,Changping")
    ap.add_argument("--kinds", default="gru,lstm")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-epochs", type=int, default=ForecasterConfig().max_epochs)
    ap.add_argument("--members", type=int, default=ForecasterConfig().n_members, help="ensemble size")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    print(f"# bf16 vs fp32 skill, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, {args.threads} thread(s), {args.members} member(s), <= {args.max_epochs} epochs; "
          f"auto here = {describe_precision(cpu)}")  # fmt: skip
    seeds = [int(s) for s in args.seeds.split(",")]
    summary = []
    for site in args.stations.split(","):
        frame = load_beijing(site)
        for kind in args.kinds.split(","):
            res = {}
            for precision in ("fp32", "bf16"):
                for seed in seeds:
                    v, t, sec, n = run_one(frame, kind, seed, precision, args.max_epochs, args.members)
                    res[precision, seed] = (v, t)
                    print(f"{site:<10} {kind:<5} {precision} seed {seed}: {sec:6.1f} s | val net {v['net']:.4f} "
                          f"blend {v['blend']:.4f} pers {v['persistence']:.4f} | test net {t['net']:.4f} "
                          f"blend {t['blend']:.4f} clim {t['climatology']:.4f} pers {t['persistence']:.4f} "
                          f"({n} test origins)", flush=True)  # fmt: skip
            summary.append((site, kind, res))
    print("\n## Seed means: skill = 1 - RMSE / persistence RMSE on the same origins")
    print(f"{'station':<10} {'kind':<5} {'split':<5} {'fp32 net':>9} {'bf16 net':>9} {'bf16-fp32':>10} "
          f"{'fp32 seed sd':>12} {'blend':>7} {'clim':>7}  verdict")  # fmt: skip
    for site, kind, res in summary:
        for i, split in enumerate(("val", "test")):
            skill = {
                p: np.array([1 - res[p, s][i]["net"] / res[p, s][i]["persistence"] for s in seeds])
                for p in ("fp32", "bf16")
            }
            base = res["fp32", seeds[0]][i]
            blend, clim = (1 - base[k] / base["persistence"] for k in ("blend", "climatology"))
            diff = skill["bf16"].mean() - skill["fp32"].mean()
            sd = skill["fp32"].std(ddof=1) if len(seeds) > 1 else float("nan")
            verdict = "within seed noise" if abs(diff) <= max(2 * sd, 0.002) else "DIFFERS"
            print(f"{site:<10} {kind:<5} {split:<5} {skill['fp32'].mean():>+9.4f} {skill['bf16'].mean():>+9.4f} "
                  f"{diff:>+10.4f} {sd:>12.4f} {blend:>+7.4f} {clim:>+7.4f}  {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
