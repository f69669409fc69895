"""Columnar fast path for file CSVs: pyarrow parses the clean lines, the line-by-line parser the others.

A line is clean when it has no quote, the header's field count, an ISO 8601 time `YYYY-MM-DD[T ]HH:MM:SS` with
an optional `Z` / `+HH:MM` / `+HHMM` offset, numbers (or missing tokens) in the numeric columns and a speed. Every
other line goes, with its line number, through the line-by-line parser (`tasks.sources.file.read_csv_rows`),
so its reject reason, line number and text are exactly what that parser gives. The result equals the
line-by-line parse of the whole file: same samples in line order, same rejects, same rows_in.

The whole file takes the line-by-line path (`parse_csv_columnar` returns None) where splitting differs or a
split could change a result: text that is not plain UTF-8 (another `encoding`, a UTF-16/32 mark, NUL bytes,
undecodable bytes), line breaks other than LF / CRLF, duplicate or missing mapped columns, `time_format` or
`timestamp_at="end"` set, or naive times in a zone with DST when some lines fall back (the fall-back hour is
inferred from the order of a day's rows, so those rows must be localised together).

The usual file is clean from top to bottom: no quote, no blank line, every line splits into the header's
fields. It takes one typed pyarrow read (numbers parsed by the reader, missing tokens read as nulls, only the
mapped columns converted), one check and cast of the times, and no per-line bookkeeping; any value that read
cannot take as the line parser would (a conversion error, a non-finite number, a missing speed, a time off the
format above, a bad date) sends the file to the general path below, which finds the lines to hand over.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tasks.sources.base import (
    ParseResult,
    Payload,
    build_result,
    decompress,
    localize_to_utc,
    samples_frame,
    speed_to_ms,
)
from tasks.sources.csv_times import read_times
from windcast.config import FileSource
from windcast.schemas import empty_rejects

RowReader = Callable[[Payload, FileSource], tuple[pd.DataFrame, list[int], list[str], list[str | None]]]

_BOM = b"\xef\xbb\xbf"
_OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")  # plus, in non-ASCII text, _OTHER_BREAKS_UTF8
_OTHER_BREAKS_UTF8 = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
_MISSING = ["", "na", "nan", "null", "none"]
# the missing tokens in every letter case: the typed read takes them as nulls (the line parser lowercases)
_MISSING_ANY_CASE = sorted({"".join(c) for w in _MISSING for c in itertools.product(*({a, a.upper()} for a in w))})
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_FIXED_ZONES = ("UTC", "Etc/UTC", "GMT", "Z")


def parse_csv_columnar(payload: Payload, source: FileSource, raw_ref: str, read_rows: RowReader) -> ParseResult | None:
    """Parse a CSV payload with pyarrow, sending the lines it cannot take to `read_rows`; None: use read_rows alone."""
    data = _eligible_bytes(payload, source)
    if data is None:
        return None
    head = _header_bounds(data)
    if head is None:
        return None
    header_line = data[head[1] : head[2]].decode()
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=source.csv_separator))]
    wanted = [c for c in (source.time_column, source.speed_column) if c]
    optional = [c for c in (source.direction_column, source.gust_column) if c]
    if len(set(header)) != len(header) or any(c not in header for c in wanted):
        return None  # the line-by-line path raises the error naming the column
    optional = [c for c in optional if c in header]
    if any(
        c not in header and c not in ("wind_dir_deg", "wind_gust_ms")
        for c in (source.direction_column, source.gust_column)
        if c
    ):
        return None  # fmt: skip
    if b'"' not in data:  # usual case: every line clean, one typed read
        clean = _parse_clean_file(data, head, header, source, payload.station_id, raw_ref)
        if clean is not None:
            return clean
    starts, ends = _line_bounds(data)
    header_idx = head[0]
    lines = np.arange(header_idx + 1, len(starts))
    s, e = starts[lines], ends[lines]
    empty = e == s
    table = None
    if len(lines) and b'"' not in data and not empty.any():  # usual case: one read of every line
        table = _read_body(data[s[0] :], header, source.csv_separator)
    if table is not None and table.num_rows == len(lines):
        shaped = np.ones(len(lines), dtype=bool)
    else:  # find the lines pyarrow can split like the line parser: header's field count, no quote
        shaped = _field_counts(data, s, e, source.csv_separator) == len(header)
        shaped &= ~_contains(data, s, e, ord('"'))
        table = _read_clean(data, starts, header_idx + 1, starts[lines[shaped & ~empty]], header, source.csv_separator)
    clean_lines = lines[shaped & ~empty]
    rows, ok, naive = _convert(table, source, header)
    dirty_lines = np.sort(np.concatenate([lines[~shaped & ~empty], clean_lines[~ok]]))
    rows, clean_lines, naive = rows[ok].reset_index(drop=True), clean_lines[ok], naive[ok]
    if naive.any():  # wall-clock times in source.timezone, localised as the line-by-line path does
        if len(dirty_lines) and source.timezone not in _FIXED_ZONES:
            return None
        local, reasons = localize_to_utc(pd.DatetimeIndex(rows["time"][naive]).tz_localize(None), source.timezone)
        if any(r is not None for r in reasons):
            return None
        rows.loc[naive, "time"] = local
    fallback_rows, fallback_no, fallback_text, fallback_reason = _read_lines(
        payload, source, read_rows, data, header_line, starts[dirty_lines], ends[dirty_lines], dirty_lines
    )
    combined = pd.concat([rows, fallback_rows[rows.columns]], ignore_index=True)
    line_no = np.concatenate([clean_lines + 1, np.asarray(fallback_no, dtype=np.int64)])
    order = np.argsort(line_no, kind="stable")
    texts = _LineTexts(data, starts, ends, line_no[order] - 1, dict(zip(fallback_no, fallback_text, strict=True)))
    reasons = np.full(len(line_no), None, dtype=object)
    reasons[len(rows) :] = fallback_reason
    rows = combined.iloc[order].reset_index(drop=True)
    return build_result(payload.station_id, raw_ref, rows, line_no[order], texts, reasons[order])


class _LineTexts(Sequence[str]):
    """Each row's line text, decoded only when asked (only rejected rows are)."""

    def __init__(self, data: bytes, starts, ends, rows: np.ndarray, known: dict[int, str]):
        self.data, self.starts, self.ends, self.rows, self.known = data, starts, ends, rows, known

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        row = int(self.rows[i])
        if row + 1 in self.known:
            return self.known[row + 1]
        return self.data[self.starts[row] : self.ends[row]].decode()


