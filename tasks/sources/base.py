"""What every source yields (Payload, ParseResult), its error, and the helpers the parsers share.

Plain functions only: no Prefect here, so the parsers can be tested and reused without a flow.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from windcast.schemas import REJECT_COLUMNS, SAMPLE_COLUMNS, empty_rejects, empty_samples

GZIP_MAGIC = b"\x1f\x8b"
REASON_MISSING_SPEED = "missing_wind_speed"
REASON_PARSE_ERROR = "parse_error"

# Factors to m/s; keys are the units FileSource and Open-Meteo's hourly_units use.
_SPEED_UNITS = {
    "m/s": ("mul", 1.0),
    "ms": ("mul", 1.0),
    "km/h": ("div", 3.6),  # divide (not * 1/3.6) so 36 km/h is exactly 10.0 m/s
    "kmh": ("div", 3.6),
    "kn": ("mul", 0.514444),
    "mph": ("mul", 0.44704),
    "mp/h": ("mul", 0.44704),
    "0.1 m/s": ("div", 10.0),
}
_APIKEY_RE = re.compile(r"(apikey=)[^&\s'\"]*", re.IGNORECASE)


@dataclass(frozen=True)
class Payload:
    """One fetched payload, kept exactly as received."""

    station_id: str  # windcast station id
    source: str  # "file" | "ndbc-realtime" | "ndbc-historical" | "open-meteo"
    url: str  # where it came from, API key redacted (file: the file path)
    content: bytes  # exactly as received (gz bytes stay gz)
    suffix: str  # ".txt", ".txt.gz", ".json", ".csv", ".csv.gz", ".parquet": names the raw file
    fetched_at: pd.Timestamp  # UTC


@dataclass
class ParseResult:
    """Samples and rejected rows of one payload; rows_in == len(samples) + len(rejects)."""

    samples: pd.DataFrame  # SAMPLE_COLUMNS, time = start of interval, UTC
    rejects: pd.DataFrame  # REJECT_COLUMNS
    rows_in: int  # data rows seen in the payload (header lines excluded)


class SourceError(RuntimeError):
    """A fetch or parse failure that makes a whole payload unusable."""


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Return text with every apikey query value and every given secret replaced by '***'."""
    from urllib.parse import quote

    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return _APIKEY_RE.sub(r"\1***", text)


def payload_error(payload: Payload, detail: str) -> SourceError:
    """Build the SourceError for a payload: names the station id and the (redacted) URL."""
    return SourceError(f"station {payload.station_id!r}: {redact(payload.url)}: {detail}")


def decompress(payload: Payload) -> bytes:
    """Return the payload bytes, gunzipped when they start with the gzip magic number."""
    if not payload.content.startswith(GZIP_MAGIC):
        return payload.content
    try:
        return gzip.decompress(payload.content)
    except (OSError, EOFError, zlib.error) as exc:
        raise payload_error(payload, f"corrupt gzip data ({exc})") from None


def decode_text(payload: Payload, data: bytes) -> str:
    """Decode payload bytes to text, refusing empty payloads and HTML pages."""
    return check_text(payload, data.decode("utf-8", errors="replace").lstrip("\ufeff"))


def check_text(payload: Payload, text: str) -> str:
    """The text itself, unless it is empty or an HTML page (SourceError)."""
    if not text.strip():
        raise payload_error(payload, f"empty payload ({len(payload.content)} bytes)")
    head = text.lstrip()[:200].lower()
    if head.startswith("<!doctype html") or head.startswith("<html"):
        raise payload_error(payload, f"got an HTML page instead of data: {text.strip()[:80]!r}")
    return text


def speed_to_ms(values: pd.Series | np.ndarray, unit: str) -> np.ndarray:
    """Convert wind speeds in `unit` (m/s, km/h, kn, mph, mp/h, 0.1 m/s) to m/s."""
    if unit not in _SPEED_UNITS:
        raise ValueError(f"speed unit {unit!r} is not supported, expected one of {sorted(_SPEED_UNITS)}")
    op, factor = _SPEED_UNITS[unit]
    arr = np.asarray(values, dtype="float64")
    return arr / factor if op == "div" else arr * factor


