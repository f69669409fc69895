"""A browser test: the Prefect UI renders the plot embedded in a windcast markdown artifact.

It starts a real `prefect server` (its own PREFECT_HOME, a free port on 127.0.0.1), runs the real
`pipeline_flow` (ingest -> train -> backtest -> forecast) against it in a subprocess on a small synthetic
station whose data ends an hour ago (so the forecast is fresh), then drives headless Chromium through
chromedriver (selenium) to the UI page of the station's markdown report artifact and checks that the forecast
plot, embedded as ``data:image/png;base64,...``, was loaded and decoded by the browser (every other embedded
plot too).

Needs Debian's `chromium` and `chromium-driver` (CI installs them; see .ci/run). Without them the test fails
when `CI` is set and is skipped otherwise. `WINDCAST_UI_SCREENSHOT=docs/ui-artifact.png` also saves the
screenshot there (the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tasks.artifact_keys import artifact_key

REPO = Path(__file__).resolve().parents[2]
STATION = "syn"
REPORT_KEY = artifact_key("report", STATION)  # the per-run markdown report of tasks/forecast_tasks.py
PLOT_ALT = "forecast"  # alt text of the forecast plot in tasks/reports.forecast_report
SERVER_TIMEOUT_S = 90
FLOW_TIMEOUT_S = 240
PAGE_TIMEOUT_S = 60
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1100", "--hide-scrollbars",
]  # fmt: skip

# Runs in a subprocess with PREFECT_API_URL set to the test's server, so that this process's Prefect settings
# (and the session harness the other flow tests share) are never touched.
FLOW_SCRIPT = """
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

from tests.tasks.test_backtesting import synthetic_station
from windcast.config import PipelineConfig

work, api_url, wait_s = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
frame = synthetic_station(24 * 90)
newest = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta("1h")  # the last complete hour: fresh
frame["time"] = (frame["time"] + (newest - frame["time"].max())).map(lambda t: t.isoformat())
csv = work / "syn.csv"
frame[["time", "wind_speed_ms", "wind_dir_deg", "wind_gust_ms"]].to_csv(csv, index=False)
config = PipelineConfig.model_validate({
    "data_dir": str(work / "store"),
    "stations": [{"id": "syn", "source": {"kind": "file", "path": str(csv)}}],
    "training": {"kinds": ["gru"], "lookback_steps": 48, "horizon_steps": 12, "max_epochs": 2, "n_members": 1},
})
from flows.pipeline import pipeline_flow  # imported (slow) while the server starts

deadline = time.monotonic() + wait_s
while True:
    try:
        with urllib.request.urlopen(api_url + "/health", timeout=5) as response:
            if response.read().strip() == b"true":
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the Prefect server never became healthy")
    time.sleep(0.5)
