"""Training speed and memory figures for windcast's recurrent forecasters, printed in one run.

    python benchmarks/train.py          # ceilings, GRU/LSTM grid, window memory, default fits (~3 min)
    python benchmarks/train.py --quick --skill   # test RMSE by lead: model vs persistence vs blend, 3 seeds
    python benchmarks/train.py --kinds  # only windows/s of every model kind beside lstm's (~1 min)

FLOPs counted: the input and recurrent matmuls of every layer (2 * gates * hidden * (inputs + hidden) per
window step), forward + backward taken as 3x forward. Head, loss and optimizer are not counted but are timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.device import describe_precision, read_cpu_flags, use_bf16  # noqa: E402
from models.features import FeatureSpec, fit_hour_climatology, make_feature_matrix, to_regular_grid  # noqa: E402
from models.networks import KINDS, NetworkConfig, RecurrentForecaster, forecast_loss  # noqa: E402
from models.scaling import fit_scaler  # noqa: E402
from models.training import ForecasterConfig, fit_forecaster, predict  # noqa: E402
from models.windows import build_window_set, make_cutoffs  # noqa: E402

GATES = {"gru": 3, "lstm": 4, "rnn": 1}
N_FEATURES = 7  # speed, direction sin/cos, gust, hour climatology, hour sin/cos: the mast's channels
ANCHOR = 4  # the climatology channel the head anchors on, as in the defaults
SAMPLE = ROOT / "data" / "sample"
DEVICE = torch.device("cpu")  # --device cuda on a GPU worker
GRID_SIZES = ((32, 1), (64, 1), (64, 2), (128, 1), (128, 2))  # (hidden, layers); 32x1 is the default


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(dtype: torch.dtype, n: int = 1024, budget_s: float = 1.5) -> float:
    """Sustained n x n matmul GFLOP/s in dtype; a slow dtype is measured on a smaller matrix."""
    probe = torch.randn(256, 256, device=DEVICE).to(dtype)
    probe @ probe  # warm-up (library load, kernel selection)
    _sync()
    t0 = time.perf_counter()
    probe @ probe
    _sync()
    if time.perf_counter() - t0 > 0.05:  # no native support: stay small
        n = 256
    if DEVICE.type == "cuda":
        n = 8192
    a, b = torch.randn(n, n, device=DEVICE).to(dtype), torch.randn(n, n, device=DEVICE).to(dtype)
    a @ b
    _sync()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        a @ b
        _sync()
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def train_flops_per_window(kind: str, hidden: int, layers: int, lookback: int, n_features: int) -> float:
    """Matmul FLOPs of one window's forward + backward (3x forward) through the recurrent encoder."""
    g, fwd = GATES[kind], 0
    for layer in range(layers):
        inputs = n_features if layer == 0 else hidden
        fwd += 2 * g * hidden * (inputs + hidden) * lookback
    return 3.0 * fwd


