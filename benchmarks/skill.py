"""Skill of the default networks against every baseline on real stations, full and short histories, several seeds.

Run: python benchmarks/skill.py [--stations ...] [--histories full 3 6 12] [--seeds 0 1 2] [--kinds gru lstm]
       [--variant default] [--out results.jsonl] [--report results.jsonl ...]

Stations: the four Beijing sites of ../shared/devdata/beijing (4 years hourly) and the embedded sample
(greensboro, sand_point, mast; full history only). For a history of N months, the station keeps its own test
period (the last 20 % of its observed hours, as the pipeline splits it) and only the N months before it: a new
station with N months of data, scored on exactly the same test origins as the full record. The part before the
test period is split 7:1 into training and validation by observed hours (the pipeline's 70/10 ratio).

Every model is scored on the same origins: every hour of the test period whose 168 h history and 24 h targets are
observed. Baselines are fitted as the backtest fits them (validation origins every 6 h); the networks train with
`ForecasterConfig` defaults (one CPU thread) plus the variant's overrides. Each finished fit is appended to --out
as one JSON line, so a long run can be made in parts (a network fit already in --out is not redone) and
reported together (--report reads them back). The
report prints, per station and history: mean skill (1 - RMSE / RMSE of persistence, averaged over leads 1-24 h)
and skill at 1, 6, 12, 24 h of every model (networks: mean over seeds, with the seeds' range), the best network's
lead over the best baseline, and training seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backtest import select_origins, to_hourly_grid  # noqa: E402
from models.baselines import BASELINES  # noqa: E402
from models.intervals import MIN_RESIDUALS, apply_intervals, fit_residual_quantiles, rolling_intervals  # noqa: E402
from models.metrics import interval_coverage, pinball_loss  # noqa: E402
from models.windows import SPLIT_FRACTIONS, Cutoffs, make_cutoffs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT.parent / "shared" / "devdata" / "beijing"
BEIJING_STATIONS = ("Aotizhongxin", "Changping", "Dongsi", "Gucheng")
SAMPLE_STATIONS = ("greensboro", "sand_point", "mast")
LOOKBACK, HORIZON, VAL_STEP = 168, 24, 6
REPORT_LEADS = (1, 6, 12, 24)
COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]

# Network variants measured against the defaults: ForecasterConfig overrides (the defaults are "default").
VARIANTS: dict[str, dict] = {
    "default": {},
    "blend": {"linear_skip": False},  # the defaults before the skip path (2026-11-22): the blend start only
    "skip": {"linear_skip": True},  # frozen closed-form ridge on top of the blend; the start competes on validation
    "fresh": {"init_weights": None},  # the defaults before the pretrained start (2026-12-02): random encoder, zero head
    "pre1e3": {"finetune_learning_rate": 1e-3},  # pretrained start fine-tuned at a higher peak learning rate
    "perlead": {"skip_per_lead": True},  # the skip ridge's lags and penalty chosen per lead on validation
    "pretrained": {"pretrained_max_hours": 10**9},  # the pretrained start on every history, not only short ones
    "blendcentre": {"skip_centres": ("blend",)},  # the defaults before 2026-12-02: the skip ridge centred on the blend
    "pat8": {"patience": 8},  # early stopping waits 8 epochs instead of 4 (lost: docs/models.md)
    "lr1e3": {"learning_rate": 1e-3},  # a lower peak learning rate for the fresh start
    "every": {"windows_per_epoch": 0},  # every training window in every epoch (the one-cycle schedule spans them)
    "w8192": {"windows_per_epoch": 8192},  # 4x the default windows per epoch
    "val2": {},  # validation = the last quarter before the test period, not an eighth (VAL_SHARES)
    "everyval2": {"windows_per_epoch": 0},  # every window, and the quarter validation of "val2"
    "pooled": {},  # one network over three Beijing sites of the same history (POOLED), scored per site
}
# The "pooled" variant fits one network on the station and two other Beijing sites (same history, same cutoffs
# rule), so a site with 3 months of data trains on 9 months of neighbouring wind. Dongsi replaces Aotizhongxin
# (their files are identical from 2015-02-28 on).
POOLED = ("Aotizhongxin", "Changping", "Gucheng")
_POOLED_FITS: dict = {}


def load_beijing(site: str) -> pd.DataFrame:
    """One Beijing site as a curated frame: UTC time (the file is Beijing time, UTC+8), speed, direction."""
    d = pd.read_csv(BEIJING / f"PRSA_Data_{site}_20130301-20170228.csv")
    local = pd.to_datetime(d[["year", "month", "day", "hour"]])
    frame = pd.DataFrame(
        {
            "time": (local - pd.Timedelta(hours=8)).dt.tz_localize("UTC").astype("datetime64[us, UTC]"),
            "wind_speed_ms": d["WSPM"].astype(float),
            "wind_dir_deg": d["wd"].map({c: 22.5 * i for i, c in enumerate(COMPASS)}),
        }
    )
    return frame.dropna(subset=["wind_speed_ms"]).reset_index(drop=True)


def load_station(station: str) -> pd.DataFrame:
    if station in SAMPLE_STATIONS:
        from benchmarks.train import load_sample

        return load_sample()[station]
    return load_beijing(station)


# Share of the part before the test period that validates: an eighth, the pipeline's 70/10 split. A variant listed
# here changes it for every model of the case, baselines included; the test period stays the same.
VAL_SHARE = 1 / 8
VAL_SHARES = {"val2": 0.25, "everyval2": 0.25}


def history_cutoffs(frame: pd.DataFrame, history: str, val_share: float = VAL_SHARE) -> tuple[pd.DataFrame, Cutoffs]:
    """(frame, cutoffs) for a history: 'full' (70/10/20) or N months before the full record's test period."""
    observed = pd.DatetimeIndex(frame["time"])
    full = make_cutoffs(observed)
    if history == "full":
        if val_share != VAL_SHARE:  # the same test share, the part before it split by val_share
            test = SPLIT_FRACTIONS[2]
            full = make_cutoffs(observed, ((1 - test) * (1 - val_share), (1 - test) * val_share, test))
        return frame, full
    start = full.val_end - pd.DateOffset(months=int(history))
    kept = frame[frame["time"] >= start].reset_index(drop=True)
    before = pd.DatetimeIndex(kept["time"])[pd.DatetimeIndex(kept["time"]) < full.val_end]
    train_end = before[int(len(before) * (1 - val_share))]
    return kept, Cutoffs(train_end, full.val_end)