print(pipeline_flow(config=config))
"""


def _binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))
    driver = shutil.which("chromedriver", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the dev extra)")
    if missing:
        why = (
            f"browser test needs {', '.join(missing)}: apt-get install -y chromium chromium-driver "
            "and pip install -e '.[dev]'"
        )
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why + " (CI is unset, so skipped)")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prefect_env(home: Path, api_url: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* setting, pointed at the test's own server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_UI_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
        PYTHONPATH=str(REPO),
    )
    return env


def _api(api_url: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(api_url + path, data=data, headers=headers)  # POST when data
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen | None) -> None:
    """Terminate the process group (the server spawns children), then kill it if it lingers."""
    if process is None or process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """A subprocess in its own process group (so all it spawns can be stopped), output to a log file."""
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(server: subprocess.Popen, api_url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while True:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{_tail(log)}")
        try:
            if _api(api_url, "/health") is True:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"prefect server not healthy after {SERVER_TIMEOUT_S}s:\n{_tail(log)}")
        time.sleep(0.5)


@pytest.fixture
def pipeline_on_server(tmp_path):
    """A real `prefect server start` (free port, own PREFECT_HOME) and `pipeline_flow` run against it.

    The flow subprocess starts with the server and imports while the server boots; it waits for /api/health
    itself. Yields (api_url, ui_url); both process groups are stopped afterwards, whatever happened.
    """
    port = _free_port()
    ui_url = f"http://127.0.0.1:{port}"
    api_url = f"{ui_url}/api"
    env = _prefect_env(tmp_path / "prefect-home", api_url)
    server_log, flow_log = tmp_path / "server.log", tmp_path / "flow.log"
    server = flow = None
    try:
        server = _start(
            [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host", "127.0.0.1",
             "--port", str(port)], env, tmp_path, server_log,
        )  # fmt: skip
        flow_args = [sys.executable, "-c", FLOW_SCRIPT, str(tmp_path), api_url, str(SERVER_TIMEOUT_S)]
        flow = _start(flow_args, env, REPO, flow_log)
        _wait_healthy(server, api_url, server_log)
        try:
            returncode = flow.wait(timeout=FLOW_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pipeline_flow did not finish in {FLOW_TIMEOUT_S}s:\n{_tail(flow_log)}")
        assert returncode == 0, f"pipeline_flow failed ({returncode}):\n{_tail(flow_log)}"
        yield api_url, ui_url
    finally:
        _stop(flow)
        _stop(server)


def test_the_prefect_ui_renders_the_forecast_plot_of_the_report(tmp_path, request):
    chromium, driver_path = _binaries()  # before the (slow) server and flow
    api_url, ui_url = request.getfixturevalue("pipeline_on_server")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    artifacts = _api(
        api_url, "/artifacts/filter",
        {"artifacts": {"key": {"any_": [REPORT_KEY]}}, "sort": "CREATED_DESC", "limit": 1},
    )  # fmt: skip
    assert artifacts, f"no artifact {REPORT_KEY!r} on the server"
    artifact = artifacts[0]
    assert artifact["type"] == "markdown"
    assert f"![{PLOT_ALT}](data:image/png;base64," in artifact["data"]  # the report embedded its plot
    n_plots = artifact["data"].count("](data:image/png;base64,")

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    browser = None
    try:
        browser = webdriver.Chrome(options=options, service=service)
        browser.set_page_load_timeout(PAGE_TIMEOUT_S)
        page = f"{ui_url}/artifacts/artifact/{artifact['id']}"  # the artifact route of Prefect 3.8's UI
        browser.get(page)
        selector = 'img[src^="data:image/png;base64,"]'
        decoded = "const i = arguments[0]; return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0"

        def all_plots_decoded(drv):
            imgs = drv.find_elements(By.CSS_SELECTOR, selector)
            ok = len(imgs) == n_plots and all(drv.execute_script(decoded, img) for img in imgs)
            return imgs if ok else False

        try:
            imgs = WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.5).until(all_plots_decoded)
        except Exception:
            browser.save_screenshot(str(tmp_path / "failure.png"))
            pytest.fail(
                f"{n_plots} decoded data:image/png images expected on {page} within {PAGE_TIMEOUT_S}s "
                f"(screenshot {tmp_path / 'failure.png'}); page text:\n"
                + browser.find_element(By.TAG_NAME, "body").text[:2000]
            )
        plot = next((img for img in imgs if img.get_attribute("alt") == PLOT_ALT), None)
        assert plot is not None, f"no <img alt={PLOT_ALT!r}> among {[i.get_attribute('alt') for i in imgs]}"
        assert plot.is_displayed() and plot.size["width"] > 0 and plot.size["height"] > 0  # laid out, visible
        assert f"windcast: {STATION}" in browser.find_element(By.TAG_NAME, "body").text

        browser.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "ui-artifact.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0
        target = os.environ.get("WINDCAST_UI_SCREENSHOT")
        if target:
            path = Path(target) if Path(target).is_absolute() else REPO / target
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, path)
    finally:
        if browser is not None:
            browser.quit()
