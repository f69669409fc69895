"""HTTP for the sources: one requests session with urllib3 retries, and a GET that raises SourceError.

Retry policy (the only one: Prefect task retries are not stacked on top):
- up to `HttpSettings.retries` retries of a GET after a connection error, a timeout while waiting for the
  response headers, or a status 429/500/502/503/504, with exponential backoff (`backoff_factor_s`);
- a server's Retry-After (on 429/503) is respected but capped at `max_retry_after_s`;
- any other 4xx (404 included) is final at once: a missing NDBC year or a bad request will not appear by
  asking again, so retrying would only slow the run down;
- a connection closed or broken while reading the body (after the headers came: ChunkedEncodingError, an
  incomplete read) is retried the same way, by this module since urllib3 does not;
- every GET has an overall deadline (`deadline_s`, retries included): a read timeout only bounds each wait, so a
  server that drips a line a second could otherwise hold an ingest forever.
API keys are redacted from URLs in errors and in urllib3's own log records (`apikey=***`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from tasks.sources.base import SourceError
from tasks.sources.base import redact as redact_text
from windcast.config import HttpSettings

USER_AGENT = "windcast/0.1"
BODY_CHUNK_BYTES = 64 * 1024
# A body cut short: the connection closed or broke after the headers came.
_BODY_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    ProtocolError,
    ConnectionError,
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


class CappedRetry(Retry):
    """urllib3 Retry that honours Retry-After but never sleeps longer than `max_retry_after_s`."""

    def __init__(self, *args, max_retry_after_s: float = 120.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_retry_after_s = max_retry_after_s

    def new(self, **kw) -> CappedRetry:
        """Copy with updated counters, keeping the cap (urllib3 rebuilds Retry on every increment)."""
        kw.setdefault("max_retry_after_s", self.max_retry_after_s)
        return super().new(**kw)

    def get_retry_after(self, response) -> float | None:
        """The server's Retry-After in seconds, capped."""
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.max_retry_after_s)


class _RedactApiKey(logging.Filter):
    """Rewrites log records so a query's apikey value never reaches a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_REDACT_FILTER = _RedactApiKey()


def make_retry(http: HttpSettings) -> CappedRetry:
    """The urllib3 retry policy for these settings (see the module docstring)."""
    return CappedRetry(
        total=http.retries,
        backoff_factor=http.backoff_factor_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last response so the error can name its status
        max_retry_after_s=http.max_retry_after_s,
    )


def make_session(http: HttpSettings) -> requests.Session:
    """A requests session with retries, TLS verification on and the windcast User-Agent."""
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT_FILTER not in logger.filters:
            logger.addFilter(_REDACT_FILTER)
    session = requests.Session()
    session.verify = True
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(max_retries=make_retry(http))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def get_bytes(
    session: requests.Session,
    url: str,
    http: HttpSettings,
    station_id: str,
    redact: Sequence[str] = (),
) -> bytes:
    """GET `url` and return the body as received; raise SourceError once retries are spent.

    `redact` lists secret values (API keys) that must not appear in the error; `apikey=` query values are
    always redacted.
    """
    secrets = tuple(redact)
    total = http.retries + 1
    deadline = time.monotonic() + http.deadline_s
    for attempt in range(1, total + 1):
        try:
            response = session.get(url, timeout=(http.connect_timeout_s, http.read_timeout_s), stream=True)
        except requests.exceptions.RequestException as exc:
            attempts, detail = _describe(exc, http)
            raise _fail(station_id, url, secrets, attempts or total, detail) from None
        with response:
            if response.status_code >= 400:
                history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
                detail = f"{response.status_code} {response.reason}{_client_error_text(response)}"
                raise _fail(station_id, url, secrets, len(history) + 1, detail)
            try:
                return _read_body(response, deadline)
            except TimeoutError:
                raise _fail(station_id, url, secrets, attempt, _deadline_detail(http)) from None
            except _BODY_ERRORS as exc:
                pause = http.backoff_factor_s * 2 ** (attempt - 1)
                if attempt == total:
                    raise _fail(station_id, url, secrets, attempt, f"body cut short ({type(exc).__name__})") from None
                if time.monotonic() + pause >= deadline:
                    raise _fail(station_id, url, secrets, attempt, _deadline_detail(http)) from None
        time.sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """The whole body, read a piece at a time; TimeoutError once the monotonic deadline has passed."""
    parts = []
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        try:
            chunk = response.raw.read1(BODY_CHUNK_BYTES, decode_content=True)
        except ReadTimeoutError:
            raise requests.exceptions.ConnectionError("read timeout in the body") from None
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _deadline_detail(http: HttpSettings) -> str:
    return f"no complete response within the {http.deadline_s:g} s deadline"


def _describe(exc: requests.exceptions.RequestException, http: HttpSettings) -> tuple[int | None, str]:
    """Attempts made (None: all of them) and a short detail without the URL (exception texts hold it)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):  # urllib3 spent its retries
        reason = inner.reason
        if isinstance(reason, ReadTimeoutError):
            return None, f"read timeout ({http.read_timeout_s} s)"
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return None, f"connect timeout ({http.connect_timeout_s} s)"
        return None, f"connection error ({type(reason).__name__})"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return None, f"read timeout ({http.read_timeout_s} s)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return None, f"connect timeout ({http.connect_timeout_s} s)"
    # Failures after the headers came (body cut short, bad chunking) and bad URLs: not retried.
    return 1, type(exc).__name__


def _client_error_text(response: requests.Response) -> str:
    """': <body start>' for a 4xx with a short non-HTML body (Open-Meteo says why there), else ''."""
    if not 400 <= response.status_code < 500:
        return ""
    text = " ".join(response.content[:300].decode("utf-8", errors="replace").split())
    if not text or text.lower().startswith(("<!doctype", "<html")):
        return ""
    return f": {text[:200]}"


def _fail(station_id: str, url: str, secrets: Sequence[str], attempts: int, detail: str) -> SourceError:
    """The SourceError of a failed GET, every secret redacted (raised `from None`: causes hold the URL)."""
    noun = "attempt" if attempts == 1 else "attempts"
    message = f"station {station_id!r}: GET {url} failed after {attempts} {noun}: {detail}"
    return SourceError(redact_text(message, secrets))