def _targets(speed: np.ndarray, origins: np.ndarray) -> np.ndarray:
    return speed[origins[:, None] + np.arange(1, HORIZON + 1)[None, :]]


def _rmse(pred: np.ndarray, y: np.ndarray) -> list[float]:
    return np.sqrt(np.mean((pred - y) ** 2, axis=0)).tolist()


def run_case(station: str, history: str, seeds, kinds, variant: str, out: Path, preds: Path | None = None) -> None:
    """Fit baselines once and networks per seed on one station and history; append one JSON line per fit.

    A default network whose skip path was refitted on training + validation also gets a row `<kind>:frozen`
    from the same fit with the skip weights put back as they were before the refit (the defaults before it).
    With `preds`, every model's validation and test forecasts are kept as .npz there (to study the bands).
    """
    import torch

    from models.training import ForecasterConfig, fit_forecaster, predict

    frame, cut = history_cutoffs(load_station(station), history, VAL_SHARES.get(variant, VAL_SHARE))
    grid = to_hourly_grid(frame)
    train_stop, val_stop = cut.stops(grid.times)
    val = select_origins(grid.speed, LOOKBACK, HORIZON, train_stop, val_stop, VAL_STEP)
    test = select_origins(grid.speed, LOOKBACK, HORIZON, val_stop, len(grid.speed), 1)
    y = _targets(grid.speed, test)
    val_all = select_origins(grid.speed, LOOKBACK, HORIZON, train_stop, val_stop, 1)  # for the P10-P90 band
    y_val = _targets(grid.speed, val_all)
    case = {"station": station, "history": history, "n_test_origins": len(test), "cutoffs": cut.to_dict()}
    rows = []
    for name, baseline in BASELINES.items():
        t0 = time.perf_counter()
        params = baseline.fit(grid.times, grid.speed, np.asarray(grid.times < cut.train_end), val, HORIZON)
        pred = baseline.predict(grid.times, grid.speed, test, HORIZON, params)
        seconds = time.perf_counter() - t0
        pred_val = baseline.predict(grid.times, grid.speed, val_all, HORIZON, params)
        band = _band(val_all, pred_val, y_val, test, pred, y)
        rows.append({**case, "model": name, "seed": None, "seconds": seconds, "rmse": _rmse(pred, y), **band})
        _keep(preds, station, history, name, None, grid, val_all, test, pred_val, pred)
    _append(out, rows)
    torch.set_num_threads(1)
    done = _done(out)
    for kind in kinds:
        for seed in seeds:
            if (station, history, f"{kind}:{variant}", seed) in done:
                continue  # finished by an earlier run writing to the same file
            config = ForecasterConfig(kind=kind, seed=seed, num_threads=1, **VARIANTS[variant])
            t0 = time.perf_counter()
            if variant == "pooled":
                fit, seconds = _pooled_fit(station, history, config)
            else:
                fit = fit_forecaster({station: frame}, config, {station: cut})
                seconds = time.perf_counter() - t0
            fits = [(f"{kind}:{variant}", fit.forecaster)]
            if fit.skip_start is not None and variant == "default":
                frozen = copy.deepcopy(fit.forecaster)
                for member, weight in zip(frozen.model.members, fit.skip_start, strict=True):
                    member.skip.weight.data.copy_(weight)
                fits.append((f"{kind}:frozen", frozen))
            for model, forecaster in fits:
                pred = predict(forecaster, frame, grid.times[test], station_id=station)
                pred_val = predict(forecaster, frame, grid.times[val_all], station_id=station)
                if pred.ndim == 3:
                    median = list(forecaster.quantiles).index(0.5)
                    pred, pred_val = pred[..., median], pred_val[..., median]
                row = {**case, "model": model, "seed": seed, "seconds": seconds, "rmse": _rmse(pred, y),
                       "epochs": len(fit.history), "best_epochs": fit.best_epochs,
                       **_band(val_all, pred_val, y_val, test, pred, y)}  # fmt: skip
                _append(out, [row])
                _keep(preds, station, history, model, seed, grid, val_all, test, pred_val, pred)
                print(f"{station} {history} {model} seed {seed}: {seconds:.0f} s, "
                      f"skill {_mean_skill(row['rmse'], rows[0]['rmse']):+.3f}", flush=True)  # fmt: skip


