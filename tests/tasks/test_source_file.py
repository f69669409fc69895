"""File source: CSV / CSV.gz / Parquet with a column mapping, local times with DST, units, end stamps."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.sources import fetch_payloads, parse_payload
from tasks.sources.base import SourceError
from tasks.sources.file import read_file_source
from windcast.config import FileSource, HttpSettings, Station
from windcast.schemas import REJECT_COLUMNS, SAMPLE_COLUMNS


def _utc(*stamps: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s, tz="UTC") for s in stamps]


def _parse(source: FileSource, station_id: str = "mast1"):
    (payload,) = read_file_source(source, station_id)
    result = parse_payload(payload, source, "raw/mast1/f")
    assert result.rows_in == len(result.samples) + len(result.rejects)
    assert list(result.samples.columns) == SAMPLE_COLUMNS
    assert list(result.rejects.columns) == REJECT_COLUMNS
    assert str(result.samples["time"].dtype) == "datetime64[us, UTC]"
    return result


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_canonical_csv_with_default_mapping(fixtures_dir):
    result = _parse(FileSource(path=fixtures_dir / "canonical.csv"))
    s = result.samples
    assert result.rows_in == 7
    # offsets converted to UTC; the duplicate and the out-of-order 11:00 row are kept
    assert list(s["time"]) == _utc(
        "2024-01-15 10:00", "2024-01-15 10:00", "2024-01-15 11:00", "2024-01-15 12:00", "2024-01-15 11:00"
    )
    assert list(s["wind_speed_ms"]) == [5.2, 5.4, 6.0, 6.3, 6.0]
    np.testing.assert_array_equal(s["wind_dir_deg"], [270, 275, 280, np.nan, 280])
    np.testing.assert_array_equal(s["wind_gust_ms"], [7.1, 7.6, np.nan, 8.8, np.nan])
    assert result.rejects.drop(columns=["station_id", "raw_ref"]).to_dict("records") == [
        {
            "line_no": 7,
            "raw_text": "2024-01-15T13:00:00Z,abc,290,9.0",
            "reason": "parse_error: non-numeric wind_speed_ms 'abc'",
        },
        {"line_no": 8, "raw_text": "2024-01-15T14:00:00Z,NaN,295,9.5", "reason": "missing_wind_speed"},
    ]


def test_scada_local_end_stamps_km_h_across_fall_back(fixtures_dir):
    source = FileSource(
        path=fixtures_dir / "scada_berlin_end.csv",
        csv_separator=";",
        time_column="Zeit",
        time_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
        timestamp_at="end",
        speed_column="WS",
        speed_unit="km/h",
        direction_column="WD",
        gust_column="Gust",
    )
    result = _parse(source)
    s = result.samples
    # end stamps 01:30 CEST .. 03:00 CET, 30 min apart -> interval starts in UTC
    assert list(s["time"]) == _utc(
        "2023-10-28 23:00",
        "2023-10-28 23:30",
        "2023-10-29 00:00",
        "2023-10-29 00:30",
        "2023-10-29 01:30",
        "2023-10-29 01:30",
    )
    assert list(s["wind_speed_ms"]) == [5.0, 10.0, 8.0, 6.0, 4.0, 4.0]
    np.testing.assert_array_equal(s["wind_gust_ms"], [7.0, 12.0, np.nan, 8.0, 6.0, 6.0])
    np.testing.assert_array_equal(s["wind_dir_deg"], [200, 205, 210, 215, np.nan, np.nan])
    assert result.rejects[["line_no", "raw_text", "reason"]].to_dict("records") == [
        {"line_no": 6, "raw_text": "29.10.2023 02:30;;220;30.6", "reason": "missing_wind_speed"}
    ]


def test_nonexistent_and_unorderable_ambiguous_local_times(tmp_path):
    csv = _write(
        tmp_path / "local.csv",
        "time,speed\n2023-03-26T01:30:00,1.0\n2023-03-26T02:30:00,2.0\n2023-03-26 03:30,3.0\n2023-10-29T02:30:00,4.0\n",
    )
    source = FileSource(
        path=csv, timezone="Europe/Berlin", speed_column="speed", direction_column=None, gust_column=None
    )
    result = _parse(source)
    assert list(result.samples["time"]) == _utc("2023-03-26 00:30", "2023-03-26 01:30")
    assert result.rejects[["line_no", "reason"]].to_dict("records") == [
        {"line_no": 3, "reason": "parse_error: nonexistent local time"},
        {"line_no": 5, "reason": "parse_error: ambiguous local time"},
    ]


def test_csv_gz_keeps_gz_bytes_and_parses(tmp_path, fixtures_dir):
    gz = gzip.compress((fixtures_dir / "canonical.csv").read_bytes())
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gz)
    (payload,) = read_file_source(FileSource(path=path), "mast1")
    assert (payload.source, payload.url, payload.suffix, payload.content) == (
        "file",
        str(path),
        ".csv.gz",
        gz,
    )
    assert _parse(FileSource(path=path)).rows_in == 7


def test_parquet_naive_local_times_in_knots(tmp_path):
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-07-01 00:00", "2024-07-01 00:10", "2024-07-01 00:20"]),
            "ws_kn": [10.0, np.nan, 20.0],
        }
    )
    frame.to_parquet(tmp_path / "logger.parquet")
    source = FileSource(
        path=tmp_path / "logger.parquet",
        time_column="ts",
        timezone="America/New_York",
        speed_column="ws_kn",
        speed_unit="kn",
        direction_column=None,
        gust_column=None,
    )
    result = _parse(source)
    assert list(result.samples["time"]) == _utc("2024-07-01 04:00", "2024-07-01 04:20")
    assert list(result.samples["wind_speed_ms"]) == [10 * 0.514444, 20 * 0.514444]
    assert result.rejects[["line_no", "reason"]].to_dict("records") == [{"line_no": 1, "reason": "missing_wind_speed"}]


def test_parquet_aware_times_and_tenths_of_m_s(tmp_path):
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 02:00"]).tz_localize("Europe/Paris"),
            "wind_speed_ms": [52, 61],
        }
    )
    frame.to_parquet(tmp_path / "a.parquet")
    result = _parse(FileSource(path=tmp_path / "a.parquet", speed_unit="0.1 m/s"))
    assert list(result.samples["time"]) == _utc("2024-01-01 00:00", "2024-01-01 01:00")
    assert list(result.samples["wind_speed_ms"]) == [5.2, 6.1]
    assert result.samples["wind_dir_deg"].isna().all()  # canonical optional columns may be absent


def test_mph_and_iso_without_offset_in_utc(tmp_path):
    csv = _write(tmp_path / "m.csv", "time,wind_speed_ms\n2024-01-01 00:00,10\n")
    result = _parse(FileSource(path=csv, speed_unit="mph"))
    assert result.samples[["time", "wind_speed_ms"]].values.tolist() == [[pd.Timestamp("2024-01-01", tz="UTC"), 4.4704]]


def test_header_only_csv_gives_no_rows(tmp_path):
    result = _parse(FileSource(path=_write(tmp_path / "h.csv", "time,wind_speed_ms\n")))
    assert (result.rows_in, len(result.samples), len(result.rejects)) == (0, 0, 0)


def test_truncated_last_line_is_one_parse_error(tmp_path, fixtures_dir):
    text = (fixtures_dir / "canonical.csv").read_text() + "2024-01-15T15:00"
    result = _parse(FileSource(path=_write(tmp_path / "t.csv", text)))
    assert result.rows_in == 8
    assert result.rejects[["line_no", "reason"]].to_dict("records")[-1] == {
        "line_no": 9,
        "reason": "parse_error: expected 4 fields, got 1",
    }


def test_bad_time_is_parse_error(tmp_path):
    csv = _write(tmp_path / "b.csv", "time,wind_speed_ms\n2024-13-01T00:00Z,1\n2024-01-01T00:00Z,2\n")
    result = _parse(FileSource(path=csv))
    assert result.rejects["reason"].tolist() == ["parse_error: bad time '2024-13-01T00:00Z'"]


def test_missing_column_names_column_and_columns_present(fixtures_dir):
    path = fixtures_dir / "canonical.csv"
    with pytest.raises(SourceError) as info:
        _parse(FileSource(path=path, speed_column="ws"))
    assert str(info.value) == (
        f"station 'mast1': {path}: missing column 'ws'; "
        "columns present: ['time', 'wind_speed_ms', 'wind_dir_deg', 'wind_gust_ms']"
    )
    with pytest.raises(SourceError, match="missing column 'Gust'"):
        _parse(FileSource(path=path, gust_column="Gust"))


@pytest.mark.parametrize(
    ("text", "detail"),
    [("", "empty payload (0 bytes)"), ("<!DOCTYPE html>\n<html></html>", "got an HTML page instead of data")],
)
def test_unusable_files_raise_source_error(tmp_path, text, detail):
    path = _write(tmp_path / "x.csv", text)
    with pytest.raises(SourceError, match=re.escape(f"station 'mast1': {path}: {detail}")):
        _parse(FileSource(path=path))


def test_end_stamps_need_two_times(tmp_path):
    path = _write(tmp_path / "one.csv", "time,wind_speed_ms\n2024-01-01T00:00Z,1\n")
    with pytest.raises(SourceError, match="timestamp_at='end' needs >= 2 distinct times"):
        _parse(FileSource(path=path, timestamp_at="end"))


def test_fetch_payloads_reads_the_whole_file(fixtures_dir, tmp_path):
    station = Station(id="mast1", source=FileSource(path=fixtures_dir / "canonical.csv"))
    (payload,) = fetch_payloads(station, HttpSettings(), since=pd.Timestamp("2030-01-01", tz="UTC"))
    assert payload.content == (fixtures_dir / "canonical.csv").read_bytes()
    missing = Station(id="mast1", source=FileSource(path=tmp_path / "nope.csv"))
    with pytest.raises(SourceError, match=re.escape(f"station 'mast1': {tmp_path / 'nope.csv'}: cannot read the file")):
        fetch_payloads(missing, HttpSettings(), since=None)


def test_only_row_truncated_gives_one_reject(tmp_path):
    result = _parse(FileSource(path=_write(tmp_path / "t.csv", "time,wind_speed_ms\n2024-01-01T0")))
    assert (result.rows_in, len(result.samples)) == (1, 0)
    assert result.rejects["reason"].tolist() == ["parse_error: expected 2 fields, got 1"]


def test_one_unresolvable_fall_back_day_spoils_no_other(tmp_path):
    rows = ["2022-10-30 01:30", "2022-10-30 02:30", "2022-10-30 02:30", "2022-10-30 03:30"]  # resolvable
    rows += ["2023-10-29 02:30", "2023-10-29 03:30"]  # one 02:30 only: which one is it?
    text = "time,wind_speed_ms\n" + "".join(f"{t},{i}\n" for i, t in enumerate(rows))
    source = FileSource(path=_write(tmp_path / "d.csv", text), timezone="Europe/Berlin")
    result = _parse(source)
    assert list(result.samples["time"]) == _utc(
        "2022-10-29 23:30", "2022-10-30 00:30", "2022-10-30 01:30", "2022-10-30 02:30", "2023-10-29 02:30"
    )
    assert result.rejects[["line_no", "reason"]].to_dict("records") == [
        {"line_no": 6, "reason": "parse_error: ambiguous local time"}
    ]
