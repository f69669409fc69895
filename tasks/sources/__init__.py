"""Sources of wind measurements: fetch payloads as received, parse them into canonical samples.

The ingest orchestrator calls `fetch_payloads`, stores each payload's bytes under raw/, then calls
`parse_payload` with the stored path. Plain functions: no Prefect here.
"""

from __future__ import annotations

import pandas as pd

from tasks.sources.base import ParseResult, Payload, SourceError
from tasks.sources.file import parse_file, read_file_source
from tasks.sources.ndbc import fetch_ndbc, parse_ndbc
from tasks.sources.open_meteo import fetch_open_meteo, parse_open_meteo
from windcast.config import FileSource, HttpSettings, NdbcSource, OpenMeteoSource, Station

__all__ = ["ParseResult", "Payload", "SourceError", "fetch_payloads", "parse_payload"]


def fetch_payloads(
    station: Station, http: HttpSettings, since: pd.Timestamp | None, api_key: str | None = None
) -> list[Payload]:
    """Fetch what is new for the station since its watermark `since` (None: everything configured)."""
    source = station.source
    if isinstance(source, FileSource):
        return read_file_source(source, station.id)
    if isinstance(source, NdbcSource):
        return fetch_ndbc(source, station.id, http, since)
    if isinstance(source, OpenMeteoSource):
        return fetch_open_meteo(source, station.id, http, since, api_key=api_key)
    raise ValueError(f"station {station.id!r}: unknown source kind {getattr(source, 'kind', source)!r}")


def parse_payload(
    payload: Payload, source_config: FileSource | NdbcSource | OpenMeteoSource, raw_ref: str
) -> ParseResult:
    """Parse a payload into samples and rejects; `raw_ref` (the stored raw path) goes into both."""
    if payload.source == "file":
        if not isinstance(source_config, FileSource):
            raise ValueError(f"payload source 'file' needs a FileSource, got {type(source_config).__name__}")
        return parse_file(payload, source_config, raw_ref)
    if payload.source in ("ndbc-realtime", "ndbc-historical"):
        return parse_ndbc(payload, raw_ref)
    if payload.source == "open-meteo":
        return parse_open_meteo(payload, raw_ref)
    raise ValueError(f"payload source {payload.source!r} is not one of file, ndbc-*, open-meteo")