def _pooled_fit(station: str, history: str, config):
    """(fit, seconds) of one network over the station's pool of Beijing sites, fitted once per history/kind/seed."""
    from models.training import fit_forecaster

    if station not in BEIJING_STATIONS:
        raise ValueError(f"variant pooled: {station} is not a Beijing site {BEIJING_STATIONS}")
    pool = tuple("Dongsi" if s == "Aotizhongxin" and station == "Dongsi" else s for s in POOLED)
    key = (pool, history, config.kind, config.seed)
    if key not in _POOLED_FITS:
        cases = {s: history_cutoffs(load_station(s), history) for s in pool}
        t0 = time.perf_counter()
        fit = fit_forecaster({s: f for s, (f, _) in cases.items()}, config, {s: c for s, (_, c) in cases.items()})
        _POOLED_FITS[key] = (fit, time.perf_counter() - t0)
    return _POOLED_FITS[key]


def _band(val_origins, pred_val, y_val, test_origins, pred, y) -> dict:
    """Test coverage and mean pinball loss of the P10-P90 band: rolling (the last 30 days of residuals observed at
    each origin, the validation ones first, as the backtest scores it) and fixed (validation residuals only, the
    band before 2026-12-01); models/intervals.py."""
    if len(y_val) < MIN_RESIDUALS:
        return {}
    out = {}
    rolling = rolling_intervals(np.concatenate([val_origins, test_origins]), np.concatenate([y_val, y]),
                                np.concatenate([pred_val, pred]), len(val_origins))  # fmt: skip
    fixed = apply_intervals(pred, fit_residual_quantiles(y_val, pred_val))
    for prefix, bounds in (("", rolling), ("fixed_", fixed)):
        out[f"{prefix}coverage"] = float(interval_coverage(y, bounds[0.1], bounds[0.9], axis=None))
        out[f"{prefix}pinball"] = float(np.mean([pinball_loss(y, bounds[q], q, axis=None) for q in bounds]))
    return out


def _keep(preds: Path | None, station, history, model, seed, grid, val_origins, test_origins, pred_val, pred):
    """Save one model's validation and test forecasts with their origins and the speed series (float32 .npz)."""
    if preds is None:
        return
    preds.mkdir(parents=True, exist_ok=True)
    name = f"{station}_{history}_{model.replace(':', '-')}_{'base' if seed is None else seed}.npz"
    np.savez_compressed(preds / name, speed=grid.speed.astype(np.float32), hours=grid.times.hour.to_numpy(),
                        val_origins=val_origins, test_origins=test_origins,
                        pred_val=pred_val.astype(np.float32), pred=pred.astype(np.float32))  # fmt: skip


def _done(out: Path) -> set[tuple]:
    if not out.exists():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["station"], r["history"], r["model"], r["seed"]) for r in rows}


def _append(out: Path, rows: list[dict]) -> None:
    with out.open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def _skill(rmse, ref) -> np.ndarray:
    return 1 - np.asarray(rmse) / np.asarray(ref)


def _mean_skill(rmse, ref) -> float:
    return float(np.mean(_skill(rmse, ref)))


