"""prefect.yaml for real: a `prefect server` on 127.0.0.1, process pools and workers, `prefect deploy --all`,
and the ingest, retrain and forecast deployments run with `prefect deployment run ... --watch`.

The deployments are applied from a variant of the shipped prefect.yaml that differs only in the config's
`data_dir` (a temporary store instead of data/store in the checkout) and, for the retrain deployment, a
small training setting (one GRU, one epoch) so the test stays within minutes. Everything else (entrypoints,
pull step, schedules, concurrency limits, pools, tags) is deployed as shipped and checked through the API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PREFECT = Path(sys.executable).parent / "prefect"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if api(url, "/health") is True:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def deploy_variant(store: Path, out: Path) -> dict:
    """The shipped prefect.yaml with the store moved to `store` and a small training setting for retrain."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for dep in spec["deployments"]:
        config = json.loads(json.dumps(dep["parameters"]["config"]))  # anchors share one dict: copy
        config["data_dir"] = str(store)
        if dep["name"] == "windcast-retrain":
            config["training"] = {"kinds": ["gru"], "max_epochs": 1, "hidden_size": 16, "n_members": 1}
        dep["parameters"]["config"] = config
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec


@pytest.fixture
def prefect_env(tmp_path):
    if not PREFECT.exists() and shutil.which("prefect") is None:
        pytest.skip("the prefect CLI is not installed")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
        # no scheduled runs during the test: only the runs it triggers
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_WORKER_HEARTBEAT_SECONDS="5",
    )
    env.pop("WINDCAST_HOME", None)  # read by the workers at run time; `prefect deploy` would bake it in
    return url, env


def test_deployments_run_on_a_real_server_and_workers(prefect_env, tmp_path):
    url, env = prefect_env
    cli = str(PREFECT) if PREFECT.exists() else shutil.which("prefect")
    store = tmp_path / "store"
    started: list[subprocess.Popen] = []

    def start(args: list[str], log: Path, **extra_env: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [cli, *args],
            cwd=tmp_path,  # not the checkout: the pull step must move the flow run there
            env={**env, **extra_env},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    def cli_run(*args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [cli, "--no-prompt", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"prefect {' '.join(args)} failed ({done.returncode}):\n{out[-4000:]}"
        return out

    try:
        server_log = tmp_path / "server.log"
        server = start(["server", "start", "--host", "127.0.0.1", "--port", url.split(":")[-1][:-4]], server_log)
        wait_healthy(url, server, server_log)

        cli_run("work-pool", "create", "windcast-cpu", "--type", "process")
        cli_run("work-pool", "create", "windcast-gpu", "--type", "process")
        spec = deploy_variant(store, tmp_path / "prefect.yaml")
        cli_run("deploy", "--all", "--prefect-file", str(tmp_path / "prefect.yaml"), timeout=180)

        deployments = {d["name"]: d for d in api(url, "/deployments/filter", {})}
        assert set(deployments) == {"windcast-ingest", "windcast-forecast", "windcast-retrain"}
        pools = {
            "windcast-ingest": "windcast-cpu",
            "windcast-forecast": "windcast-cpu",
            "windcast-retrain": "windcast-gpu",
        }
        for name, dep in deployments.items():
            assert dep["work_pool_name"] == pools[name]
            assert dep["global_concurrency_limit"]["limit"] == 1, name
            assert [s["schedule"]["timezone"] for s in dep["schedules"]] == ["UTC"], name
            assert "windcast" in dep["tags"]
            assert dep["parameters"]["config"]["data_dir"] == str(store)
            assert dep["pull_steps"] == spec["pull"]  # the placeholder survives: the worker fills it in

        workers_log = [tmp_path / "worker-cpu.log", tmp_path / "worker-gpu.log"]
        home = {"WINDCAST_HOME": str(REPO)}  # what `make worker` sets
        start(["worker", "start", "--pool", "windcast-cpu", "--type", "process"], workers_log[0], **home)
        start(
            ["worker", "start", "--pool", "windcast-gpu", "--type", "process", "--limit", "1"],
            workers_log[1],
            **home,
        )

        def run(deployment: str) -> dict:
            """Run a deployment to its end; return its flow run as the API sees it."""
            try:
                out = cli_run("deployment", "run", deployment, "--watch", "--watch-timeout", "300", timeout=330)
            except AssertionError as exc:
                logs = "\n".join(p.read_text()[-3000:] for p in workers_log)
                raise AssertionError(f"{exc}\nworker logs:\n{logs}") from None
            run_id = re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)
            flow_run = api(url, f"/flow_runs/{run_id}")
            assert flow_run["state_type"] == "COMPLETED", out[-2000:]
            assert flow_run["deployment_id"] == deployments[deployment.split("/")[1]]["id"]
            return flow_run

        run("ingest/windcast-ingest")
        for sid in ["greensboro", "sand_point", "mast"]:
            assert list((store / "measurements" / f"station_id={sid}").rglob("*.parquet")), sid
        run("retrain/windcast-retrain")  # train + backtest + promote: the forecast needs a champion
        assert list((store / "registry").rglob("*")), "retrain registered no model"
        issues_before = set((store / "forecasts").rglob("issue-*.parquet"))  # retrain forecasts too
        run("forecast/windcast-forecast")
        new_issues = set((store / "forecasts").rglob("issue-*.parquet")) - issues_before
        assert sorted(p.parent.parent.name for p in new_issues) == [
            "station_id=greensboro",
            "station_id=mast",
            "station_id=sand_point",
        ]
        # the pull step ran on the worker: the flow runs started in the worker's tmp cwd and found the checkout
        assert "set_working_directory" in workers_log[0].read_text()
    finally:
        for proc in reversed(started):
            stop(proc)