def windows_per_s(kind, hidden, layers, batch=256, lookback=168, bf16=False, budget_s=3.0) -> float:
    """Training windows/s of the real step (gather from views, forward, loss, backward, clip, AdamW)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    values = rng.standard_normal((20_000, N_FEATURES)).astype(np.float32)
    ws = build_window_set([values], [(15_000, 17_500)], lookback, 24)
    cfg = NetworkConfig(kind=kind, n_features=N_FEATURES, hidden_size=hidden, num_layers=layers, anchor_channel=ANCHOR)
    net = RecurrentForecaster(cfg).to(DEVICE)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step():
        x, y = ws.gather(rng.choice(ws.starts["train"], batch))
        x, y = x.to(DEVICE, non_blocking=True), y.to(DEVICE, non_blocking=True)
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=bf16):
            pred = net(x)
        loss = forecast_loss(pred.float(), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s or steps < 2:
        step()
        steps += 1
    _sync()
    return steps * batch / (time.perf_counter() - t0)


def print_grid(f32_ceiling: float, bf16_slow: bool) -> None:
    """GRU and LSTM at batch 256, lookback 168: windows/s, GFLOP/s, fraction of the float32 ceiling."""
    print(f"\n## Recurrent training throughput (lookback 168, {N_FEATURES} input channels, 24 leads)")
    auto = "bf16" if use_bf16(DEVICE) else "fp32"
    print(f"precision='auto' picks {auto} here; 'vs fp32' = windows/s over the fp32 row of the same config")
    print(f"{'config':<16}{'precision':<10}{'batch':>6}{'windows/s':>11}{'GFLOP/s':>9}{'of fp32 peak':>13}"
          f"{'vs fp32':>9}")  # fmt: skip
    threads = torch.get_num_threads()
    rows = [(k, h, n, 256) for h, n in GRID_SIZES for k in ("gru", "lstm")]  # the shipped default size first
    for kind, hidden, layers, batch in rows:
        fp32_wps = None
        for bf16 in (False, True):
            label = f"{kind} {hidden}x{layers}"
            b = 8 if (bf16 and bf16_slow) else batch  # without native bf16 a 256 batch takes minutes
            try:
                wps = windows_per_s(kind, hidden, layers, batch=b, bf16=bf16, budget_s=1.0 if bf16 else 3.0)
            except RuntimeError as exc:
                print(f"{label:<16}{'bf16':<10}{b:>6}  unsupported here: {str(exc).splitlines()[0][:70]}")
                continue
            gflops = wps * train_flops_per_window(kind, hidden, layers, 168, N_FEATURES) / 1e9
            prec = "bf16" if bf16 else "fp32"
            fp32_wps = fp32_wps or wps
            ratio = f"{wps / fp32_wps:8.2f}x" + (" auto" if prec == auto else "")
            print(f"{label:<16}{prec:<10}{b:>6}{wps:>11.0f}{gflops:>9.1f}{gflops / f32_ceiling:>12.0%} {ratio}")
    if DEVICE.type != "cpu":
        return
    torch.set_num_threads(1)  # the defaults on one core each: how parallel station tasks would run
    for kind in ("gru", "lstm"):
        wps = windows_per_s(kind, 32, 1)
        gflops = wps * train_flops_per_window(kind, 32, 1, 168, N_FEATURES) / 1e9
        label = f"{kind} 32x1"
        print(f"{label:<16}{'fp32 1thr':<10}{256:>6}{wps:>11.0f}{gflops:>9.1f}{gflops / f32_ceiling:>12.0%}")
    torch.set_num_threads(threads)


def print_kinds(rounds: int = 3, threads: int = 1) -> None:
    """Training windows/s of every model kind at the default size (32x1, batch 256), as a ratio to lstm's.

    The kinds take turns for `rounds` rounds and each keeps its median, so a neighbour's burst on a shared
    machine hits all kinds alike instead of one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    print(f"\n## Every model kind at the default size (32x1, lookback 168, batch 256, {threads} thread, "
          f"median of {rounds} rounds)")  # fmt: skip
    runs = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            runs[kind].append(windows_per_s(kind, 32, 1, budget_s=2.0))
    ref = float(np.median(runs["lstm"]))
    print(f"{'kind':<10}{'windows/s':>10}{'vs lstm':>9}   rounds")
    for kind, wps in runs.items():
        med = float(np.median(wps))
        print(f"{kind:<10}{med:>10.0f}{med / ref:>8.2f}x   " + " ".join(f"{w:.0f}" for w in wps))
    torch.set_num_threads(before)


