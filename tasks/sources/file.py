"""Local CSV (also .csv.gz) or Parquet exports with a column mapping (FileSource).

Times: `time_format` None means ISO 8601. A time with an offset (`Z`, `+02:00`) is converted to UTC; a
time without one is wall-clock time in `source.timezone` (DST-aware: repeated fall-back hours are ordered by
the rows, otherwise rejected as ambiguous; spring-forward gaps are rejected as nonexistent).
`timestamp_at="end"`: each stamp is shifted back by the sampling interval, taken as the median spacing of
the distinct valid stamps, so a time marks the start of its interval like every other source.
CSV text: a byte-order mark (UTF-8, UTF-16, UTF-32) decides the encoding, else `encoding`, else UTF-8;
bytes that do not decode fail the payload with an error naming the encoding. CSV rows are read line by line
(a quoted field may not span lines); reject `line_no` is the 1-based line of the file, or the 0-based row
index for Parquet. A Parquet value column of booleans is refused (True/False are not speeds or degrees).
Time and speed columns are required; direction and gust may be unmapped (None) or, under their canonical
names, absent; a non-canonical mapped name must exist.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.sources.base import (
    REASON_PARSE_ERROR,
    ParseResult,
    Payload,
    SourceError,
    build_result,
    check_text,
    decompress,
    localize_to_utc,
    payload_error,
    speed_to_ms,
)
from tasks.sources.columnar import RowsAsJson, parse_csv_columnar
from windcast.config import FileSource

SOURCE = "file"
_MISSING_TOKENS = {"", "na", "nan", "null", "none"}
_CANONICAL_OPTIONAL = ("wind_dir_deg", "wind_gust_ms")
_OFFSET_RE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def file_format(source: FileSource) -> tuple[str, str]:
    """(format, suffix) of the file: from the config, else from its name (.csv, .csv.gz, .parquet)."""
    name = source.path.name.lower()
    if name.endswith(".csv.gz"):
        suffix = ".csv.gz"
    elif name.endswith(".parquet") or name.endswith(".pq"):
        suffix = ".parquet"
    elif name.endswith(".csv") or name.endswith(".txt"):
        suffix = ".csv"
    elif source.format is None:
        raise ValueError(f"file {str(source.path)!r}: cannot tell the format from the name, set `format`")
    else:
        suffix = ".parquet" if source.format == "parquet" else ".csv"
    fmt = source.format or ("parquet" if suffix == ".parquet" else "csv")
    return fmt, suffix


def read_file_source(source: FileSource, station_id: str) -> list[Payload]:
    """Read the whole file as one payload (url = the path)."""
    _, suffix = file_format(source)
    path = Path(source.path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"station {station_id!r}: {path}: cannot read the file ({exc.strerror})") from None
    return [Payload(station_id, SOURCE, str(path), content, suffix, pd.Timestamp.now(tz="UTC"))]


def parse_file(payload: Payload, source: FileSource, raw_ref: str) -> ParseResult:
    """Parse a CSV or Parquet payload with the FileSource mapping into samples and rejects.

    Clean CSV lines are parsed column by column with pyarrow (`tasks.sources.columnar`); the others, or the
    whole file where that path does not apply, line by line (`read_rows`), with the same result.
    """
    if file_format(source)[0] == "csv":
        fast = parse_csv_columnar(payload, source, raw_ref, read_rows)
        if fast is not None:
            return fast
    return build_result(payload.station_id, raw_ref, *read_rows(payload, source))


def read_rows(payload: Payload, source: FileSource) -> tuple[pd.DataFrame, list[int], list[str], list[str | None]]:
    """Every data row, one at a time: values (time UTC, speeds m/s), line numbers, raw texts, reject reasons."""
    fmt, _ = file_format(source)
    if fmt == "parquet":
        table, line_no, raw_text, reason = _read_parquet(payload)
    else:
        table, line_no, raw_text, reason = _read_csv(payload, source.csv_separator, source.encoding)
    _check_columns(payload, source, list(table.columns))
    if fmt == "parquet":  # CSV fields are text: 'True' is already refused as non-numeric
        _refuse_booleans(payload, table, [source.speed_column, source.direction_column, source.gust_column])
    time, time_reason = _parse_times(table[source.time_column], source)
    reason = [r or t for r, t in zip(reason, time_reason, strict=True)]
    speed, speed_reason = _numbers(table[source.speed_column], source.speed_column)
    direction, dir_reason = _optional(table, source.direction_column)
    gust, gust_reason = _optional(table, source.gust_column)
    reason = [r or a or b or c for r, a, b, c in zip(reason, speed_reason, dir_reason, gust_reason, strict=True)]
    if source.timestamp_at == "end":
        time = time - _interval(payload, time, reason)
    rows = pd.DataFrame(
        {
            "time": time,
            "wind_speed_ms": speed_to_ms(speed, source.speed_unit),
            "wind_dir_deg": direction,
            "wind_gust_ms": speed_to_ms(gust, source.speed_unit),
        }
    )
    return rows, line_no, raw_text, reason


def decode_file_text(payload: Payload, data: bytes, encoding: str | None) -> str:
    """Text of a CSV export: a byte-order mark's encoding, else `encoding`, else UTF-8; SourceError naming the
    encoding when the bytes do not decode (never a garbled header that surfaces as a 'missing column')."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            chosen, data = codec, data[len(bom) :]
            break
    else:
        chosen = encoding or "utf-8"
    if b"\x00" in data[:4096] and len("\x00".encode(chosen)) == 1:
        raise payload_error(
            payload,
            f"the file holds NUL bytes, which {chosen} text never does: likely UTF-16 without a byte-order mark, "
            "so set the source's `encoding` (utf-16-le or utf-16-be)",
        )
    try:
        text = data.decode(chosen)
    except UnicodeDecodeError as exc:
        hint = "" if encoding else ", so set the source's `encoding` (e.g. latin-1, cp1252, utf-16)"
        raise payload_error(
            payload, f"cannot decode the file as {chosen} (byte {exc.start}: {data[exc.start : exc.start + 1]!r}){hint}"
        ) from None
    return check_text(payload, text)


