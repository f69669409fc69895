"""tasks.http against a real local HTTP server: retries, Retry-After, timeouts, redaction."""

from __future__ import annotations

import logging
import time

import pytest

from tasks.http import USER_AGENT, CappedRetry, get_bytes, make_retry, make_session
from tasks.sources.base import SourceError, redact
from tests.http_server import Reply
from windcast.config import HttpSettings

SECRET = "s3cr3t-KEY"


def _get(server, path, http, station_id="boston", secrets=()):
    with make_session(http) as session:
        return get_bytes(session, server.url + path, http, station_id, redact=secrets)


def test_ok_returns_body_and_sends_user_agent(http_server, fast_http):
    http_server.route("/a.txt", Reply(200, b"hello"))
    assert _get(http_server, "/a.txt", fast_http) == b"hello"
    assert http_server.hits("/a.txt")[0].headers["User-Agent"] == USER_AGENT


def test_500_then_200_is_retried(http_server, fast_http):
    http_server.route("/a.txt", Reply(500, b"oops"), Reply(200, b"data"))
    assert _get(http_server, "/a.txt", fast_http) == b"data"
    assert len(http_server.hits("/a.txt")) == 2


def test_429_retry_after_is_respected(http_server, fast_http):
    http_server.route("/a.txt", Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, b"data"))
    start = time.monotonic()
    assert _get(http_server, "/a.txt", fast_http) == b"data"
    first, second = http_server.hits("/a.txt")
    assert second.at - first.at >= 1.0
    assert time.monotonic() - start < 3


def test_retry_after_is_capped(http_server):
    http = HttpSettings(retries=1, backoff_factor_s=0.01, max_retry_after_s=0.2, read_timeout_s=2)
    http_server.route("/a.txt", Reply(503, b"", {"Retry-After": "30"}), Reply(200, b"data"))
    start = time.monotonic()
    assert _get(http_server, "/a.txt", http) == b"data"
    assert time.monotonic() - start < 2


def test_capped_retry_keeps_its_cap_across_increments():
    retry = make_retry(HttpSettings(retries=3, max_retry_after_s=7))
    assert isinstance(retry, CappedRetry)
    assert retry.new(total=1).max_retry_after_s == 7


def test_retries_exhausted_names_station_url_and_status(http_server, fast_http):
    http_server.route("/a.txt", Reply(503, b"busy"))
    with pytest.raises(SourceError) as info:
        _get(http_server, "/a.txt", fast_http)
    assert str(info.value) == (
        f"station 'boston': GET {http_server.url}/a.txt failed after 3 attempts: 503 Service Unavailable"
    )
    assert len(http_server.hits("/a.txt")) == 3


def test_404_is_not_retried(http_server, fast_http):
    with pytest.raises(SourceError) as info:
        _get(http_server, "/missing.txt", fast_http)
    assert str(info.value) == (
        f"station 'boston': GET {http_server.url}/missing.txt failed after 1 attempt: 404 Not Found"
    )
    assert len(http_server.hits("/missing.txt")) == 1


def test_read_timeout_raises_source_error(http_server):
    http = HttpSettings(read_timeout_s=0.5, connect_timeout_s=1, retries=1, backoff_factor_s=0.01)
    http_server.route("/slow.txt", Reply(200, b"late", delay_s=1.5))
    with pytest.raises(SourceError) as info:
        _get(http_server, "/slow.txt", http, station_id="slowpoke")
    assert str(info.value) == (
        f"station 'slowpoke': GET {http_server.url}/slow.txt failed after 2 attempts: read timeout (0.5 s)"
    )
    assert len(http_server.hits("/slow.txt")) == 2


def test_connection_refused_raises_source_error(fast_http):
    http = HttpSettings(retries=0, connect_timeout_s=1, read_timeout_s=1)
    with (
        make_session(http) as session,
        pytest.raises(SourceError, match=r"failed after 1 attempt: connection"),
    ):
        get_bytes(session, "http://127.0.0.1:9/x.txt", http, "boston")


def test_api_key_never_in_error_or_logs(http_server, caplog):
    http = HttpSettings(read_timeout_s=0.3, retries=1, backoff_factor_s=0.01)
    http_server.route("/v1/archive", Reply(200, b"{}", delay_s=1.0))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as info:
        _get(http_server, f"/v1/archive?latitude=1&apikey={SECRET}", http, secrets=(SECRET,))
    assert SECRET not in str(info.value)
    assert "apikey=***" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert SECRET not in caplog.text
    assert "Retrying" in caplog.text  # urllib3 did log the retry, redacted


def test_redact_replaces_key_values_and_secrets():
    url = "https://h/v1/archive?a=1&apikey=abc%2Fd&b=2"
    assert redact(url) == "https://h/v1/archive?a=1&apikey=***&b=2"
    assert redact("key abc/d leaked", ("abc/d",)) == "key *** leaked"


def test_a_dripping_server_is_stopped_by_the_deadline(http_server):
    # A line every 0.2 s never trips the 1 s read timeout; the 1.5 s deadline ends it.
    http = HttpSettings(read_timeout_s=1, connect_timeout_s=1, retries=0, deadline_s=1.5)
    http_server.route("/drip.txt", Reply(200, b"line\n" * 100, drip_s=0.2))
    with pytest.raises(SourceError) as info:
        _get(http_server, "/drip.txt", http)
    assert str(info.value) == (
        f"station 'boston': GET {http_server.url}/drip.txt failed after 1 attempt: "
        "no complete response within the 1.5 s deadline"
    )


def test_a_body_cut_short_is_retried(http_server, fast_http):
    body = b"x" * 5000
    http_server.route("/cut.txt", Reply(200, body, cut_after=1000), Reply(200, body))
    assert _get(http_server, "/cut.txt", fast_http) == body
    assert len(http_server.hits("/cut.txt")) == 2


def test_a_body_always_cut_short_fails_after_every_retry(http_server, fast_http):
    http_server.route("/cut.txt", Reply(200, b"x" * 5000, cut_after=1000))
    with pytest.raises(SourceError) as info:
        _get(http_server, "/cut.txt", fast_http)
    assert str(info.value).startswith(
        f"station 'boston': GET {http_server.url}/cut.txt failed after 3 attempts: body cut short ("
    )
    assert len(http_server.hits("/cut.txt")) == 3
