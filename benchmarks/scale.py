"""Scale-out figures: the whole pipeline (ingest -> train -> backtest -> forecast) on 1, 10 and 50 synthetic
stations, with Prefect's default thread-pool task runner and with a local Dask cluster (prefect-dask).

    python benchmarks/scale.py                          # 1, 10, 50 stations x {thread, dask}
    python benchmarks/scale.py --stations 1,10 --years 2 --dask-workers 2

Each case runs in a fresh Python process against one `prefect server` this script starts on 127.0.0.1 (own
PREFECT_HOME, telemetry off), so a case's wall time includes its imports and, for Dask, the cluster start-up.
Peak memory is the largest RSS sum over the case's process tree (the flow process and every Dask worker it
starts), sampled every 0.1 s; the Prefect server is not counted. Training uses a small setting (printed): the
figures show how the orchestration and the per-station work scale, not what a production training costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prefect import flow  # noqa: E402

from flows.backtest import backtest_stations_flow, new_run_id  # noqa: E402
from flows.forecast import forecast_stations_flow  # noqa: E402
from flows.ingest import ingest_stations_flow  # noqa: E402
from flows.runners import RunnerSettings, run_with_runner, shared_cluster  # noqa: E402
from flows.train import train_stations_flow  # noqa: E402
from windcast.config import PipelineConfig  # noqa: E402

TRAINING = {"kinds": ["gru"], "max_epochs": 2, "patience": 1, "n_members": 1}


def synthetic_station(seed: int, start: str, years: float) -> pd.DataFrame:
    """Hourly canonical rows with the texture of a real mast: Weibull-like speeds with seasonal and diurnal
    cycles and persistent weather (AR(1) in a latent Gaussian), a wandering direction, gusts, rare gaps."""
    rng = np.random.default_rng(seed)
    n = int(years * 8766)
    time_ = pd.date_range(start, periods=n, freq="h", tz="UTC")
    hour = time_.hour.to_numpy()
    doy = time_.day_of_year.to_numpy()
    latent = np.empty(n)
    latent[0] = 0.0
    shocks = rng.normal(0, np.sqrt(1 - 0.97**2), n)
    for i in range(1, n):  # hourly persistence of the weather
        latent[i] = 0.97 * latent[i - 1] + shocks[i]
    u = np.clip(0.5 * (1 + np.tanh(latent / np.sqrt(2))), 1e-6, 1 - 1e-6)  # approx. Phi(latent)
    scale = 7.0 * (1 + 0.2 * np.cos(2 * np.pi * (doy - 15) / 365.25)) * (1 + 0.12 * np.sin(2 * np.pi * (hour - 9) / 24))
    speed = scale * (-np.log(1 - u)) ** (1 / 2.1)  # Weibull(k = 2.1) through its quantile function
    direction = (225 + np.cumsum(rng.normal(0, 8, n)) + 30 * latent) % 360
    gust = speed * rng.uniform(1.25, 1.6, n)
    frame = pd.DataFrame(
        {
            "time": time_.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "wind_speed_ms": speed.round(2),
            "wind_dir_deg": direction.round(0),
            "wind_gust_ms": gust.round(2),
        }
    )
    keep = rng.random(n) > 0.002  # about 18 missing hours a year
    return frame[keep]


def write_inputs(folder: Path, n_stations: int, years: float) -> dict:
    """Canonical CSV files and the pipeline config (as a dict) of n synthetic stations."""
    folder.mkdir(parents=True, exist_ok=True)
    stations = []
    for i in range(n_stations):
        path = folder / f"syn{i:03d}.csv"
        if not path.exists():
            synthetic_station(1000 + i, "2021-01-01", years).to_csv(path, index=False)
        stations.append({"id": f"syn{i:03d}", "source": {"kind": "file", "path": str(path)}})
    return {"stations": stations, "training": TRAINING}


@flow(name="scale-benchmark", log_prints=True)
def scale_pipeline_flow(config: PipelineConfig, runner: RunnerSettings) -> dict:
    """pipeline_flow with every stage on the given task runner (one Dask cluster shared by all stages)."""
    run_id, stages, seconds = new_run_id(), {}, {}
    with shared_cluster(config, runner) as shared:
        for name, stage_flow, extra in [
            ("ingest", ingest_stations_flow, {}),
            ("train", train_stations_flow, {}),
            ("backtest", backtest_stations_flow, {"run_id": run_id}),
            ("forecast", forecast_stations_flow, {}),
        ]:
            t0 = time.perf_counter()
            state = run_with_runner(stage_flow, config, shared, return_state=True, **extra)
            seconds[name] = round(time.perf_counter() - t0, 1)
            stages[name] = "ok" if state.is_completed() else f"FAILED: {(state.message or '')[:300]}"
    return {"stages": stages, "seconds": seconds}


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(cmd: list[str], env: dict, log: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS of the process tree (bytes) and stdout of a command (stderr goes to log)."""
    peak, done = 0, threading.Event()
    t0 = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"case failed ({proc.returncode}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")
    return wall, peak, out


