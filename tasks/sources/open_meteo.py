"""The Open-Meteo historical archive API (reanalysis at one point, hourly).

`hourly.time` holds local wall-clock times without an offset; they are read in the payload's IANA
`timezone` (DST-aware) rather than with the single `utc_offset_seconds`, which is wrong on one side of a
DST change; the offset is only a fall-back when the zone name is unknown. Speeds come in the unit of
`hourly_units` and are converted to m/s. Reject `line_no` is the 0-based index in the hourly arrays.
"""

from __future__ import annotations

import json
from datetime import date, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from tasks import http as http_client
from tasks.sources.base import (
    REASON_PARSE_ERROR,
    ParseResult,
    Payload,
    build_result,
    decode_text,
    localize_to_utc,
    payload_error,
    redact,
    speed_to_ms,
)
from windcast.clock import utc_now
from windcast.config import HttpSettings, OpenMeteoSource

SOURCE = "open-meteo"
SPEED_KEY, DIR_KEY, GUST_KEY = "wind_speed_10m", "wind_direction_10m", "wind_gusts_10m"


def request_dates(source: OpenMeteoSource, since: pd.Timestamp | None, today: date) -> tuple[date, date]:
    """start/end dates to ask for: from the watermark's day minus one (revisions), never before start_date."""
    end = source.end_date or today
    start = source.start_date
    if since is not None:
        since = pd.Timestamp(since)
        since_utc = since.tz_localize("UTC") if since.tz is None else since.tz_convert("UTC")
        start = max(start, since_utc.date() - timedelta(days=1))
    return start, end


def archive_url(source: OpenMeteoSource, start: date, end: date, api_key: str | None = None) -> str:
    """The archive request URL (with the API key when given: redact before showing it)."""
    params = {
        "latitude": source.latitude,
        "longitude": source.longitude,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "hourly": f"{SPEED_KEY},{DIR_KEY},{GUST_KEY}",
        "wind_speed_unit": "ms",
        "timezone": "UTC",
    }
    if api_key:
        params["apikey"] = api_key
    return f"{source.base_url.rstrip('/')}/v1/archive?{urlencode(params, safe=',')}"


def fetch_open_meteo(
    source: OpenMeteoSource,
    station_id: str,
    http: HttpSettings,
    since: pd.Timestamp | None,
    api_key: str | None = None,
    session=None,
    today: date | None = None,
) -> list[Payload]:
    """Fetch the archive JSON from the watermark on; [] when the window is empty (start after end)."""
    today = today or utc_now().date()
    start, end = request_dates(source, since, today)
    if start > end:
        return []
    url = archive_url(source, start, end, api_key)
    secrets = (api_key,) if api_key else ()
    own = session is None
    session = http_client.make_session(http) if own else session
    try:
        content = http_client.get_bytes(session, url, http, station_id, redact=secrets)
    finally:
        if own:
            session.close()
    return [Payload(station_id, SOURCE, redact(url, secrets), content, ".json", utc_now())]


