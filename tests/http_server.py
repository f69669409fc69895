"""A scriptable HTTP server on 127.0.0.1 for source tests: real sockets, no mocks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted response; `delay_s` waits before the status line (a slow server); `drip_s` waits before each
    line of the body (a dripping server); `cut_after` closes the connection after that many body bytes (the
    Content-Length still announces the whole body)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drip_s: float = 0.0
    cut_after: int | None = None


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float  # time.monotonic()


class ScriptedServer:
    """ThreadingHTTPServer whose routes answer a scripted sequence of replies (the last one repeats)."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True  # slow replies must not block shutdown
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Reply) -> None:
        """Answer GET `path` (query ignored) with `replies` in turn; unrouted paths get an HTML 404 page."""
        assert replies, "a route needs at least one reply"
        with self._lock:
            self._routes[path] = list(replies)

    def hits(self, path: str) -> list[Seen]:
        """Requests received for `path`."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> ScriptedServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, path: str) -> Reply:
        with self._lock:
            queue = self._routes.get(path)
            if not queue:
                return Reply(404, b"<html><body><h1>Not Found</h1></body></html>", {"Content-Type": "text/html"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)


def _make_handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            server._record(Seen(parts.path, parse_qs(parts.query), dict(self.headers), time.monotonic()))
            reply = server._next(parts.path)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
                for line in body.splitlines(keepends=True) if reply.drip_s else [body]:
                    if reply.drip_s:
                        time.sleep(reply.drip_s)
                    self.wfile.write(line)
                    self.wfile.flush()
                if reply.cut_after is not None:
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

    return Handler
