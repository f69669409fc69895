"""Fixtures for the task tests: a scripted local HTTP server, fast HTTP settings, fixture paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http_server import ScriptedServer
from windcast.config import HttpSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    """A started ScriptedServer on 127.0.0.1 (random port), stopped after the test."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fast_http() -> HttpSettings:
    """Small timeouts and backoff so retry tests stay fast."""
    return HttpSettings(connect_timeout_s=2, read_timeout_s=2, retries=2, backoff_factor_s=0.01, max_retry_after_s=5)


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures."""
    return FIXTURES
