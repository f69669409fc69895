"""A local Prefect API for the CLI when no ``PREFECT_API_URL`` is set: started here, waited for, always stopped.

Prefect's own ephemeral server gives up after ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (20 s), which a
busy machine can exceed while the server creates or migrates its SQLite database; and a CLI killed with SIGKILL
leaves Prefect's server process running. Here the CLI starts the same server (uvicorn on 127.0.0.1, the database
under ``PREFECT_HOME``), waits for its health check up to ``WINDCAST_API_STARTUP_TIMEOUT_S`` (default 600 s) while
the process is alive, and stops it when the CLI ends, is interrupted or gets SIGTERM; on Linux the server also gets
SIGTERM from the kernel when the CLI process dies of anything, SIGKILL included (``PR_SET_PDEATHSIG``). Before
it stops the server, the CLI sends the logs and events still queued for it, so that none is lost.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

STARTUP_TIMEOUT_ENV = "WINDCAST_API_STARTUP_TIMEOUT_S"
DEFAULT_STARTUP_TIMEOUT_S = 600.0
_PR_SET_PDEATHSIG = 1
_PORT_IN_USE_EXIT = 3  # uvicorn's exit status when it cannot bind
API_DRAIN_TIMEOUT_S = 30.0  # at most this long for the queued logs and events to reach the API before it stops


class LocalApiError(RuntimeError):
    """The local Prefect API did not start."""


def startup_timeout_s() -> float:
    """Seconds to wait for the local API to answer: ``WINDCAST_API_STARTUP_TIMEOUT_S`` or 600."""
    value = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_STARTUP_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{STARTUP_TIMEOUT_ENV}={value!r} is not a positive number of seconds")
    return seconds


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Use ``PREFECT_API_URL`` when set (yield None); else run a local API for the duration (yield its URL)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield None
        return
    server = LocalApi()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` stops the server on SIGTERM
    try:
        server.start(startup_timeout_s())
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                send_pending_to_api()
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)


def send_pending_to_api(timeout_s: float = API_DRAIN_TIMEOUT_S) -> None:
    """Send the logs and events still queued for the API before it stops: Prefect's background workers would
    send them at interpreter exit, to an API that is gone ("--- Error logging to API --- All connection attempts
    failed")."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout_s)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


class LocalApi:
    """One Prefect API server process on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.log_path = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")) / "windcast-api.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout_s: float) -> None:
        """Start the server and wait until its health check answers; raise LocalApiError (server stopped) if not."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        deadline = started + timeout_s
        self._spawn()
        print(
            f"windcast: local Prefect API on {self.api_url} (pid {self.process.pid}; waiting up to {timeout_s:g} s "
            f"for it to start, log {self.log_path})",
            file=sys.stderr,
            flush=True,
        )
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status == _PORT_IN_USE_EXIT:  # another process took the port between our probe and the bind
                self._spawn()
                continue
            if status is not None:
                raise LocalApiError(
                    f"the local Prefect API exited with status {status} before answering; see {self.log_path}: "
                    f"{self._log_tail()}"
                )
            if self._healthy():
                print(f"windcast: local Prefect API ready after {time.monotonic() - started:.0f} s", file=sys.stderr)
                return
            time.sleep(0.25)
        self.stop()
        raise LocalApiError(
            f"the local Prefect API did not answer on {self.api_url} within {timeout_s:g} s; raise "
            f"{STARTUP_TIMEOUT_ENV} on a very busy machine, or set PREFECT_API_URL to a running server"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _spawn(self) -> None:
        import prefect

        self.port = _free_port()
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(prefect.__file__).parent.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent(os.getpid())
            )

    def _healthy(self) -> bool:
        try:
            with urlopen(f"{self.api_url}/health", timeout=5) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(parent_pid: int):
    """A preexec function: on Linux the child gets SIGTERM when the parent dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return arrange