def _eligible_bytes(payload: Payload, source: FileSource) -> bytes | None:
    """The decoded file bytes (BOM removed) when the fast path applies, else None."""
    if source.time_format is not None or source.timestamp_at == "end" or len(source.csv_separator) != 1:
        return None
    if (getattr(source, "encoding", None) or "utf-8").lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    data = decompress(payload)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if b"\x00" in data[:4096]:
        return None  # UTF-16 without a mark, or binary: the line-by-line path names the problem
    ascii_only = data.isascii()
    breaks = _OTHER_BREAKS if ascii_only else _OTHER_BREAKS + _OTHER_BREAKS_UTF8
    if any(b in data for b in breaks) or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None  # str.splitlines would split where a CSV reader does not
    try:
        head = data[:4096].decode("utf-8", errors="ignore").lstrip().lower()
        if not ascii_only:
            data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the line-by-line path replaces bad bytes and keeps the line numbers
    if not data or data.isspace() or head.startswith(("<!doctype html", "<html")):
        return None  # the line-by-line path raises the payload error
    return data


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without CR/LF) byte offsets of every line, as str.splitlines numbers them."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(arr)]])
    if starts[-1] == len(arr):  # text ending in a newline has no empty last line
        starts, ends = starts[:-1], ends[:-1]
    cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    return starts, ends - cr


def _header_bounds(data: bytes) -> tuple[int, int, int] | None:
    """(line index, start, end without CR/LF) of the first non-blank line (the header) among the first 100."""
    start = 0
    for i in range(100):
        stop = data.find(b"\n", start)
        end = len(data) if stop < 0 else stop
        end -= end > start and data[end - 1] == 13
        if data[start:end].decode().strip():
            return i, start, end
        if stop < 0 or stop + 1 == len(data):
            return None
        start = stop + 1
    return None