def read_hourly_doc(payload: Payload) -> tuple[dict, dict, object]:
    """The JSON document of an Open-Meteo payload (archive or forecast): (doc, hourly, hourly_units or None)."""
    try:
        doc = json.loads(decode_text(payload, payload.content))
    except json.JSONDecodeError as exc:
        raise payload_error(payload, f"payload is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise payload_error(payload, f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("error"):
        raise payload_error(payload, f"Open-Meteo error: {doc.get('reason', 'no reason given')}")
    hourly, units = doc.get("hourly"), doc.get("hourly_units")
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise payload_error(payload, f"no 'hourly.time' in the JSON (keys: {sorted(doc)})")
    return doc, hourly, units


def parse_open_meteo(payload: Payload, raw_ref: str) -> ParseResult:
    """Parse an archive JSON payload into hourly samples (m/s, degrees, UTC) and rejects."""
    doc, hourly, units = read_hourly_doc(payload)
    times = hourly["time"]
    keys = {name: _pick_key(payload, hourly, name) for name in (SPEED_KEY, DIR_KEY, GUST_KEY)}
    if keys[SPEED_KEY] is None:
        raise payload_error(payload, f"no '{SPEED_KEY}' in hourly (keys: {sorted(hourly)})")
    n = len(times)
    for key in keys.values():
        if key is not None and len(hourly[key]) != n:
            raise payload_error(payload, f"hourly.{key} has {len(hourly[key])} values, hourly.time has {n}")
    if not isinstance(units, dict):
        raise payload_error(payload, "no 'hourly_units' in the JSON: the speed unit is unknown (m/s or km/h?)")
    speed = _speed_values(payload, hourly, units, keys[SPEED_KEY], n)
    gust = _speed_values(payload, hourly, units, keys[GUST_KEY], n)
    direction = _values(hourly, keys[DIR_KEY], n)
    utc, reason = _times_to_utc(payload, doc, times)
    rows = pd.DataFrame({"time": utc, "wind_speed_ms": speed, "wind_dir_deg": direction, "wind_gust_ms": gust})
    raw_text = [
        json.dumps({"time": times[i], **{k: hourly[k][i] for k in keys.values() if k is not None}}) for i in range(n)
    ]
    return build_result(payload.station_id, raw_ref, rows, list(range(n)), raw_text, reason)


def _pick_key(payload: Payload, hourly: dict, name: str) -> str | None:
    """The plain key, else the single model-suffixed one (`wind_speed_10m_ecmwf_ifs025`), else None."""
    if name in hourly:
        return name
    suffixed = sorted(k for k in hourly if k.startswith(name + "_"))
    if len(suffixed) > 1:
        raise payload_error(payload, f"several models for {name!r}: {suffixed}; request a single model")
    return suffixed[0] if suffixed else None


def _values(hourly: dict, key: str | None, n: int) -> np.ndarray:
    """The array under `key` as float64, null -> NaN (all NaN when the key is absent)."""
    if key is None:
        return np.full(n, np.nan)
    return np.array([np.nan if v is None else v for v in hourly[key]], dtype="float64")


def _speed_values(payload: Payload, hourly: dict, units: dict, key: str | None, n: int) -> np.ndarray:
    """Speeds under `key` converted to m/s with the unit from hourly_units."""
    values = _values(hourly, key, n)
    if key is None or np.isnan(values).all():  # models without data say "undefined"
        return values
    if key not in units:  # Open-Meteo defaults to km/h: assuming m/s would make the wind 3.6x too strong
        raise payload_error(payload, f"hourly_units gives no unit for {key!r}, refusing to guess m/s or km/h")
    unit = units[key]
    try:
        return speed_to_ms(values, unit)
    except ValueError:
        raise payload_error(payload, f"hourly_units.{key} is {unit!r}, not a known speed unit") from None


def _times_to_utc(payload: Payload, doc: dict, times: list) -> tuple[pd.DatetimeIndex, list[str | None]]:
    """Local ISO times -> UTC, with a reject reason for unparseable, ambiguous or nonexistent ones."""
    naive = pd.DatetimeIndex(
        pd.to_datetime(pd.Series(times, dtype="object"), format="ISO8601", errors="coerce")
    ).astype("datetime64[us]")
    reason: list[str | None] = [
        f"{REASON_PARSE_ERROR}: bad time {t!r}" if pd.isna(v) else None for t, v in zip(times, naive, strict=True)
    ]
    tz = _zone(doc)
    utc, tz_reason = localize_to_utc(naive, tz)
    return utc, [r or z for r, z in zip(reason, tz_reason, strict=True)]


def _zone(doc: dict):
    """The payload's IANA zone, else a fixed zone from utc_offset_seconds."""
    name = doc.get("timezone")
    if isinstance(name, str):
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone(timedelta(seconds=int(doc.get("utc_offset_seconds") or 0)))
