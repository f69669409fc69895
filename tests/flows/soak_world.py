"""A simulated world for the soak tests: three sources whose payloads evolve with a simulated clock.

- NDBC realtime2 (``/data/realtime2/SOAK1.txt``): 10-minute rows of the last ``NDBC_WINDOW_H`` hours, newest
  first; each hour a new hour comes in on top and the oldest drops off; some rows are ``MM``, and one hour in 50 is
  an outage (all six rows ``MM``).
- Open-Meteo archive (``/v1/archive``): answers the asked ``start_date``..``end_date`` window, every hour of those
  days, with null values for the hours newer than now - ``ARCHIVE_LAG_H`` (the archive lags; they fill in later).
- A CSV export that grows by a day each midnight, repeats the last line of some days (an exact duplicate), revises
  an older line when the next day is appended (a late correction), and holds one unreadable line.

The world records what it served on each run (``served``), so a test can check every hour against the store.
Hostile events are queued replies for a path (``fail_next``), or payload edits for one run (``future_row``).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from tests.flows.payloads import NDBC_HEADER

NDBC_PATH = "/data/realtime2/SOAK1.txt"
ARCHIVE_PATH = "/v1/archive"
NDBC_WINDOW_H = 15 * 24
ARCHIVE_LAG_H = 36
FILE_START = pd.Timestamp("2026-02-10T00:00Z")
EPOCH = pd.Timestamp("2026-01-01T00:00Z")
FUTURE = "2099-01-01T00:00"
SPEED, DIRECTION = "wind_speed_10m", "wind_direction_10m"


@dataclass(frozen=True)
class ServedRow:
    """One data row a source served: its time (None when unreadable), speed (None when missing) and text."""

    time: pd.Timestamp | None
    speed: float | None
    text: str


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain"


def _hours(t: pd.Timestamp) -> float:
    return (t - EPOCH) / pd.Timedelta("1h")


def truth_speed(t: pd.Timestamp, seed: int) -> float:
    """A smooth, never flat wind (m/s, one decimal) from the time alone: the same hour always gets the same value."""
    h = _hours(t)
    wobble = ((int(h * 6) * 2654435761 + seed * 97) % 1000) / 1000 - 0.5
    return round(6.5 + 2.5 * math.sin(2 * math.pi * h / 37 + seed) + 1.5 * math.sin(2 * math.pi * h / 24) + wobble, 1)


def truth_dir(speed: float) -> int:
    return int(200 + 10 * speed) % 360


@dataclass
class World:
    """The sources at the simulated time ``now``; ``served`` holds this run's rows per source."""

    now: pd.Timestamp
    file_path: Path
    served: dict[str, list[ServedRow]] = field(default_factory=dict)
    queued: dict[str, list[Reply]] = field(default_factory=dict)
    edits: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    # --- the clock and the events -------------------------------------------------------------------------------
    def advance_to(self, now: pd.Timestamp) -> None:
        """Move the clock; the file export is rewritten as it stands at ``now``; ``served`` starts afresh."""
        self.now = now
        self.served = {}
        self.write_file_export()

    def fail_next(self, path: str, *replies: Reply) -> None:
        """Answer the next requests of ``path`` with ``replies`` (a 503 burst, a truncated body)."""
        self.queued.setdefault(path, []).extend(replies)

    def edit_next(self, path: str, edit: Callable[[bytes], bytes]) -> None:
        """Serve the next payload of ``path`` (a URL path, or "file") edited by ``edit``."""
        self.edits[path] = edit

    def wait_for_requests(self, path: str, count: int, timeout_s: float) -> bool:
        """Wait until ``path`` was asked for ``count`` times in all (a synchronisation point, not a timer)."""
        with self.lock:
            return self.lock.wait_for(lambda: self.requests.get(path, 0) >= count, timeout_s)

    # --- NDBC realtime ------------------------------------------------------------------------------------------
    def ndbc_rows(self) -> list[ServedRow]:
        newest = self.now.floor("10min")
        times = pd.date_range(newest - pd.Timedelta(hours=NDBC_WINDOW_H) + pd.Timedelta("10min"), newest, freq="10min")
        rows = []
        for t in times[::-1]:
            tick = int(_hours(t) * 6)
            outage = int(_hours(t.floor("h"))) % 50 == 7
            missing = outage or tick % 23 == 0
            speed = truth_speed(t, seed=0)
            wspd = "  MM" if missing else f"{speed:4.1f}"
            gust = "  MM" if missing else f"{speed * 1.3:4.1f}"
            text = (
                f"{t:%Y %m %d %H %M} {truth_dir(speed):3d} {wspd} {gust}    MM    MM    MM  MM 1015.2    MM  13.9    "
                "MM   MM   MM    MM"
            )
            rows.append(ServedRow(t, None if missing else speed, text))
        return rows

    def ndbc_payload(self) -> bytes:
        rows = self.ndbc_rows()
        self.served["buoy"] = rows
        return (NDBC_HEADER + "\n".join(r.text for r in rows) + "\n").encode()

    # --- Open-Meteo archive -------------------------------------------------------------------------------------
    def archive_payload(self, start: str, end: str) -> bytes:
        times = pd.date_range(f"{start}T00:00Z", f"{end}T23:00Z", freq="h")
        filled_until = self.now - pd.Timedelta(hours=ARCHIVE_LAG_H)
        speeds = [truth_speed(t, seed=1) if t <= filled_until else None for t in times]
        stamps = [f"{t:%Y-%m-%dT%H:%M}" for t in times]
        doc = {
            "latitude": 52.27,
            "longitude": 6.82,
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "hourly_units": {"time": "iso8601", "wind_speed_10m": "m/s", "wind_direction_10m": "°"},
            "hourly": {
                "time": stamps,
                "wind_speed_10m": speeds,
                "wind_direction_10m": [None if s is None else truth_dir(s) for s in speeds],
            },
        }
        body = json.dumps(doc).encode()
        self.record_archive(body)
        return body

    def record_archive(self, body: bytes) -> None:
        """What an archive payload served (when it is readable JSON), with the text the parser quotes."""
        try:
            hourly = json.loads(body)["hourly"]
        except (ValueError, KeyError):
            return  # a truncated payload: the rows it was cut from stay recorded
        columns = zip(hourly["time"], hourly["wind_speed_10m"], hourly["wind_direction_10m"], strict=True)
        self.served["grid"] = [
            ServedRow(pd.Timestamp(t, tz="UTC"), s, json.dumps({"time": t, SPEED: s, DIRECTION: d}))
            for t, s, d in columns
        ]

    # --- the file export ----------------------------------------------------------------------------------------
    def file_rows(self) -> list[ServedRow]:
        """The export at ``now``: every hour from FILE_START to the end of yesterday, with its quirks."""
        last_day = self.now.floor("D") - pd.Timedelta("1D")
        rows = []
        for day in pd.date_range(FILE_START, last_day, freq="D"):
            for t in pd.date_range(day, periods=24, freq="h"):
                speed = truth_speed(t, seed=2)
                if t.hour == 5 and day < last_day:  # revised once the next day is exported
                    speed = round(speed + 0.7, 1)
                rows.append(ServedRow(t, speed, f"{t:%Y-%m-%dT%H:%M:%SZ},{speed},{truth_dir(speed)},"))
            if day.day % 3 == 1:  # the logger wrote the last line of the day twice
                rows.append(rows[-1])
            if day == FILE_START:
                rows.append(ServedRow(None, None, "2026-02-10T23:30:00Z,bad,200,"))
        return rows

    def write_file_export(self) -> None:
        rows = self.file_rows()
        if self.now.floor("D") - pd.Timedelta("1D") < FILE_START:
            rows = []
        text = ("time,wind_speed_ms,wind_dir_deg,wind_gust_ms\n" + "".join(r.text + "\n" for r in rows)).encode()
        edit = self.edits.pop("file", None)
        if edit is not None:
            text = edit(text)
        self.file_path.write_bytes(text)
        self.served["mast"] = rows

    # --- HTTP ---------------------------------------------------------------------------------------------------
    def respond(self, path: str, query: dict[str, list[str]]) -> Reply:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            self.lock.notify_all()
            queued = self.queued.get(path)
            if queued:
                return queued.pop(0)
            if path == NDBC_PATH:
                body, kind = self.ndbc_payload(), "text/plain"
            elif path == ARCHIVE_PATH:
                body, kind = self.archive_payload(query["start_date"][0], query["end_date"][0]), "application/json"
            else:
                return Reply(404, b"<html><body>Not Found</body></html>", "text/html")
            edit = self.edits.pop(path, None)
            body = body if edit is None else edit(body)
            if path == ARCHIVE_PATH:
                self.record_archive(body)
            return Reply(200, body, kind)


class WorldServer:
    """The world's HTTP sources on 127.0.0.1 (a random port)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(world))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> WorldServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(world: World) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            reply = world.respond(parts.path, parse_qs(parts.query))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

    return Handler