def _parse_clean_file(
    data: bytes, head: tuple[int, int, int], header: list[str], source: FileSource, station_id: str, raw_ref: str
) -> ParseResult | None:
    """The whole file in one typed read when every line is clean (see the module doc); None otherwise."""
    body_start = data.find(b"\n", head[2]) + 1
    if body_start == 0 or body_start == len(data):
        return None  # no data line: the general path gives the empty result
    # one row per line: no quotes, lone CRs or blank lines (a blank line has the wrong field count) to merge
    # or drop lines, and every line with the wrong field count makes _read_typed give up
    table = _read_typed(pa.py_buffer(data)[body_start:], header, source)
    if table is None:
        return None
    n_lines = table.num_rows
    columns = {}
    for name, col in (("wind_speed_ms", source.speed_column), ("wind_dir_deg", source.direction_column),
                      ("wind_gust_ms", source.gust_column)):  # fmt: skip
        if col is None or col not in header:
            columns[name] = np.full(n_lines, np.nan)
            continue
        values = table[col].to_numpy(zero_copy_only=False)  # nulls (missing tokens) -> NaN
        if np.count_nonzero(np.isnan(values)) != table[col].null_count or np.isinf(values).any():
            return None  # "+nan" or "inf": the line parser's verdict is needed
        columns[name] = speed_to_ms(values, source.speed_unit) if name != "wind_dir_deg" else values
    if table[source.speed_column].null_count:
        return None  # a missing speed is a reject: the line-by-line path words it
    times, ok, naive = read_times(table[source.time_column])
    if not ok.all():
        return None
    if naive.any():  # wall-clock times in source.timezone, localised as the line-by-line path does
        local, reasons = localize_to_utc(pd.DatetimeIndex(times[naive]), source.timezone)
        if any(r is not None for r in reasons):
            return None
        times = np.array(times)
        times[naive] = local.tz_localize(None).to_numpy(dtype="datetime64[us]")
    utc = pd.DatetimeIndex(times).tz_localize("UTC")
    samples = samples_frame(station_id, raw_ref, utc, columns["wind_speed_ms"], columns["wind_dir_deg"],
                            columns["wind_gust_ms"])  # fmt: skip
    return ParseResult(samples=samples, rejects=empty_rejects(), rows_in=n_lines)


def _read_typed(body: pa.Buffer, header: list[str], source: FileSource) -> pa.Table | None:
    """Header-less CSV lines, the mapped numeric columns as float64 (missing tokens null) and the time as text.

    None when a line has the wrong field count or a number does not convert.
    """
    wrong = []

    def skip(row) -> str:
        wrong.append(row.number)
        return "skip"

    numeric = [c for c in (source.speed_column, source.direction_column, source.gust_column) if c in header]
    if len(set(numeric + [source.time_column])) != len(numeric) + 1:
        return None  # one column mapped twice: the line-by-line path reads it as mapped
    try:
        table = pacsv.read_csv(
            body,
            read_options=pacsv.ReadOptions(column_names=header, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=source.csv_separator, quote_char=False, ignore_empty_lines=False, invalid_row_handler=skip
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={source.time_column: pa.string(), **{c: pa.float64() for c in numeric}},
                include_columns=[source.time_column, *numeric],
                null_values=_MISSING_ANY_CASE,
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    return None if wrong else table


def _positions(data: bytes, byte: int) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == byte)


def _field_counts(data: bytes, s: np.ndarray, e: np.ndarray, sep: str) -> np.ndarray:
    pos = _positions(data, ord(sep))
    return np.searchsorted(pos, e) - np.searchsorted(pos, s) + 1


def _contains(data: bytes, s: np.ndarray, e: np.ndarray, byte: int) -> np.ndarray:
    pos = _positions(data, byte)
    return np.searchsorted(pos, e) > np.searchsorted(pos, s)


def _read_clean(data: bytes, starts: np.ndarray, s_first: int, s: np.ndarray, header: list[str], sep: str) -> pa.Table:
    """The clean lines as a table of strings, one row per line, in line order."""
    if len(s) == 0:
        return pa.table({c: pa.array([], pa.string()) for c in header})
    if len(s) == len(starts) - s_first and s[0] == starts[s_first]:  # every data line is clean: one slice
        body = data[s[0] :]
    else:  # keep the bytes of the clean lines, each with its line break
        full_end = np.append(starts, len(data))[np.searchsorted(starts, s) + 1]
        mark = np.zeros(len(data) + 1, dtype=np.int8)
        np.add.at(mark, s, 1)
        np.add.at(mark, full_end, -1)
        body = np.frombuffer(data, dtype=np.uint8)[np.cumsum(mark[:-1], dtype=np.int8).astype(bool)].tobytes()
    if not body.endswith(b"\n"):
        body += b"\n"
    table = _read_body(body, header, sep)
    assert table is not None and table.num_rows == len(s), "pyarrow split the clean lines differently"
    return table


def _read_body(body: bytes, header: list[str], sep: str) -> pa.Table | None:
    """Header-less CSV lines as a table of strings, one row per line; None when a line has the wrong field count."""
    wrong = []

    def skip(row) -> str:
        wrong.append(row.number)
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=header, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            delimiter=sep, quote_char=False, ignore_empty_lines=False, invalid_row_handler=skip
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}, strings_can_be_null=False, null_values=[]
        ),
    )
    return None if wrong else table