def localize_to_utc(naive: pd.DatetimeIndex, tz: str) -> tuple[pd.DatetimeIndex, list[str | None]]:
    """Localize naive wall-clock times in `tz` (IANA or fixed offset) and convert to UTC.

    Fall-back (repeated) hours are resolved from the order of that day's rows (`ambiguous="infer"`); when
    that is impossible the ambiguous rows of that day get NaT. Spring-forward times that do not exist get
    NaT. Returns the UTC times and, per row, None or the reject reason of a NaT that was not NaT on input.
    """
    reasons: list[str | None] = [None] * len(naive)
    if len(naive) == 0:
        return naive.tz_localize("UTC"), reasons
    # Ambiguous -> DST: only the nonexistent times become NaT here.
    probe = naive.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="NaT")
    nonexistent = np.asarray(probe.isna() & ~naive.isna())
    ok = ~nonexistent
    subset = naive[ok]
    localized = pd.Series(subset.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC"))
    ambiguous = np.asarray(localized.isna()) & ~np.asarray(subset.isna())
    days = subset.normalize()
    for day in pd.unique(days[ambiguous]):  # infer each fall-back day alone: one bad day spoils no other
        on_day = np.asarray(days == day)
        try:
            inferred = subset[on_day].tz_localize(tz, ambiguous="infer", nonexistent="NaT")
        except ValueError:  # a repeated hour that the row order cannot resolve: those rows are rejected
            continue
        localized[on_day] = inferred.tz_convert("UTC")
    # Assemble in naive UTC numpy: pandas refuses to set an all-NaT block into a tz-aware Series.
    utc = np.full(len(naive), np.datetime64("NaT"), dtype="datetime64[us]")
    utc[ok] = localized.dt.tz_localize(None).astype("datetime64[us]").to_numpy()
    out = pd.DatetimeIndex(utc).tz_localize("UTC")
    for i in np.flatnonzero(nonexistent):
        reasons[i] = f"{REASON_PARSE_ERROR}: nonexistent local time"
    ambiguous_nat = np.asarray(out.isna()) & ~np.asarray(naive.isna()) & ok
    for i in np.flatnonzero(ambiguous_nat):
        reasons[i] = f"{REASON_PARSE_ERROR}: ambiguous local time"
    return out, reasons


def build_result(
    station_id: str,
    raw_ref: str,
    rows: pd.DataFrame,
    line_no: Sequence[int],
    raw_text: Sequence[str],
    reason: Sequence[str | None],
) -> ParseResult:
    """Split parsed rows into samples and rejects by `reason` (None = keep; missing speed = reject).

    `rows` holds time (UTC), wind_speed_ms, wind_dir_deg, wind_gust_ms, one row per data row seen.
    """
    n = len(rows)
    assert len(line_no) == len(raw_text) == len(reason) == n, "parser produced ragged columns"
    reason = np.array(reason, dtype=object) if n else np.zeros(0, dtype=object)
    speed = rows["wind_speed_ms"].to_numpy(dtype="float64")
    reason[np.equal(reason, None) & np.isnan(speed)] = REASON_MISSING_SPEED
    bad = np.not_equal(reason, None)
    keep = rows.loc[~bad] if bad.any() else rows
    samples = empty_samples() if not len(keep) else _samples_of(station_id, raw_ref, keep)
    bad_idx = np.flatnonzero(bad)
    if len(bad_idx):
        rejects = pd.DataFrame(
            {
                "station_id": pd.Series([station_id] * len(bad_idx), dtype="string"),
                "raw_ref": pd.Series([raw_ref] * len(bad_idx), dtype="string"),
                "line_no": pd.Series([line_no[i] for i in bad_idx], dtype="Int64"),
                "raw_text": pd.Series([raw_text[i] for i in bad_idx], dtype="string"),
                "reason": pd.Series([reason[i] for i in bad_idx], dtype="string"),
            }
        )[REJECT_COLUMNS]
    else:
        rejects = empty_rejects()
    return ParseResult(samples=samples, rejects=rejects, rows_in=n)


def _samples_of(station_id: str, raw_ref: str, keep: pd.DataFrame) -> pd.DataFrame:
    """Sample frame with the schema dtypes from the kept rows."""
    return samples_frame(
        station_id,
        raw_ref,
        pd.DatetimeIndex(keep["time"]),
        *(keep[c].to_numpy(dtype="float64") for c in ("wind_speed_ms", "wind_dir_deg", "wind_gust_ms")),
    )


def samples_frame(
    station_id: str,
    raw_ref: str,
    time: pd.DatetimeIndex,
    wind_speed_ms: np.ndarray,
    wind_dir_deg: np.ndarray,
    wind_gust_ms: np.ndarray,
) -> pd.DataFrame:
    """SAMPLE_COLUMNS with the schema dtypes from UTC times and float64 values of equal length."""
    n = len(time)
    frame = pd.DataFrame(
        {
            "station_id": _repeat(station_id, n),
            "time": time.astype("datetime64[us, UTC]"),
            "wind_speed_ms": np.asarray(wind_speed_ms, dtype="float64"),
            "wind_dir_deg": np.asarray(wind_dir_deg, dtype="float64"),
            "wind_gust_ms": np.asarray(wind_gust_ms, dtype="float64"),
            "raw_ref": _repeat(raw_ref, n),
        },
        copy=False,
    )
    assert list(frame.columns) == SAMPLE_COLUMNS
    return frame


def _repeat(value: str, n: int) -> pd.Series:
    """n copies of one string as a "string" Series (built by pyarrow, not from a list of n)."""
    return pd.Series(pd.array(pa.repeat(pa.scalar(value, pa.string()), n), dtype="string"))
