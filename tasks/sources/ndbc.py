"""NOAA NDBC standard meteorological files: the realtime2 feed and the yearly historical stdmet files.

Layouts handled (columns are found by header name, whitespace-separated):
- realtime2 `/data/realtime2/{STATION}.txt`: two `#` header lines (names, units), newest row first,
  10-minute rows, `MM` = missing.
- historical `/data/historical/stdmet/{station}h{year}.txt.gz`: gzip; two `#` header lines, oldest first,
  sentinels 99.0/99.00 (speeds), 999 (direction); older years have ONE header line without `#`
  (`YYYY MM DD hh WD WSPD GST ...` or `YY MM DD hh ...`), 2-digit years (19xx, used before 1999), no
  minute column in the oldest files and stamps at hh:50 in some years. A body that is not gzip is read
  as plain text.

Times are UTC. An NDBC stamp marks the END of its averaging period (e.g. the 8-min wind average ending at
hh:50); parsers keep the stamp as it is and the resampling stage floors samples into their interval, so
no source-specific shift is needed (an hh:50 sample lands in the hour hh).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tasks import http as http_client
from tasks.sources.base import (
    REASON_PARSE_ERROR,
    ParseResult,
    Payload,
    SourceError,
    build_result,
    decode_text,
    decompress,
    payload_error,
)
from windcast.config import HttpSettings, NdbcSource

LOGGER = logging.getLogger(__name__)
SOURCE_REALTIME = "ndbc-realtime"
SOURCE_HISTORICAL = "ndbc-historical"
_YEAR_NAMES = ("YY", "YYYY")
_DIR_NAMES = ("WDIR", "WD")
_SPEED_SENTINEL = 99.0  # WSPD and GST: 99.0 / 99.00
_DIR_SENTINEL = 999.0  # WDIR: 999 / 999.0


def realtime_url(source: NdbcSource) -> str:
    """URL of the station's last-45-days realtime2 file (station id upper-case, as NDBC names it)."""
    return f"{source.base_url.rstrip('/')}/data/realtime2/{source.station.upper()}.txt"


def historical_url(source: NdbcSource, year: int) -> str:
    """URL of the station's gzipped yearly stdmet file."""
    return f"{source.base_url.rstrip('/')}/data/historical/stdmet/{source.station.lower()}h{year}.txt.gz"


def fetch_ndbc(
    source: NdbcSource,
    station_id: str,
    http: HttpSettings,
    since: pd.Timestamp | None,
    session=None,
) -> list[Payload]:
    """Fetch the historical years >= since.year (oldest first), then the realtime file (always).

    A historical year that answers 404 is skipped with a warning naming it; the station fails only when none
    of its files exist.
    """
    own = session is None
    session = http_client.make_session(http) if own else session
    try:
        years = sorted(y for y in set(source.historical_years) if since is None or y >= since.year)
        jobs = [(SOURCE_HISTORICAL, historical_url(source, y), ".txt.gz", y) for y in years]
        if source.realtime:
            jobs.append((SOURCE_REALTIME, realtime_url(source), ".txt", None))
        payloads, missing = [], {}
        for kind, url, suffix, year in jobs:
            try:
                content = http_client.get_bytes(session, url, http, station_id)
            except SourceError as exc:
                # a year NDBC does not have (404) must not cost the other years and the realtime file
                if year is None or ": 404 Not Found" not in str(exc):
                    raise
                missing[year] = exc
                continue
            now = pd.Timestamp.now(tz="UTC")
            payloads.append(Payload(station_id, kind, url, content, suffix, now))
        if missing and not payloads:
            raise next(iter(missing.values()))
        if missing:
            LOGGER.warning(
                "station %r: NDBC has no historical file for %s (404); ingesting the %d file(s) that exist",
                station_id,
                ", ".join(map(str, missing)),
                len(payloads),
            )
        return payloads
    finally:
        if own:
            session.close()