def report(paths: list[Path]) -> None:
    """Print the tables from JSON lines (the newest line wins for a repeated station/history/model/seed)."""
    rows = {}
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows[(r["station"], r["history"], r["model"], r["seed"])] = r
    frame = pd.DataFrame(rows.values())
    order = {h: i for i, h in enumerate(["3", "6", "12", "full"])}
    cases = sorted({(r["station"], r["history"]) for r in rows.values()}, key=lambda c: (c[0], order.get(c[1], 9)))
    summary = []
    for station, history in cases:
        case = frame[(frame["station"] == station) & (frame["history"] == history)]
        ref = case[case["model"] == "persistence"]["rmse"].iloc[0]
        print(f"\n### {station}, history {history}{'' if history == 'full' else ' months'}: "
              f"{case['n_test_origins'].iloc[0]} test origins")  # fmt: skip
        print(f"{'model':<22} {'mean skill':>10} " + " ".join(f"{h:>6d}h" for h in REPORT_LEADS)
              + "   train s  P10-P90 cover (fixed)")  # fmt: skip
        scores = {}
        for model, g in case.groupby("model", sort=False):
            skills = np.array([_skill(r, ref) for r in g["rmse"]])  # (seeds, H)
            mean, per_seed = skills.mean(axis=0), skills.mean(axis=1)
            scores[model] = float(mean.mean())
            spread = f" ({per_seed.min():+.3f}..{per_seed.max():+.3f})" if len(per_seed) > 1 else ""
            leads = " ".join(f"{mean[h - 1]:+7.3f}" for h in REPORT_LEADS)
            secs = f"{g['seconds'].mean():8.1f}" if g["seed"].notna().all() else " " * 8
            cover = g["coverage"].mean() if "coverage" in g and g["coverage"].notna().any() else np.nan
            cover = f"{100 * cover:8.1f} %" if np.isfinite(cover) else " " * 10
            has_fixed = "fixed_coverage" in g and g["fixed_coverage"].notna().any()
            fixed = g["fixed_coverage"].mean() if has_fixed else np.nan
            cover += f" ({100 * fixed:4.1f} %)" if np.isfinite(fixed) else " " * 9
            print(f"{model:<22} {mean.mean():+10.3f} {leads}  {secs}  {cover}{spread}")
        nets = {m: s for m, s in scores.items() if m not in BASELINES}
        bases = {m: s for m, s in scores.items() if m in BASELINES}
        best_b = max(bases, key=bases.get)
        line = {"station": station, "history": history, "best_baseline": best_b, "baseline_skill": bases[best_b]}
        for net, s in nets.items():
            worst_lead = float(np.min(np.mean([_skill(r, ref) for r in case[case["model"] == net]["rmse"]], axis=0)))
            print(f"{net} lead over best baseline ({best_b}): {s - bases[best_b]:+.3f}; "
                  f"lowest skill at any lead {worst_lead:+.3f}")  # fmt: skip
            line[net] = s - bases[best_b]
        summary.append(line)
    nets = sorted({k for s in summary for k in s} - {"station", "history", "best_baseline", "baseline_skill"})
    if nets:
        print("\n### Lead of each network over the best baseline (mean skill)")
        print(f"{'station':<14}{'history':>8}  {'best baseline':<24}" + "".join(f"{n:>16}" for n in nets))
        for s in summary:
            base = f"{s['best_baseline']} {s['baseline_skill']:+.3f}"
            print(f"{s['station']:<14}{s['history']:>8}  {base:<24}" + "".join(
                f"{s[n]:>+16.3f}" if n in s else f"{'-':>16}" for n in nets))  # fmt: skip
        means = [np.mean([s[n] for s in summary if n in s]) for n in nets]
        print(f"{'mean':<14}{'':>8}  {'':<24}" + "".join(f"{m:>+16.3f}" for m in means))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", nargs="+", default=[*BEIJING_STATIONS, *SAMPLE_STATIONS])
    parser.add_argument("--histories", nargs="+", default=["full", "3", "6", "12"], help="full and/or months")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--kinds", nargs="+", default=["gru", "lstm"], help="network kinds ([] with --kinds none)")
    parser.add_argument("--variant", default="default", choices=sorted(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("skill_results.jsonl"))
    parser.add_argument("--preds", type=Path, help="keep every model's validation and test forecasts here (.npz)")
    parser.add_argument("--report", type=Path, nargs="*", help="only print the tables of these JSON-lines files")
    args = parser.parse_args()
    if args.report is not None:
        report(args.report or [args.out])
        return
    kinds = [] if args.kinds == ["none"] else args.kinds
    import torch

    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"# windcast skill benchmark, {stamp}; {platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, 1 thread; variant {args.variant}", flush=True)  # fmt: skip
    for station in args.stations:
        for history in args.histories:
            if station in SAMPLE_STATIONS and history != "full":
                continue  # the sample's records are one or two years: only their own split is scored
            run_case(station, history, args.seeds, kinds, args.variant, args.out, args.preds)
    report([args.out])


if __name__ == "__main__":
    main()
