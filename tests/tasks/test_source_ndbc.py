"""NDBC realtime2 and historical stdmet: fetch from a local server, parse every layout."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from tasks.sources import fetch_payloads, parse_payload
from tasks.sources.base import Payload, SourceError
from tasks.sources.ndbc import historical_url, parse_ndbc, realtime_url
from tests.http_server import Reply
from windcast.config import NdbcSource, Station
from windcast.schemas import REJECT_COLUMNS, SAMPLE_COLUMNS

NOW = pd.Timestamp("2024-01-01", tz="UTC")


def _payload(content: bytes, source: str = "ndbc-historical", url: str = "http://h/x.txt") -> Payload:
    return Payload("boston", source, url, content, ".txt", NOW)


def _parse(content: bytes, source: str = "ndbc-historical"):
    result = parse_ndbc(_payload(content, source), "raw/boston/x.txt")
    assert result.rows_in == len(result.samples) + len(result.rejects)
    assert list(result.samples.columns) == SAMPLE_COLUMNS
    assert list(result.rejects.columns) == REJECT_COLUMNS
    assert str(result.samples["time"].dtype) == "datetime64[us, UTC]"
    return result


def _utc(*stamps: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s, tz="UTC") for s in stamps]


def test_urls_follow_ndbc_naming():
    src = NdbcSource(station="tplm2", base_url="https://www.ndbc.noaa.gov/")
    assert realtime_url(src) == "https://www.ndbc.noaa.gov/data/realtime2/TPLM2.txt"
    assert historical_url(src, 2022) == "https://www.ndbc.noaa.gov/data/historical/stdmet/tplm2h2022.txt.gz"


def test_realtime_newest_first_with_mm(fixtures_dir):
    result = _parse((fixtures_dir / "ndbc_44013_realtime2.txt").read_bytes(), "ndbc-realtime")
    samples, rejects = result.samples, result.rejects
    assert result.rows_in == 10 and len(samples) == 9
    assert list(samples["time"][:3]) == _utc("2022-06-04 13:30", "2022-06-04 13:20", "2022-06-04 13:10")
    assert samples["wind_speed_ms"].iloc[0] == 1.0 and samples["wind_gust_ms"].iloc[0] == 2.0
    assert samples["wind_dir_deg"].iloc[0] == 280.0
    calm = samples[samples["time"] == pd.Timestamp("2022-06-04 13:00", tz="UTC")].iloc[0]
    assert calm["wind_speed_ms"] == 0.0 and np.isnan(calm["wind_dir_deg"])
    assert rejects.to_dict("records") == [
        {
            "station_id": "boston",
            "raw_ref": "raw/boston/x.txt",
            "line_no": 8,
            "raw_text": "2022 06 04 12 40  MM   MM   MM   0.4     5    MM  MM     MM    MM  14.1    MM   MM   MM    MM",
            "reason": "missing_wind_speed",
        }
    ]
    assert (samples["station_id"] == "boston").all() and (samples["raw_ref"] == "raw/boston/x.txt").all()


def test_historical_sentinels_duplicates_and_order(fixtures_dir):
    result = _parse(gzip.compress((fixtures_dir / "ndbc_tplm2h2022.txt").read_bytes()))
    samples = result.samples
    assert result.rows_in == 13 and len(samples) == 12
    assert list(result.rejects["reason"]) == ["missing_wind_speed"]
    assert list(result.rejects["line_no"]) == [6]
    five = samples[samples["time"] == pd.Timestamp("2022-01-01 05:00", tz="UTC")].iloc[0]
    assert five["wind_speed_ms"] == 5.0 and np.isnan(five["wind_dir_deg"]) and np.isnan(five["wind_gust_ms"])
    # the repeated 08:00 row after 09:00 is kept as is: dedup and sort happen downstream
    eight = pd.Timestamp("2022-01-01 08:00", tz="UTC")
    assert (samples["time"] == eight).sum() == 2
    assert list(samples["time"].iloc[-4:]) == _utc(
        "2022-01-01 09:00", "2022-01-01 08:00", "2022-01-01 10:00", "2022-01-01 11:00"
    )


def test_old_layout_two_digit_year_without_minutes(fixtures_dir):
    result = _parse(gzip.compress((fixtures_dir / "ndbc_old_1995.txt").read_bytes()))
    assert result.rows_in == 5 and len(result.samples) == 4
    assert list(result.samples["time"]) == _utc(
        "1995-01-01 00:00", "1995-01-01 01:00", "1995-01-01 03:00", "1995-01-01 04:00"
    )
    assert list(result.samples["wind_dir_deg"]) == [230.0, 240.0, 250.0, 260.0]
    assert np.isnan(result.samples["wind_gust_ms"].iloc[2])
    assert list(result.rejects["line_no"]) == [4]


def test_old_layout_hh50_stamps_kept_as_is(fixtures_dir):
    result = _parse((fixtures_dir / "ndbc_old_2005.txt").read_bytes())  # plain text also parses
    assert list(result.samples["time"]) == _utc(
        "2005-01-01 00:50", "2005-01-01 01:50", "2005-01-01 02:50", "2005-01-01 03:50"
    )
    assert list(result.samples["wind_speed_ms"]) == [6.1, 6.4, 7.0, 7.2]
    last = result.samples.iloc[3]
    assert np.isnan(last["wind_dir_deg"]) and np.isnan(last["wind_gust_ms"])


def test_truncated_last_line_is_one_parse_error(fixtures_dir):
    text = (fixtures_dir / "ndbc_tplm2h2022.txt").read_text().rstrip("\n")
    last = text.splitlines()[-1]
    # last line cut in half: "2022 01 01 11 00 159  4.2  4.8 99.00 99.00 9"
    cut = text[: len(text) - len(last) // 2]
    result = _parse(cut.encode())
    assert result.rows_in == 13
    bad = result.rejects[result.rejects["reason"].str.startswith("parse_error")]
    assert bad.to_dict("records")[0]["reason"] == "parse_error: expected 18 fields, got 11"
    assert bad.to_dict("records")[0]["raw_text"] == last[: len(last) - len(last) // 2]
    assert list(bad["line_no"]) == [15]


def test_bad_date_and_non_numeric_are_parse_errors():
    text = (
        "#YY  MM DD hh mm WDIR WSPD GST\n#yr  mo dy hr mn degT m/s  m/s\n"
        "2022 02 30 00 00 100  5.0  6.0\n2022 01 01 00 10 100  x.y  6.0\n2022 01 01 00 20 100  5.0  6.0\n"
    )
    result = _parse(text.encode())
    assert list(result.rejects["reason"]) == ["parse_error: bad date", "parse_error: non-numeric speed 'x.y'"]
    assert len(result.samples) == 1


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty payload (0 bytes)"),
        (b"  \n\n", "empty payload (4 bytes)"),
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "got an HTML page instead of data"),
        (b"#YY MM DD hh mm WDIR GST\n#yr mo dy hr mn degT m/s\n2022 01 01 00 00 1 2\n", "missing required"),
        (b"\x1f\x8b\x08garbage", "corrupt gzip data"),
    ],
)
def test_unusable_payloads_raise_source_error(content, detail):
    with pytest.raises(SourceError, match=r"^station 'boston': http://h/x\.txt: ") as info:
        parse_ndbc(_payload(content), "raw/x")
    assert detail in str(info.value)


def test_fetch_realtime_and_years_since_watermark(http_server, fast_http, fixtures_dir):
    modern = gzip.compress((fixtures_dir / "ndbc_tplm2h2022.txt").read_bytes())
    http_server.route("/data/historical/stdmet/tplm2h2022.txt.gz", Reply(200, modern))
    http_server.route("/data/historical/stdmet/tplm2h2021.txt.gz", Reply(200, modern))
    http_server.route("/data/realtime2/TPLM2.txt", Reply(500), Reply(200, b"#YY MM DD hh mm WSPD\n"))
    source = NdbcSource(station="tplm2", historical_years=[2021, 2022], base_url=http_server.url)
    station = Station(id="thomas-point", source=source)
    payloads = fetch_payloads(station, fast_http, since=pd.Timestamp("2022-03-01", tz="UTC"))
    assert [(p.source, p.suffix) for p in payloads] == [
        ("ndbc-historical", ".txt.gz"),
        ("ndbc-realtime", ".txt"),
    ]
    assert payloads[0].url == f"{http_server.url}/data/historical/stdmet/tplm2h2022.txt.gz"
    assert payloads[0].content == modern  # kept as received: gz bytes stay gz
    assert http_server.hits("/data/historical/stdmet/tplm2h2021.txt.gz") == []
    result = parse_payload(payloads[0], source, "raw/thomas-point/a.txt.gz")
    assert result.rows_in == 13 and set(result.samples["station_id"]) == {"thomas-point"}


def test_fetch_missing_year_404_names_station(http_server, fast_http):
    source = NdbcSource(station="44013", realtime=False, historical_years=[1990], base_url=http_server.url)
    with pytest.raises(SourceError) as info:
        fetch_payloads(Station(id="boston", source=source), fast_http, since=None)
    assert str(info.value) == (
        f"station 'boston': GET {http_server.url}/data/historical/stdmet/44013h1990.txt.gz "
        "failed after 1 attempt: 404 Not Found"
    )


def test_a_missing_year_is_reported_and_the_rest_ingested(http_server, fast_http, fixtures_dir, caplog):
    modern = gzip.compress((fixtures_dir / "ndbc_tplm2h2022.txt").read_bytes())
    http_server.route("/data/historical/stdmet/tplm2h2022.txt.gz", Reply(200, modern))
    http_server.route("/data/realtime2/TPLM2.txt", Reply(200, b"#YY MM DD hh mm WSPD\n"))
    source = NdbcSource(station="tplm2", historical_years=[2021, 2022], base_url=http_server.url)
    with caplog.at_level("WARNING", logger="tasks.sources.ndbc"):
        payloads = fetch_payloads(Station(id="thomas-point", source=source), fast_http, since=None)
    assert [p.url.rsplit("/", 1)[-1] for p in payloads] == ["tplm2h2022.txt.gz", "TPLM2.txt"]
    assert caplog.messages == [
        "station 'thomas-point': NDBC has no historical file for 2021 (404); ingesting the 2 file(s) that exist"
    ]