def start_server(home: Path) -> tuple[subprocess.Popen, str, dict]:
    """A `prefect server` on a free loopback port with its own PREFECT_HOME; the env that points at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    prefect = Path(sys.executable).parent / "prefect"
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if json.loads(resp.read()) is True:
                    return server, url, env
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError("prefect server did not become healthy in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", default="1,10,50", help="comma-separated station counts")
    parser.add_argument("--years", type=float, default=3.0, help="years of hourly history per station")
    parser.add_argument("--runners", default="thread,dask")
    parser.add_argument("--dask-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()

    if args.case:
        case = json.loads(Path(args.case).read_text())
        config = PipelineConfig.model_validate(case["config"])
        print(json.dumps(scale_pipeline_flow(config=config, runner=RunnerSettings.model_validate(case["runner"]))))
        return

    import torch

    counts = [int(c) for c in args.stations.split(",")]
    runners = {
        "thread": {"kind": "thread"},
        "dask": {"kind": "dask", "n_workers": args.dask_workers, "threads_per_worker": 1},
    }
    print(f"windcast scale benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({'CUDA' if torch.cuda.is_available() else 'CPU'})"
    )
    print(
        f"data: synthetic hourly canonical CSV, {args.years:g} years per station "
        f"(~{int(args.years * 8766):,} rows); training {json.dumps(TRAINING)}; "
        f"dask: LocalCluster {args.dask_workers} worker processes x 1 thread; "
        "thread: Prefect's ThreadPoolTaskRunner"
    )
    print(
        f"{'stations':>8} {'runner':<7} {'wall s':>8} {'s/station':>9} {'peak RSS MiB':>12}  "
        "ingest/train/backtest/forecast s   status"
    )
    with tempfile.TemporaryDirectory(prefix="windcast-scale-") as tmp:
        tmp = Path(tmp)
        server, _, env = start_server(tmp / "prefect-home")
        try:
            for n in counts:
                base = write_inputs(tmp / "inputs", n, args.years)
                for name in args.runners.split(","):
                    config = {**base, "data_dir": str(tmp / f"store-{n}-{name}")}
                    case_file = tmp / f"case-{n}-{name}.json"
                    case_file.write_text(json.dumps({"config": config, "runner": runners[name]}))
                    wall, peak, out = measure(
                        [sys.executable, __file__, "--case", str(case_file)],
                        env,
                        case_file.with_suffix(".log"),
                    )
                    result = json.loads(out.strip().splitlines()[-1])
                    secs = "/".join(f"{result['seconds'][s]:.0f}" for s in ["ingest", "train", "backtest", "forecast"])
                    bad = {k: v for k, v in result["stages"].items() if v != "ok"}
                    status = "ok" if not bad else "; ".join(f"{k} {v}" for k, v in bad.items())
                    print(
                        f"{n:>8} {name:<7} {wall:8.1f} {wall / n:9.2f} {peak / 2**20:12.0f}  {secs:<32}  {status}",
                        flush=True,
                    )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
