"""Test skill of every network kind beside the baselines, on the same origins, over stations and seeds.

    nice -n 10 python benchmarks/kinds_skill.py --stations Changping,Dongsi --seeds 0,1,2 --out kinds.csv
    python benchmarks/kinds_skill.py --summary kinds.csv    # the tables again from a (partial) results file

Data: ../shared/devdata/beijing (hourly, 4 years per station; local time UTC+8 converted to UTC). Per station:
one 70/10/20 split of observed hours shared by every kind and seed; test origins = every gap-free origin in the
test part (168 h history, 24 h targets). Baselines (every entry of models.baselines.BASELINES, so `linear` joins
when it exists) are fitted on the training rows and validation origins. Networks: ForecasterConfig defaults but
`n_members` (--members, 1 by default: the seeds are the replicates) and one thread. Every result row is appended
to --out as soon as it exists (seed, then kind, then station), so a run cut short keeps what it finished, and
seeds can run as separate processes appending to separate files (--summary reads several).
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


class Station:
    """One station's grid, split, test origins and targets, shared by every model and seed."""

    def __init__(self, name: str, frame: pd.DataFrame):
        self.name, self.frame = name, frame
        grid = to_regular_grid(frame)
        self.times, self.speed = grid.index, grid["wind_speed_ms"].to_numpy()
        self.cutoffs = make_cutoffs(self.times[np.isfinite(self.speed)])
        self.train_stop, val_stop = self.cutoffs.stops(self.times)
        self.test = _origins(self.speed, val_stop, len(self.speed), LOOKBACK, HORIZON)
        self.val = _origins(self.speed, self.train_stop, val_stop, LOOKBACK, HORIZON)
        self.y = self.speed[self.test[:, None] + np.arange(1, HORIZON + 1)]
        self.persistence = rmse_by_lead(np.repeat(self.speed[self.test][:, None], HORIZON, axis=1), self.y)

    def write(self, writer, model: str, seed: int, rmse: np.ndarray, seconds: float = 0.0, epochs: int = 0):
        """Print and append one result row."""
        skill, overall = float(np.mean(1 - rmse / self.persistence)), float(np.sqrt((rmse**2).mean()))
        print(f"{self.name} seed {seed} {model:<15} skill {skill:+.4f} rmse {overall:.4f} m/s "
              f"({len(self.test)} origins, {seconds:.0f} s, {epochs} epochs)", flush=True)  # fmt: skip
        writer.writerow([self.name, model, seed, len(self.test), f"{skill:.5f}", f"{overall:.5f}",
                         f"{seconds:.1f}", epochs, " ".join(f"{v:.4f}" for v in rmse)])  # fmt: skip


def score_baselines(st: Station, writer) -> None:
    """Every baseline, fitted on the training rows and the validation origins (seed-independent: seed 0)."""
    train_mask = np.arange(len(st.times)) < st.train_stop
    for name, b in BASELINES.items():
        params = b.fit(st.times, st.speed, train_mask, st.val, HORIZON)
        st.write(writer, name, 0, rmse_by_lead(b.predict(st.times, st.speed, st.test, HORIZON, params), st.y))


def score_kind(st: Station, kind: str, seed: int, members: int, writer) -> None:
    """Fit one network kind with one seed on the station's split and score it on the test origins."""
    t0 = time.perf_counter()
    cfg = ForecasterConfig(kind=kind, seed=seed, n_members=members, num_threads=1)
    fit = fit_forecaster({st.name: st.frame}, cfg, cutoffs=st.cutoffs)
    pred = predict(fit.forecaster, st.frame, st.times[st.test])
    st.write(writer, kind, seed, rmse_by_lead(pred, st.y), time.perf_counter() - t0, len(fit.history))


def print_summary(paths: list[Path]) -> None:
    """Per station and model: mean skill over seeds (then each seed), overall RMSE, vs the blend."""
    d = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    print("\n## Skill by model: mean over seeds of mean-over-leads 1 - RMSE/RMSE_persistence, same test origins")
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
    ap.add_argument("--summary", type=Path, nargs="+", help="only print the tables of these results files")
    args = ap.parse_args()
    if args.summary:
        print_summary(args.summary)
        return
    kinds, seeds = args.kinds.split(","), [int(v) for v in args.seeds.split(",")]
    stations = [Station(name, load_beijing(name)) for name in args.stations.split(",")]
    new = not args.out.exists()
    with args.out.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["station", "model", "seed", "origins", "skill", "rmse_ms", "seconds", "epochs",
                             "rmse_by_lead_ms"])  # fmt: skip
        if 0 in seeds:
            for st in stations:
                score_baselines(st, writer)
        for seed in seeds:
            for kind in kinds:
                for st in stations:
                    score_kind(st, kind, seed, args.members, writer)
                    fh.flush()
    print_summary([args.out])


if __name__ == "__main__":
    main()
