"""Stable Prefect artifact keys, so the UI keeps each station's history under one key."""

from __future__ import annotations

import re


def artifact_key(kind: str, station_id: str | None = None) -> str:
    """A key like ``windcast-validation-sand-point`` (artifact keys allow lowercase letters, digits and '-')."""
    parts = ["windcast", kind] + ([station_id] if station_id else [])
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
