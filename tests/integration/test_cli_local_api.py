"""The CLI's own Prefect API (no PREFECT_API_URL): started and waited for without a 20 s window, always stopped."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
WINDCAST = [sys.executable, "-m", "windcast.cli"]
PID_LINE = re.compile(r"local Prefect API on (http://127\.0\.0\.1:\d+/api) \(pid (\d+);")


def small_config(tmp_path: Path) -> Path:
    times = pd.date_range("2024-03-01", periods=48, freq="h", tz="UTC")
    lines = [f"{t:%Y-%m-%dT%H:%M:%SZ},{6 + (i % 5) * 0.3:.1f},{180 + i % 7},\n" for i, t in enumerate(times)]
    (tmp_path / "mast.csv").write_text("time,wind_speed_ms,wind_dir_deg,wind_gust_ms\n" + "".join(lines))
    config = {
        "data_dir": str(tmp_path / "store"),
        "stations": [{"id": "mast", "source": {"kind": "file", "path": "mast.csv"}}],
    }
    path = tmp_path / "windcast.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    return {**env, "PREFECT_HOME": str(tmp_path / "prefect-home"), **extra}


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_cli_runs_on_its_own_api_and_stops_it(tmp_path):
    config = small_config(tmp_path)
    proc = subprocess.run(
        [*WINDCAST, "ingest", "--config", str(config)], cwd=REPO, env=cli_env(tmp_path), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"intervals_inserted": 48' in proc.stdout
    (match,) = PID_LINE.findall(proc.stderr)
    assert "waiting up to 600 s" in proc.stderr and re.search(r"local Prefect API ready after \d+ s", proc.stderr)
    assert not alive(int(match[1]))  # stopped when the command ended
    # the logs still queued when the command ended reached the API before it stopped: none lost, no error
    assert "Error logging to API" not in proc.stderr, proc.stderr[-2000:]
    with closing(sqlite3.connect(tmp_path / "prefect-home" / "prefect.db")) as db:
        query = "SELECT count(*) FROM log WHERE message LIKE 'Finished in state Completed()%'"
        (finished,) = db.execute(query).fetchone()
    shown = re.findall(r"\| (?:Flow|Task) run '[\w-]+' - Finished in state Completed\(\)", proc.stderr)
    assert finished == len(shown) >= 3  # the ingest flow, its subflow and their tasks


def test_killing_the_cli_stops_its_api(tmp_path):
    config = small_config(tmp_path)
    proc = subprocess.Popen(
        [*WINDCAST, "ingest", "--config", str(config)],
        cwd=REPO,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        match = None
        for line in proc.stderr:
            if match := PID_LINE.search(line):
                break
        assert match, "the CLI did not say where its API runs"
        api_url, pid = match[1], int(match[2])
        assert wait_until(lambda: healthy(api_url) or proc.poll() is not None, 600)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        assert wait_until(lambda: not alive(pid), 60), f"the API server {pid} outlived the killed CLI"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_api_that_does_not_start_in_time_is_named_and_stopped(tmp_path):
    config = small_config(tmp_path)
    env = cli_env(tmp_path, WINDCAST_API_STARTUP_TIMEOUT_S="0.001")
    proc = subprocess.run(
        [*WINDCAST, "ingest", "--config", str(config)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert re.search(
        r"windcast: error: the local Prefect API did not answer on http://127\.0\.0\.1:\d+/api within 0\.001 s; "
        r"raise WINDCAST_API_STARTUP_TIMEOUT_S",
        proc.stderr,
    ), proc.stderr[-2000:]
    (match,) = PID_LINE.findall(proc.stderr)
    assert not alive(int(match[1]))


def test_a_bad_startup_timeout_is_refused(tmp_path):
    env = cli_env(tmp_path, WINDCAST_API_STARTUP_TIMEOUT_S="soon")
    proc = subprocess.run(
        [*WINDCAST, "ingest", "--config", str(small_config(tmp_path))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "windcast: error: WINDCAST_API_STARTUP_TIMEOUT_S='soon' is not a positive number of seconds" in proc.stderr
