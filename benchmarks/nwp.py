"""Skill gained from NWP forecasts as future-known inputs, on GEFCom2012 (real NWP paired with wind farm output).

Run: nice -n 10 python benchmarks/nwp.py [--farms 1 2 3 4 5] [--seeds 0 1 2] [--max-epochs 20] [--out file.json]
Quick: python benchmarks/nwp.py --farms 1 --seeds 0 --max-epochs 3

Per farm (target: hourly normalised power, 0..1), the gap-free first 18 months (2009-07-01 .. 2011-01-03; later
the competition's 48 h holes every 84 h leave no 168 h history) are split 70/10/20 by observed hours. Scored on
the same test origins (every --step hours, only where the NWP covers leads 1..24 by the issue-time rule):
persistence, climatology, blend, nwp (raw NWP wind, m/s: not power, shown for completeness), nwp_mos (per-lead
linear fit of power on NWP wind over the training origins), and windcast's default GRU without and with NWP at the
target hours, one network per seed (--members per network). NWP for origin t comes only from the latest issue at
or before t (00/12 UTC issues, leads 1..48), read with its true leads (models.nwp.align_nwp).
Skill = 1 - RMSE / RMSE(persistence) per lead; "mean 1-24" averages it over leads 1..24.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backtest import HourlyGrid, select_origins  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.nwp import align_nwp, fit_nwp_mos, nwp_forecast, nwp_mos_forecast  # noqa: E402
from models.training import ForecasterConfig, fit_forecaster, predict  # noqa: E402
from models.windows import make_cutoffs  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "devdata" / "gefcom2012"
GAP_FREE_UNTIL = pd.Timestamp("2011-01-03 00:00", tz="UTC")  # last hour before the first competition hole
HORIZON, LOOKBACK, LEADS = 24, 168, (1, 6, 12, 24)


def load_farm(farm: int, data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(power frame with time / wind_speed_ms = normalised power, NWP rows in the nwp/ columns)."""
    power = pd.read_csv(data / "train.csv", dtype={"date": str})
    times = pd.to_datetime(power["date"], format="%Y%m%d%H", utc=True)
    frame = pd.DataFrame({"time": times, "wind_speed_ms": power[f"wp{farm}"].astype(float)})
    frame = frame[frame["time"] <= GAP_FREE_UNTIL].reset_index(drop=True)
    raw = pd.read_csv(data / f"windforecasts_wf{farm}.csv", dtype={"date": str})
    issued = pd.to_datetime(raw["date"], format="%Y%m%d%H", utc=True)
    nwp = pd.DataFrame(
        {
            "issued_at": issued,
            "valid_time": issued + pd.to_timedelta(raw["hors"], unit="h"),
            "wind_speed_10m_ms": raw["ws"].astype(float),
            "wind_dir_10m_deg": raw["wd"].astype(float),
        }
    )
    return frame, nwp


def score(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """RMSE per lead (H,)."""
    return np.sqrt(((pred - y) ** 2).mean(axis=0))


def run_farm(farm: int, args) -> dict:
    """Every model's RMSE per lead on one farm's test origins (networks: one entry per seed)."""
    frame, nwp = load_farm(farm, args.data)
    grid = HourlyGrid(pd.DatetimeIndex(frame["time"]), frame["wind_speed_ms"].to_numpy())
    cut = make_cutoffs(grid.times[np.isfinite(grid.speed)])
    train_stop, val_stop = cut.stops(grid.times)
    args_o = (LOOKBACK, HORIZON)
    with_nwp = lambda o: o[align_nwp(nwp, grid.times[o], HORIZON).complete]  # noqa: E731
    test = with_nwp(select_origins(grid.speed, *args_o, val_stop, len(grid.speed), args.step))
    val = with_nwp(select_origins(grid.speed, *args_o, train_stop, val_stop, args.step))
    train_o = with_nwp(select_origins(grid.speed, 1, HORIZON, 0, train_stop, 1))
    y = grid.speed[test[:, None] + np.arange(1, HORIZON + 1)]
    train_mask = np.asarray(grid.times < cut.train_end)
    rmse = {}
    for name in ("persistence", "climatology", "blend"):
        b = BASELINES[name]
        params = b.fit(grid.times, grid.speed, train_mask, val, HORIZON)
        rmse[name] = score(y, b.predict(grid.times, grid.speed, test, HORIZON, params))
    aligned = align_nwp(nwp, grid.times[test], HORIZON)
    rmse["nwp"] = score(y, nwp_forecast(aligned))
    y_train = grid.speed[train_o[:, None] + np.arange(1, HORIZON + 1)]
    mos = fit_nwp_mos(align_nwp(nwp, grid.times[train_o], HORIZON), y_train)
    rmse["nwp_mos"] = score(y, nwp_mos_forecast(aligned, mos))
    for seed in args.seeds:
        cfg = ForecasterConfig(
            lookback_steps=LOOKBACK, horizon_steps=HORIZON, n_members=args.members, max_epochs=args.max_epochs,
            seed=seed, num_threads=1, device="cpu",
        )  # fmt: skip
        for label, feed in (("gru", None), ("gru+nwp", {"farm": nwp})):
            t0 = time.perf_counter()
            fit = fit_forecaster({"farm": frame}, cfg, {"farm": cut}, nwp=feed)
            pred = predict(fit.forecaster, frame, grid.times[test], "farm", nwp=None if feed is None else nwp)
            rmse.setdefault(label, []).append(score(y, pred))
            print(f"  wf{farm} {label} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    out = {k: (np.mean(v, axis=0) if isinstance(v, list) else v).tolist() for k, v in rmse.items()}
    seeds = {k: [r.tolist() for r in v] for k, v in rmse.items() if isinstance(v, list)}
    return {"farm": farm, "n_test_origins": int(len(test)), "rmse": out, "rmse_by_seed": seeds}


def print_farm(result: dict) -> None:
    """Skill vs persistence at the chosen leads, and its mean over 1..24, per model (networks: seed mean +- sd)."""
    ref = np.asarray(result["rmse"]["persistence"])
    print(f"wf{result['farm']}: {result['n_test_origins']} test origins; persistence RMSE " +
          " ".join(f"h{h} {ref[h - 1]:.3f}" for h in LEADS))  # fmt: skip
    print(f"  {'model':<12}" + "".join(f"skill h{h:<4}" for h in LEADS) + "mean 1-24")
    for name, r in result["rmse"].items():
        sk = 1 - np.asarray(r) / ref
        spread = ""
        if name in result["rmse_by_seed"] and len(result["rmse_by_seed"][name]) > 1:
            means = [np.mean(1 - np.asarray(s) / ref) for s in result["rmse_by_seed"][name]]
            spread = f" +- {np.std(means):.3f} ({len(means)} seeds)"
        print(f"  {name:<12}" + "".join(f"{sk[h - 1]:+9.3f}  " for h in LEADS) + f"{sk.mean():+.3f}{spread}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--farms", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--members", type=int, default=1, help="ensemble members per network")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--step", type=int, default=3, help="hours between test origins")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for farm in args.farms:
        results.append(run_farm(farm, args))
        print_farm(results[-1])
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
