"""The pyarrow fast path for file CSVs gives exactly what the line-by-line parser gives, bad lines included."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tasks.sources.base import build_result
from tasks.sources.columnar import _header_bounds, _parse_clean_file, parse_csv_columnar
from tasks.sources.csv_times import TIME_PATTERN, cast_one_format
from tasks.sources.file import parse_file, read_file_source, read_rows
from windcast.config import FileSource

HEADER = "time,wind_speed_ms,wind_dir_deg,wind_gust_ms"
GOOD = [
    "2021-01-01T00:00:00Z,5.0,180,7.1",
    "2021-01-01T01:00:00+00:00, 5.5 ,190,",
    "2021-01-01 02:00:00,6,NA,8",
    "2021-01-01T09:00:00Z,1e1,NaN,none",
    "2021-01-01T11:00:00-05:30,7,1,1",
]
BAD = {  # line text -> why the fast path hands it over
    "2021-01-01T03:00:00+0100,abc,10,2": "not a number",
    "2021-02-30T00:00:00Z,5,1,1": "not a date",
    "2021-01-01T04:00:00Z,,1,1": "missing speed",
    "2021-01-01T05:00:00Z,5,1": "3 fields",
    '"2021-01-01T06:00:00Z",4,1,1': "quoted (kept by the line parser)",
    "2021-01-01T07:00:00.5Z,4,1,1": "fractional seconds (kept by the line parser)",
    "2021-01-01T08:00:00Z,4,1,1,9": "5 fields",
    "2021-01-01T23:59:60Z,7,1,1": "leap second",
    "2021-01-01T12:00:00Z,7,+nan,1": "a NaN that is no missing token",
}
LINES = ["", HEADER, *GOOD[:3], *list(BAD)[:4], "", *GOOD[3:], "   ", *list(BAD)[4:], "2021-01-01T13:00:00Z,8,2,3"]


def _payload(tmp_path: Path, text: str, name: str = "f.csv", **mapping):
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    source = FileSource(path=path, **mapping)
    (payload,) = read_file_source(source, "s1")
    return payload, source


def _assert_same(payload, source) -> None:
    fast = parse_file(payload, source, "raw/s1/f")
    slow = build_result("s1", "raw/s1/f", *read_rows(payload, source))
    pd.testing.assert_frame_equal(fast.samples, slow.samples)
    pd.testing.assert_frame_equal(fast.rejects, slow.rejects)
    assert fast.rows_in == slow.rows_in


@pytest.mark.parametrize("newline, name", [("\n", "f.csv"), ("\r\n", "f.csv"), ("\n", "f.csv.gz")])
def test_fast_path_and_fallback_give_identical_rows_rejects_and_line_numbers(tmp_path, newline, name):
    payload, source = _payload(tmp_path, newline.join(LINES) + newline, name)
    handed_over = []

    def recording_read_rows(sub, src):
        out = read_rows(sub, src)
        handed_over.extend(out[2])  # raw texts of the lines the fast path could not take
        return out

    fast = parse_csv_columnar(payload, source, "raw/s1/f", recording_read_rows)
    slow = build_result("s1", "raw/s1/f", *read_rows(payload, source))
    assert handed_over == list(BAD)  # only the bad lines fell back, in file order
    pd.testing.assert_frame_equal(fast.samples, slow.samples)
    pd.testing.assert_frame_equal(fast.rejects, slow.rejects)
    assert (fast.rows_in, len(fast.samples)) == (slow.rows_in, len(GOOD) + 1 + 2)
    assert fast.rejects["line_no"].tolist() == [6, 7, 8, 9, 16, 17, 18]
    kept = ("quoted (kept by the line parser)", "fractional seconds (kept by the line parser)")
    assert fast.rejects["raw_text"].tolist() == [t for t, why in BAD.items() if why not in kept]
    assert fast.rejects["reason"].iloc[3] == "parse_error: expected 4 fields, got 3"


def test_local_times_in_a_dst_zone_are_localised_like_the_line_parser(tmp_path):
    text = "time;spd\n2021-10-31 01:30:00;4\n2021-10-31 02:30:00;5\n2021-10-31 02:30:00;6\n2021-10-31 03:00:00;5\n"
    payload, source = _payload(tmp_path, text, timezone="Europe/Berlin", speed_column="spd", csv_separator=";")
    assert parse_csv_columnar(payload, source, "r", read_rows) is not None  # clean: the fast path took it
    _assert_same(payload, source)
    # a bad line in a DST zone: the fall-back hour is inferred from the day's rows, so all go line by line
    payload, source = _payload(tmp_path, text + "2021-10-31 04:00:00;x\n", timezone="Europe/Berlin",
                               speed_column="spd", csv_separator=";")  # fmt: skip
    assert parse_csv_columnar(payload, source, "r", read_rows) is None
    _assert_same(payload, source)


def test_files_the_fast_path_leaves_to_the_line_parser(tmp_path):
    text = "\n".join([HEADER, *GOOD]) + "\n"
    for mapping in ({"timestamp_at": "end"}, {"time_format": "%Y-%m-%dT%H:%M:%S%z"}):
        payload, source = _payload(tmp_path, text, **mapping)
        assert parse_csv_columnar(payload, source, "r", read_rows) is None
    payload, source = _payload(tmp_path, text.replace("\n", "\r", 1))  # a lone CR splits lines for str.splitlines
    assert parse_csv_columnar(payload, source, "r", read_rows) is None
    _assert_same(payload, source)


@pytest.mark.parametrize(
    "times",
    [
        ["2021-01-01T00:00:00Z", "2021-01-01 01:00:00+00:00", "2021-01-01T02:00:00+0130", "2021-01-01T03:00:00-05:30"],
        ["2021-01-01T00:00:00", "2021-01-01 01:00:00"],  # wall-clock times in the source's zone (UTC)
        ["2021-01-01T00:00:00", "2021-01-01T01:00:00Z"],  # both kinds in one file
    ],
)
def test_clean_files_go_through_pyarrow_alone(tmp_path, times):
    text = "\n".join([HEADER] + [f"{t},{4 + i},{10 * i},{6 + i}" for i, t in enumerate(times)]) + "\n"
    payload, source = _payload(tmp_path, text)

    def no_fallback(sub, src):
        raise AssertionError("a clean line fell back to the line parser")

    fast = parse_csv_columnar(payload, source, "raw/s1/f", no_fallback)
    slow = build_result("s1", "raw/s1/f", *read_rows(payload, source))
    pd.testing.assert_frame_equal(fast.samples, slow.samples)
    assert fast.rows_in == len(fast.samples) == len(times) and fast.rejects.empty


@pytest.mark.parametrize("bad", [line for line, why in BAD.items() if not why.startswith("quoted")] + [""])
def test_one_bad_line_turns_the_typed_read_down_and_the_general_path_finds_it(tmp_path, bad):
    text = "\n".join([HEADER, GOOD[0], GOOD[2], bad, GOOD[4]]) + "\n"  # no quote: the typed read is tried first
    payload, source = _payload(tmp_path, text)
    data = payload.content
    assert _parse_clean_file(data, _header_bounds(data), HEADER.split(","), source, "s1", "r") is None
    _assert_same(payload, source)


def test_the_typed_read_takes_missing_tokens_in_any_case_padded_numbers_and_units(tmp_path):
    lines = ["2021-01-01T00:00:00Z, 5.5 ,NA,", "2021-01-01T01:00:00Z,6,nOnE,Null", "2021-01-01T02:00:00Z,1e1,.5,7."]
    text = "\r\n".join(["", "spd;time;dir;gust;other", *[_reorder(x) for x in lines]]) + "\r\n"
    mapping = {"speed_column": "spd", "direction_column": "dir", "gust_column": "gust", "csv_separator": ";",
               "speed_unit": "kn"}  # fmt: skip
    payload, source = _payload(tmp_path, text, **mapping)
    header = ["spd", "time", "dir", "gust", "other"]
    clean = _parse_clean_file(payload.content, _header_bounds(payload.content), header, source, "s1", "raw/s1/f")
    slow = build_result("s1", "raw/s1/f", *read_rows(payload, source))
    assert clean is not None and clean.rows_in == 3 and clean.rejects.empty
    pd.testing.assert_frame_equal(clean.samples, slow.samples)
    pd.testing.assert_frame_equal(clean.rejects, slow.rejects)


def _reorder(line: str) -> str:
    time, speed, direction, gust = line.split(",")
    return ";".join([speed, time, direction, gust, "x"])


def test_one_format_time_cast_takes_exactly_what_the_time_regex_takes():
    rng = np.random.default_rng(0)
    stamps = ["2021-03-04T05:06:07", "2021-03-04 05:06:07Z", "2021-03-04T05:06:07+1400", "2021-03-04T05:06:07-05:30"]
    alphabet = list("0123456789-: TZ+.a") + ["9", "1", "3"]
    cases = list(stamps)
    for _ in range(1500):
        chars = list(stamps[rng.integers(len(stamps))])
        for pos in rng.choice(len(chars), size=rng.integers(1, 3), replace=False):
            chars[pos] = alphabet[rng.integers(len(alphabet))]
        cases.append("".join(chars))
    taken = 0
    for text in cases:
        got = cast_one_format(pa.chunked_array([pa.array([text])]))
        matches = re.match(TIME_PATTERN.replace(r"\d", "[0-9]"), text) is not None
        try:
            stamp = pd.Timestamp(text)
        except ValueError:
            stamp = None
        real = matches and stamp is not None and stamp.second == int(text[17:19]) and stamp.day == int(text[8:10])
        if got is None:
            assert not real or len(text) not in (19, 20, 24, 25), text  # a stamp in one of the layouts is taken
            continue
        taken += 1
        expected = stamp.tz_convert("UTC").tz_localize(None) if stamp.tz is not None else stamp
        assert real and got[0][0] == expected.to_datetime64() and got[2][0] == (stamp.tz is None), text
    assert 150 < taken < len(cases)  # both verdicts occur
