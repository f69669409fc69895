"""Test skill of every network kind beside the baselines, on the same origins, over stations and seeds.

    nice -n 10 python benchmarks/kinds_skill.py --stations Changping,Dongsi --seeds 0,1,2 --out kinds.csv
    python benchmarks/kinds_skill.py --summary kinds.csv    # the tables again from a (partial) results file

Data: ../shared/devdata/beijing (hourly, 4 years per station; local time UTC+8 converted to UTC). Per station:
one 70/10/20 split of observed hours shared by every kind and seed; test origins = every gap-free origin in the
test part (168 h history, 24 h targets). Baselines (every entry of models.baselines.BASELINES, so `linear` joins
when it exists) are fitted on the training rows and validation origins. Networks: ForecasterConfig defaults but
`n_members` (--members, 1 by default: the seeds are the replicates) and one thread. Seeds run outermost and each
result is appended to --out at once, so a run cut short still leaves complete seeds.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.train import _origins  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.features import to_regular_grid  # noqa: E402
from models.training import ForecasterConfig, fit_forecaster, predict  # noqa: E402
from models.windows import make_cutoffs  # noqa: E402

BEIJING = ROOT.parent / "shared" / "devdata" / "beijing"
COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]
LOOKBACK, HORIZON = 168, 24


def load_beijing(station: str) -> pd.DataFrame:
    """A curated frame (time UTC, wind_speed_ms, wind_dir_deg) from the station's PRSA file; NA rows dropped."""
    (path,) = BEIJING.glob(f"PRSA_Data_{station}_*.csv")
    d = pd.read_csv(path)
    local = pd.to_datetime(d[["year", "month", "day", "hour"]])
    time_utc = (local - pd.Timedelta(hours=8)).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    direction = d["wd"].map({c: 22.5 * i for i, c in enumerate(COMPASS)})
    f = pd.DataFrame({"time": time_utc, "wind_speed_ms": d["WSPM"], "wind_dir_deg": direction})
    return f.dropna(subset=["wind_speed_ms"]).reset_index(drop=True)


def rmse_by_lead(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(((pred - y) ** 2).mean(axis=0))


def score_station(station: str, frame: pd.DataFrame, kinds: list[str], seed: int, members: int, writer) -> None:
    """Fit every kind with one seed and write one row per model (baselines once, with seed 0)."""
    grid = to_regular_grid(frame)
    times, speed = grid.index, grid["wind_speed_ms"].to_numpy()
    cut = make_cutoffs(times[np.isfinite(speed)])
    train_stop, val_stop = cut.stops(times)
    test = _origins(speed, val_stop, len(speed), LOOKBACK, HORIZON)
    val = _origins(speed, train_stop, val_stop, LOOKBACK, HORIZON)
    y = speed[test[:, None] + np.arange(1, HORIZON + 1)]
    rows = {}
    if seed == 0:
        train_mask = np.arange(len(times)) < train_stop
        for name, b in BASELINES.items():
            params = b.fit(times, speed, train_mask, val, HORIZON)
            rows[name] = (rmse_by_lead(b.predict(times, speed, test, HORIZON, params), y), 0.0, 0)
    for kind in kinds:
        t0 = time.perf_counter()
        cfg = ForecasterConfig(kind=kind, seed=seed, n_members=members, num_threads=1)
        fit = fit_forecaster({station: frame}, cfg, cutoffs=cut)
        pred = predict(fit.forecaster, frame, times[test])
        rows[kind] = (rmse_by_lead(pred, y), time.perf_counter() - t0, len(fit.history))
    pers = rmse_by_lead(np.repeat(speed[test][:, None], HORIZON, axis=1), y)
    for model, (r, seconds, epochs) in rows.items():
        skill = float(np.mean(1 - r / pers))
        overall = float(np.sqrt((r**2).mean()))
        print(f"{station} seed {seed} {model:<15} skill {skill:+.4f} rmse {overall:.4f} m/s "
              f"({len(test)} origins, {seconds:.0f} s, {epochs} epochs)", flush=True)  # fmt: skip
        writer.writerow([station, model, seed, len(test), f"{skill:.5f}", f"{overall:.5f}", f"{seconds:.1f}",
                         epochs, " ".join(f"{v:.4f}" for v in r)])  # fmt: skip


def print_summary(path: Path) -> None:
    """Per station and model: mean skill over seeds (per seed in brackets), overall RMSE, vs the blend."""
    d = pd.read_csv(path)
    print(f"\n## Skill by model ({path.name}): mean over seeds of mean-over-leads 1 - RMSE/RMSE_persistence")
    per = d.groupby(["station", "model"]).agg(skill=("skill", "mean"), rmse=("rmse_ms", "mean"),
                                              seeds=("seed", "count"), seconds=("seconds", "mean"))  # fmt: skip
    for station, g in per.groupby(level="station"):
        blend = g.loc[(station, "blend"), "rmse"]
        print(f"\n{station} ({int(d.loc[d.station == station, 'origins'].iloc[0])} test origins)")
        print(f"{'model':<15}{'skill':>8}{'RMSE m/s':>10}{'vs blend':>10}{'seeds':>6}{'s/fit':>7}   per seed")
        for (_, model), r in g.sort_values("skill", ascending=False).iterrows():
            seeds = d[(d.station == station) & (d.model == model)].sort_values("seed")["skill"]
            print(f"{model:<15}{r.skill:>+8.4f}{r.rmse:>10.4f}{r.rmse / blend - 1:>+10.2%}{int(r.seeds):>6d}"
                  f"{r.seconds:>7.0f}   " + " ".join(f"{s:+.4f}" for s in seeds))  # fmt: skip
    mean = per.groupby(level="model")["skill"].mean().sort_values(ascending=False)
    print("\nmean skill over stations: " + ", ".join(f"{m} {s:+.4f}" for m, s in mean.items()))


def main() -> None:
    """Run the fits (or only summarise a results file); see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", default="Changping,Dongsi")
    ap.add_argument("--kinds", default="gru,lstm,rnn,cnn,cnn_lstm,fclstm")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--members", type=int, default=1, help="seed-ensemble size of each fit")
    ap.add_argument("--out", type=Path, default=Path("kinds_skill.csv"))
    ap.add_argument("--summary", type=Path, help="only print the tables of this results file")
    args = ap.parse_args()
    if args.summary:
        print_summary(args.summary)
        return
    stations, kinds = args.stations.split(","), args.kinds.split(",")
    frames = {s: load_beijing(s) for s in stations}
    new = not args.out.exists()
    with args.out.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["station", "model", "seed", "origins", "skill", "rmse_ms", "seconds", "epochs",
                             "rmse_by_lead_ms"])  # fmt: skip
        for seed in (int(s) for s in args.seeds.split(",")):
            for station in stations:
                score_station(station, frames[station], kinds, seed, args.members, writer)
                fh.flush()
    print_summary(args.out)


if __name__ == "__main__":
    main()
