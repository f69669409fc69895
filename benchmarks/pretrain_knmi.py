"""Pretrain the bundled starting weights of the default GRU on the KNMI development stations.

Run: python benchmarks/pretrain_knmi.py [--kind gru|lstm] [--out models/pretrained/knmi_<kind>32.pt]

Data: ../shared/devdata/knmi (hourly means of 13 Dutch stations, 2013-2015, whole m/s; station 257 is left out:
its values are one filled day repeated, not measurements). None of these stations is a benchmark station of
benchmarks/skill.py, so the skill table scores the pretrained start on data it never saw. One network over all
stations (speed, hour-of-day climatology and hour of day; no direction, no day of year, as a new station has),
the `ForecasterConfig` defaults otherwise, one member, seed 0, one CPU thread: bit-reproducible on the CPU.
The checkpoint is an ordinary forecaster checkpoint (weights-only loadable); `extra` records its provenance.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.calibrate_validation import knmi_series  # noqa: E402
from models.checkpoint import save_fit  # noqa: E402
from models.training import ForecasterConfig, fit_forecaster  # noqa: E402
from models.warm_start import BUNDLED, PRETRAINED_DIR  # noqa: E402

SHARED = ROOT.parent / "shared"
PLACEHOLDER_STATIONS = ("257",)  # the same 24 values every day (devdata/README.md)
PRETRAIN_CONFIG = {
    "hidden_size": 32, "num_layers": 1, "n_members": 1, "seed": 0, "num_threads": 1,
    "init_weights": None, "day_of_year": False, "windows_per_epoch": 16384,
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="gru", choices=sorted({k for k, _, _ in BUNDLED}))
    parser.add_argument("--out", type=Path, help="default: models/pretrained/<the bundled name>")
    args = parser.parse_args()
    args.out = args.out or PRETRAINED_DIR / BUNDLED[(args.kind, 32, 1)]
    series = {k.split("/")[1]: v for k, v in knmi_series(SHARED).items()}
    frames = {f"knmi_{sid}": f[["time", "wind_speed_ms"]] for sid, f in series.items()
              if sid not in PLACEHOLDER_STATIONS}  # fmt: skip
    config = ForecasterConfig(kind=args.kind, **PRETRAIN_CONFIG)
    t0 = time.perf_counter()
    fit = fit_forecaster(frames, config)
    seconds = time.perf_counter() - t0
    files = sorted((SHARED / "devdata" / "knmi").glob("*.csv"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    provenance = {
        "data": {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
        "stations": sorted(frames),
        "command": f"python benchmarks/pretrain_knmi.py --kind {args.kind}",
        "config": {"kind": args.kind, **PRETRAIN_CONFIG},
        "git_commit": commit.stdout.strip(),
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    save_fit(args.out, fit, extra={"provenance": provenance})
    print(f"pretrained on {len(frames)} stations in {seconds:.0f} s, best epoch {fit.best_epochs}, "
          f"val RMSE {fit.metrics['val_rmse_ms']:.3f} m/s (persistence {fit.metrics['val_rmse_persistence_ms']:.3f}); "
          f"{args.out} ({args.out.stat().st_size / 1024:.0f} KB)")  # fmt: skip


if __name__ == "__main__":
    main()