def synthetic_frame(n_hours: int, seed: int) -> pd.DataFrame:
    """An hourly station with gust and direction; 20 outages of 1-72 hours."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2010-01-01", periods=n_hours, freq="1h", tz="UTC").astype("datetime64[us, UTC]")
    speed = np.abs(6 + np.cumsum(rng.normal(0, 0.3, n_hours)) % 8)
    f = pd.DataFrame({"time": t, "wind_speed_ms": speed, "wind_dir_deg": rng.uniform(0, 360, n_hours),
                      "wind_gust_ms": speed * 1.4})  # fmt: skip
    keep = np.ones(n_hours, dtype=bool)
    for start, length in zip(rng.integers(0, n_hours - 72, 20), rng.integers(1, 73, 20), strict=True):
        keep[start : start + length] = False
    return f[keep].reset_index(drop=True)


def print_window_memory(n_stations: int = 10, years: int = 10) -> None:
    """Peak traced memory of features + scaling + windows for n_stations x years of hourly data."""
    frames = [synthetic_frame(int(years * 8766), s) for s in range(n_stations)]
    spec = FeatureSpec(direction=True, gust=True)
    tracemalloc.start()
    t0 = time.perf_counter()
    mats, stops = [], []
    for f in frames:
        grid = to_regular_grid(f)
        cut = make_cutoffs(grid.index[np.isfinite(grid["wind_speed_ms"].to_numpy())])
        stops.append(cut.stops(grid.index))
        mats.append(make_feature_matrix(grid, spec, fit_hour_climatology(grid.iloc[: stops[-1][0]])))
    train_rows = [m[:s] for m, (s, _) in zip(mats, stops, strict=True)]
    scaler = fit_scaler(train_rows, spec.scaled_channels, spec.tied_channels)
    ws = build_window_set([scaler.transform(m) for m in mats], stops, 168, 24)
    x, _ = ws.gather(ws.starts["train"][:256])
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_windows = sum(len(v) for v in ws.starts.values())
    series_mb = ws.values.nbytes / 1e6
    copied_gb = n_windows * 168 * len(spec.names) * 4 / 1e9
    print(f"\n## Window memory: {n_stations} stations x {years} years hourly ({len(ws.values):,} rows, "
          f"{len(spec.names)} channels)")  # fmt: skip
    print(f"windows: {n_windows:,} (lookback 168 + horizon 24), built in {seconds:.1f} s")
    print(f"peak traced memory while building: {peak / 1e6:.0f} MB (joined series {series_mb:.0f} MB; "
          f"materialised windows would take {copied_gb:.1f} GB)")  # fmt: skip
    print(f"a 256-window minibatch gathered from the view: {tuple(x.shape)}, {x.numel() * 4 / 1e6:.1f} MB")


def load_sample() -> dict[str, pd.DataFrame]:
    """The embedded sample as curated hourly frames (mast: hourly means of >= 3 of 6 samples)."""
    frames = {}
    for sid in ("greensboro", "sand_point"):
        d = pd.read_csv(SAMPLE / f"{sid}_tmy3.csv")
        t = pd.to_datetime(d["time"], utc=True).astype("datetime64[us, UTC]")
        cols = {
            "time": t,
            "wind_speed_ms": d["wind_speed_ms"].astype(float),
            "wind_dir_deg": d["wind_dir_deg"],
        }
        frames[sid] = pd.DataFrame(cols).sort_values("time").reset_index(drop=True)
    d = pd.read_csv(SAMPLE / "mast_10min.csv.gz").dropna(subset=["Spd80mN"])
    direction = [c for c in d.columns if c.startswith("Dir")][0]
    rad = np.deg2rad(d[direction])
    hour = pd.to_datetime(d["Timestamp"]).dt.tz_localize("UTC").dt.floor("h")
    d = d.assign(hour=hour, u=np.sin(rad), v=np.cos(rad))
    g = d.groupby("hour").agg(n=("Spd80mN", "size"), s=("Spd80mN", "mean"), gust=("Spd80mNMax", "max"),
                              u=("u", "mean"), v=("v", "mean"))  # fmt: skip
    g = g[g["n"] >= 3]
    frames["mast"] = pd.DataFrame({
        "time": g.index.astype("datetime64[us, UTC]"), "wind_speed_ms": g["s"].to_numpy(),
        "wind_dir_deg": (np.rad2deg(np.arctan2(g["u"], g["v"])) % 360).to_numpy(),
        "wind_gust_ms": g["gust"].to_numpy(),
    })  # fmt: skip
    return frames


def print_default_fit(frames: dict[str, pd.DataFrame], kinds: tuple[str, ...] = ("gru", "lstm")) -> None:
    """Wall time of the default `fit_forecaster` per station of the embedded sample, GRU and LSTM, fp32 vs auto."""
    print("\n## Default training on the embedded sample (one model per station, ForecasterConfig defaults)")
    print(f"precision auto = {describe_precision(torch.device('cpu'))}; ratio = fp32 time / auto time")
    for kind in kinds:
        for sid, frame in frames.items():
            took = {}
            for precision in ("fp32", "auto"):
                t0 = time.perf_counter()
                fit = fit_forecaster({sid: frame}, ForecasterConfig(kind=kind, precision=precision))
                took[precision] = time.perf_counter() - t0
                print(f"{kind} {sid:<11} {precision:<5} {took[precision]:5.1f} s, {len(fit.history)} epochs "
                      f"(best {fit.best_epochs}), {fit.n_windows['train']} training windows, "
                      f"val skill {fit.metrics['val_skill']:+.3f}")  # fmt: skip
            print(f"{kind} {sid:<11} fp32 / auto: {took['fp32'] / took['auto']:.2f}x")


def _blend(times, speed, train_stop, origins, horizon, tau):
    hours = times.hour.to_numpy()
    clim = pd.Series(speed[:train_stop]).groupby(hours[:train_stop]).mean().reindex(range(24)).to_numpy()
    h = np.arange(1, horizon + 1)
    c = clim[(hours[origins][:, None] + h) % 24]
    return c + (speed[origins][:, None] - c) * np.exp(-h / tau)


def _origins(speed: np.ndarray, lo: int, hi: int, lookback: int, horizon: int) -> np.ndarray:
    """Every origin in [lo, hi - horizon) whose history and targets are all observed."""
    bad = np.concatenate([[0], np.cumsum(~np.isfinite(speed))])
    cand = np.arange(max(lo, lookback - 1), hi - horizon)
    return cand[bad[cand + horizon + 1] - bad[cand - lookback + 1] == 0]


def print_skill(frames: dict[str, pd.DataFrame], seeds: list[int], kinds: list[str]) -> None:
    """Test RMSE by lead of the default networks vs persistence vs the persistence-to-climatology blend."""
    lookback, horizon = 168, 24
    print(f"\n## Skill on the test part (last 20 % of observed hours; every gap-free origin), seeds {seeds}")
    for kind in kinds:
        for sid, frame in frames.items():
            grid = to_regular_grid(frame)
            times, speed = grid.index, grid["wind_speed_ms"].to_numpy()
            runs = []
            for seed in seeds:
                fit = fit_forecaster({sid: frame}, ForecasterConfig(kind=kind, seed=seed))
                train_stop, val_stop = fit.cutoffs[sid].stops(times)
                o = _origins(speed, val_stop, len(speed), lookback, horizon)
                ov = _origins(speed, train_stop, val_stop, lookback, horizon)
                y, yv = (speed[k[:, None] + np.arange(1, horizon + 1)] for k in (o, ov))
                taus = [1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 96]  # tau fitted on validation
                tau = min(taus, key=lambda t: np.mean((_blend(times, speed, train_stop, ov, horizon, t) - yv) ** 2))
                rmse = {
                    "model": np.sqrt(((predict(fit.forecaster, frame, times[o]) - y) ** 2).mean(0)),
                    "persistence": np.sqrt(((speed[o][:, None] - y) ** 2).mean(0)),
                    "blend": np.sqrt(((_blend(times, speed, train_stop, o, horizon, tau) - y) ** 2).mean(0)),
                }
                runs.append(rmse)
                skill = {k: np.mean(1 - v / rmse["persistence"]) for k, v in rmse.items()}
                print(f"{kind} {sid:<11} seed {seed}: {len(o)} origins, skill model {skill['model']:+.3f} "
                      f"blend {skill['blend']:+.3f} (tau {tau} h)")  # fmt: skip
            mean = {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}
            print(f"{kind} {sid} mean over seeds, RMSE (m/s) by lead:")
            print("lead  " + " ".join(f"{h:>5d}" for h in range(1, horizon + 1)))
            for k, v in mean.items():
                print(f"{k[:5]:<6}" + " ".join(f"{x:5.2f}" for x in v))
            skill_m = 1 - mean["model"] / mean["persistence"]
            print("skill " + " ".join(f"{x:+5.2f}" for x in skill_m))
            print(f"overall RMSE model {np.sqrt((mean['model'] ** 2).mean()):.3f} blend "
                  f"{np.sqrt((mean['blend'] ** 2).mean()):.3f} persistence "
                  f"{np.sqrt((mean['persistence'] ** 2).mean()):.3f}")  # fmt: skip


def main() -> None:
    """Print the figures; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skill", action="store_true", help="also score the defaults against the baselines")
    ap.add_argument("--seeds", default="0,1,2", help="seeds for --skill")
    ap.add_argument("--quick", action="store_true", help="skip the throughput grid")
    ap.add_argument("--kinds", action="store_true", help="only the windows/s of every model kind")
    ap.add_argument("--device", default="cpu", help="cpu | cuda: where the throughput grid runs")
    ap.add_argument("--small-grid", action="store_true", help="only the default size (32x1) in the grid")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--fit-kinds", default="gru,lstm", help="kinds of the default fits on the sample")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global DEVICE, GRID_SIZES
    DEVICE = torch.device(args.device)
    if args.small_grid:
        GRID_SIZES = ((32, 1),)
    print(f"# windcast training benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    flags = read_cpu_flags() or frozenset()
    simd = sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("bf16", "fma"))
    print(f"CPU capability (torch): {torch.backends.cpu.get_cpu_capability()}; SIMD/matrix flags: {' '.join(simd)}")
    print(f"precision='auto' on this CPU: {describe_precision(torch.device('cpu'))}")
    if DEVICE.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}; precision='auto' there: {describe_precision(DEVICE)}")
    f32 = matmul_gflops(torch.float32)
    bf16 = matmul_gflops(torch.bfloat16)
    print("\n## Matmul ceilings (1024 x 1024)")
    print(f"float32 {f32:.0f} GFLOP/s, bfloat16 {bf16:.1f} GFLOP/s ({bf16 / f32:.2f}x float32)")
    if args.kinds:
        print_kinds()
        return
    if not args.quick:
        print_kinds()
        print_grid(f32, bf16_slow=bf16 < 0.5 * f32)
        print_window_memory()
    if SAMPLE.exists():
        frames = load_sample()
        print_default_fit(frames, tuple(args.fit_kinds.split(",")))
        if args.skill:
            print_skill(frames, [int(s) for s in args.seeds.split(",")], ["gru", "lstm"])


if __name__ == "__main__":
    main()