def parse_ndbc(payload: Payload, raw_ref: str) -> ParseResult:
    """Parse a realtime2 or historical stdmet payload into samples (m/s, degrees, UTC) and rejects."""
    text = decode_text(payload, decompress(payload))
    lines = text.splitlines()
    names, first_data = _header(payload, lines)
    cols = _columns(payload, names)
    width = len(names)
    parts: list[list[float]] = []
    line_no: list[int] = []
    raw_text: list[str] = []
    reason: list[str | None] = []
    for idx in range(first_data, len(lines)):
        line = lines[idx]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        line_no.append(idx + 1)
        raw_text.append(line)
        values, why = _parse_line(line.split(), width, cols)
        parts.append(values)
        reason.append(why)
    rows = _rows_frame(parts)
    bad_date = rows["time"].isna().to_numpy()
    reason = [
        f"{REASON_PARSE_ERROR}: bad date" if why is None and bad else why
        for why, bad in zip(reason, bad_date, strict=True)
    ]
    return build_result(payload.station_id, raw_ref, rows, line_no, raw_text, reason)


def _header(payload: Payload, lines: list[str]) -> tuple[list[str], int]:
    """Column names and the index of the first line after the header."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise payload_error(payload, "empty payload")
    head = lines[first].strip()
    if head.startswith("#"):
        names = head.lstrip("#").split()
        nxt = first + 1
        while nxt < len(lines) and lines[nxt].lstrip().startswith("#"):
            nxt += 1
        return names, nxt
    tokens = head.split()
    if tokens and tokens[0] in _YEAR_NAMES:  # old layout: one header line, no '#'
        return tokens, first + 1
    raise payload_error(payload, f"no NDBC header line, first line is {head[:80]!r}")


def _columns(payload: Payload, names: list[str]) -> dict[str, int | None]:
    """Positions of the columns the parser needs; SourceError when a required one is missing."""

    def find(*candidates: str) -> int | None:
        return next((names.index(c) for c in candidates if c in names), None)

    cols = {
        "year": find(*_YEAR_NAMES),
        "month": find("MM"),
        "day": find("DD"),
        "hour": find("hh"),
        "minute": find("mm"),
        "dir": find(*_DIR_NAMES),
        "speed": find("WSPD"),
        "gust": find("GST"),
    }
    missing = [k for k in ("year", "month", "day", "hour", "speed") if cols[k] is None]
    if missing:
        raise payload_error(payload, f"missing required header columns {missing}; header is {names}")
    return cols


def _parse_line(tokens: list[str], width: int, cols: dict[str, int | None]) -> tuple[list[float], str | None]:
    """[year, month, day, hour, minute, speed, dir, gust] of one data line, or NaNs and a reason."""
    nan = float("nan")
    if len(tokens) != width:
        return [nan] * 8, f"{REASON_PARSE_ERROR}: expected {width} fields, got {len(tokens)}"
    out = []
    for key in ("year", "month", "day", "hour", "minute", "speed", "dir", "gust"):
        pos = cols[key]
        if pos is None:
            out.append(0.0 if key == "minute" else nan)
            continue
        token = tokens[pos]
        if token == "MM":
            out.append(nan)
            continue
        try:
            out.append(float(token))
        except ValueError:
            return [nan] * 8, f"{REASON_PARSE_ERROR}: non-numeric {key} {token!r}"
    year = out[0]
    if year < 100:  # 2-digit years appear only in files before 1999
        out[0] = year + 1900
    return out, None


def _rows_frame(parts: list[list[float]]) -> pd.DataFrame:
    """Rows frame (UTC time, speed, direction, gust) from parsed numbers, sentinels made NaN."""
    arr = np.array(parts, dtype="float64").reshape(-1, 8)
    when = pd.DataFrame(
        {"year": arr[:, 0], "month": arr[:, 1], "day": arr[:, 2], "hour": arr[:, 3], "minute": arr[:, 4]}
    )
    whole = np.isfinite(arr[:, :5]).all(axis=1) & (arr[:, :5] == np.round(arr[:, :5])).all(axis=1)
    time = pd.Series(pd.NaT, index=range(len(arr)), dtype="datetime64[us]")
    if whole.any():
        time[whole] = pd.to_datetime(when[whole].astype("int64"), errors="coerce")
    speed, direction, gust = arr[:, 5].copy(), arr[:, 6].copy(), arr[:, 7].copy()
    speed[speed == _SPEED_SENTINEL] = np.nan
    gust[gust == _SPEED_SENTINEL] = np.nan
    direction[direction == _DIR_SENTINEL] = np.nan
    return pd.DataFrame(
        {
            "time": time.dt.tz_localize("UTC"),
            "wind_speed_ms": speed,
            "wind_dir_deg": direction,
            "wind_gust_ms": gust,
        }
    )