def _numbers(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN for missing tokens, whether each value was a number or a missing token).

    A NaN that is not a missing token ("+nan") counts as not a number: the line-by-line path rejects it.
    """
    try:  # usual case: every value is a plain number, one cast
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        nan = np.isnan(values)
        if not nan.any():
            return values, ~nan
    except pa.ArrowInvalid:
        pass
    text = pc.utf8_trim_whitespace(col)
    missing = np.asarray(pc.is_in(pc.utf8_lower(text), value_set=pa.array(_MISSING)))
    try:  # one cast when every value parses
        values = pc.cast(pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text), pa.float64())
    except pa.ArrowInvalid:
        number = pc.match_substring_regex(text, _NUMBER)
        values = pc.cast(pc.if_else(number, text, pa.scalar(None, pa.string())), pa.float64())
    values = values.to_numpy(zero_copy_only=False).astype(np.float64)
    return values, missing | ~np.isnan(values)


def _convert(table: pa.Table, source: FileSource, header: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows (time UTC or naive-as-UTC, speeds in m/s), which lines converted cleanly, which times were naive."""
    times, ok, naive = read_times(table[source.time_column])
    return _numeric_columns(table, source, header, times, ok, naive)


def _numeric_columns(table, source, header, times, ok, naive) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Add speed, direction and gust to the times; lines whose numbers do not convert are not ok."""
    n = table.num_rows
    columns = {"time": pd.DatetimeIndex(times).tz_localize("UTC")}
    for name, col in (("wind_speed_ms", source.speed_column), ("wind_dir_deg", source.direction_column),
                      ("wind_gust_ms", source.gust_column)):  # fmt: skip
        if col is None or col not in header:
            columns[name] = np.full(n, np.nan)
            continue
        values, fine = _numbers(table[col])
        ok &= fine
        columns[name] = speed_to_ms(values, source.speed_unit) if name != "wind_dir_deg" else values
    ok &= ~np.isnan(columns["wind_speed_ms"])  # a missing speed is a reject: the line-by-line path words it
    return pd.DataFrame(columns), ok, naive


def _read_lines(payload, source, read_rows, data, header_line, s, e, lines):
    """The line-by-line parser's rows for the given lines, with their line numbers in the whole file."""
    body = "\n".join([header_line] + [data[a:b].decode() for a, b in zip(s, e, strict=True)])
    sub = dataclasses.replace(payload, content=body.encode(), suffix=".csv")
    if len(lines) == 0:
        empty = pd.DataFrame({"time": pd.DatetimeIndex([], tz="UTC"), "wind_speed_ms": [], "wind_dir_deg": [],
                              "wind_gust_ms": []})  # fmt: skip
        return empty, [], [], []
    rows, line_no, raw_text, reason = read_rows(sub, source)
    return rows, [int(lines[k - 2]) + 1 for k in line_no], raw_text, reason


class RowsAsJson(Sequence[str]):
    """Each row of a table as JSON text, built only for the rows asked for (the rejected ones)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i):
        return json.dumps(self.table.iloc[[i]].to_dict(orient="records")[0], default=str)