def _read_csv(
    payload: Payload, sep: str, encoding: str | None = None
) -> tuple[pd.DataFrame, list[int], list[str], list[str | None]]:
    """Header and data rows as strings, with line numbers, raw lines and field-count reasons."""
    lines = decode_file_text(payload, decompress(payload), encoding).splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip())
    header = [h.strip() for h in next(csv.reader([lines[first]], delimiter=sep))]
    rows, line_no, raw_text, reason = [], [], [], []
    # a plain split per line (a csv reader per line costs more than the parsing); quoted lines go through csv,
    # one line at a time, so a stray quote can never swallow the lines after it
    for idx in range(first + 1, len(lines)):
        line = lines[idx]
        fields = next(csv.reader([line], delimiter=sep), []) if '"' in line else line.split(sep)
        if not fields or not line.strip():
            continue
        line_no.append(idx + 1)  # 1-based
        raw_text.append(line)
        if len(fields) != len(header):
            reason.append(f"{REASON_PARSE_ERROR}: expected {len(header)} fields, got {len(fields)}")
            fields = [""] * len(header)
        else:
            reason.append(None)
        rows.append(fields)
    table = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header)
    table = table.apply(lambda col: col.str.strip()) if rows else table
    return table, line_no, raw_text, reason


def _read_parquet(payload: Payload) -> tuple[pd.DataFrame, list[int], list[str], list[str | None]]:
    """The Parquet table, 0-based row indexes and each row as JSON text."""
    if not payload.content.strip():
        raise payload_error(payload, f"empty payload ({len(payload.content)} bytes)")
    try:
        table = pd.read_parquet(io.BytesIO(payload.content)).reset_index(drop=True)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise payload_error(payload, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    return table, list(range(len(table))), RowsAsJson(table), [None] * len(table)


def _check_columns(payload: Payload, source: FileSource, present: list[str]) -> None:
    """SourceError naming the first mapped column the file lacks, and the columns it has.

    The canonical optional columns (wind_dir_deg, wind_gust_ms: the defaults) may be absent; a direction
    or gust column mapped to any other name must exist.
    """
    wanted = [source.time_column, source.speed_column, source.direction_column, source.gust_column]
    for col in wanted:
        if col is not None and col not in present and col not in _CANONICAL_OPTIONAL:
            raise payload_error(payload, f"missing column {col!r}; columns present: {present}")


def _refuse_booleans(payload: Payload, table: pd.DataFrame, columns: list[str | None]) -> None:
    """SourceError for a mapped value column of booleans: True/False would otherwise become 1 and 0."""
    for col in columns:
        if col is None or col not in table.columns:
            continue
        values = table[col]
        if pd.api.types.is_bool_dtype(values) or (
            values.dtype == object and values.map(lambda v: isinstance(v, (bool, np.bool_))).any()
        ):
            raise payload_error(payload, f"column {col!r} holds booleans (True/False), not numbers")


def _parse_times(values: pd.Series, source: FileSource) -> tuple[pd.Series, list[str | None]]:
    """Times as UTC (start or end as stamped) and per-row reasons for those that could not be read."""
    n = len(values)
    utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")  # naive UTC while assembling
    if pd.api.types.is_datetime64_any_dtype(values) and values.dt.tz is not None:
        utc[:] = _naive_utc(values.dt.tz_convert("UTC"))
        return pd.Series(utc, dtype="datetime64[us]").dt.tz_localize("UTC"), [None] * n
    if pd.api.types.is_datetime64_any_dtype(values):
        strings = values.astype(object)
        aware = np.zeros(n, dtype=bool)
        naive = pd.DatetimeIndex(values.astype("datetime64[us]"))
    else:
        strings = values.astype(object).map(lambda v: "" if v is None else str(v).strip())
        if source.time_format is None:
            aware = strings.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
            kwargs = {"format": "ISO8601"}
        else:
            aware = np.full(n, "%z" in source.time_format or "%Z" in source.time_format)
            kwargs = {"format": source.time_format}
        naive = pd.DatetimeIndex(pd.to_datetime(strings.where(~aware, None), errors="coerce", **kwargs))
        naive = naive.astype("datetime64[us]")
        if aware.any():
            utc[aware] = _naive_utc(pd.to_datetime(strings[aware], errors="coerce", utc=True, **kwargs))
    failed = (np.asarray(naive.isna()) & ~aware) | (aware & np.isnat(utc))
    reasons: list[str | None] = [None] * n
    if (~aware).any():
        local, tz_reason = localize_to_utc(naive[~aware], source.timezone)
        utc[~aware] = _naive_utc(local)
        for pos, why in zip(np.flatnonzero(~aware), tz_reason, strict=True):
            reasons[pos] = why
    for pos in np.flatnonzero(failed):
        reasons[pos] = f"{REASON_PARSE_ERROR}: bad time {strings.iat[pos]!r}"
    return pd.Series(utc, dtype="datetime64[us]").dt.tz_localize("UTC"), reasons


def _naive_utc(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC-aware times as naive datetime64[us] numbers (NaT kept)."""
    times = pd.Series(times)
    return times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").to_numpy()


def _numbers(values: pd.Series, column: str) -> tuple[np.ndarray, list[str | None]]:
    """Column as float64 (missing tokens -> NaN) and reasons for values that are not numbers."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan), [None] * len(values)
    text = values.astype(object).map(lambda v: "" if v is None or v is pd.NA else str(v).strip())
    missing = text.str.lower().isin(_MISSING_TOKENS).to_numpy()
    parsed = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(parsed) & ~missing
    reasons = [
        f"{REASON_PARSE_ERROR}: non-numeric {column} {text.iat[i]!r}" if bad[i] else None for i in range(len(text))
    ]
    return parsed, reasons


def _optional(table: pd.DataFrame, column: str | None) -> tuple[np.ndarray, list[str | None]]:
    """An optional numeric column, all NaN when not mapped (or a canonical one absent)."""
    if column is None or column not in table.columns:
        return np.full(len(table), np.nan), [None] * len(table)
    return _numbers(table[column], column)


def _interval(payload: Payload, time: pd.Series, reason: list[str | None]) -> pd.Timedelta:
    """Sampling interval: the median spacing of the distinct valid stamps."""
    ok = np.array([r is None for r in reason]) & time.notna().to_numpy()
    distinct = np.unique(time[ok].to_numpy())
    if len(distinct) < 2:
        raise payload_error(payload, "timestamp_at='end' needs >= 2 distinct times to infer the interval")
    return pd.Timedelta(np.median(np.diff(distinct)))
