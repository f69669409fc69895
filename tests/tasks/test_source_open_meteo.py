"""Open-Meteo archive: request window, API key redaction, JSON parsing with DST-local times and units."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tasks.sources import fetch_payloads, parse_payload
from tasks.sources.base import Payload, SourceError
from tasks.sources.open_meteo import archive_url, fetch_open_meteo, parse_open_meteo, request_dates
from tests.http_server import Reply
from windcast.config import HttpSettings, OpenMeteoSource, Station
from windcast.schemas import REJECT_COLUMNS, SAMPLE_COLUMNS

NOW = pd.Timestamp("2024-01-01", tz="UTC")
SECRET = "Xy9-secret-key"
URL = "http://h/v1/archive?latitude=52.52"


def _source(**kw) -> OpenMeteoSource:
    return OpenMeteoSource(**{"latitude": 52.52, "longitude": 13.42, "start_date": date(2023, 1, 1), **kw})


def _parse(doc: dict | bytes):
    content = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    result = parse_open_meteo(Payload("berlin", "open-meteo", URL, content, ".json", NOW), "raw/berlin/a.json")
    assert result.rows_in == len(result.samples) + len(result.rejects)
    assert list(result.samples.columns) == SAMPLE_COLUMNS
    assert list(result.rejects.columns) == REJECT_COLUMNS
    return result


def _doc(times, speeds, unit="m/s", tz="UTC", offset=0, key="wind_speed_10m", **extra) -> dict:
    hourly = {"time": times, key: speeds, **extra}
    units = {"time": "iso8601", key: unit, **{k: unit for k in extra}}
    return {"utc_offset_seconds": offset, "timezone": tz, "hourly_units": units, "hourly": hourly}


def test_request_dates_overlap_one_day_before_watermark():
    src = _source(end_date=date(2023, 12, 31))
    assert request_dates(src, None, date(2024, 5, 1)) == (date(2023, 1, 1), date(2023, 12, 31))
    since = pd.Timestamp("2023-06-10 23:00", tz="UTC")
    assert request_dates(src, since, date(2024, 5, 1)) == (date(2023, 6, 9), date(2023, 12, 31))
    early = pd.Timestamp("2022-06-10", tz="UTC")
    assert request_dates(_source(), early, date(2024, 5, 1)) == (date(2023, 1, 1), date(2024, 5, 1))


def test_archive_url_has_the_documented_parameters():
    url = archive_url(_source(base_url="https://a.example/"), date(2023, 1, 1), date(2023, 1, 2), "k")
    assert url == (
        "https://a.example/v1/archive?latitude=52.52&longitude=13.42&start_date=2023-01-01&end_date=2023-01-02"
        "&hourly=wind_speed_10m,wind_direction_10m,wind_gusts_10m&wind_speed_unit=ms&timezone=UTC&apikey=k"
    )


def test_berlin_dst_km_h_and_nulls(fixtures_dir):
    result = _parse((fixtures_dir / "open_meteo_berlin_dst.json").read_bytes())
    s = result.samples
    assert list(s["time"]) == [
        pd.Timestamp(t, tz="UTC")
        for t in [
            "2023-03-25 23:00",
            "2023-03-26 00:00",  # CET (+1)
            "2023-10-28 23:00",
            "2023-10-29 00:00",  # CEST (+2), first 02:00
            "2023-10-29 01:00",
            "2023-10-29 02:00",  # CET again, repeated 02:00 then 03:00
        ]
    ]
    assert list(s["wind_speed_ms"]) == [5.0, 10.0, 2.0, 2.5, 3.0, 4.0]
    np.testing.assert_array_equal(s["wind_gust_ms"], [8.0, 15.0, 4.0, np.nan, 5.0, 6.0])
    np.testing.assert_array_equal(s["wind_dir_deg"], [250, 255, 180, 185, 190, np.nan])
    assert result.rejects[["line_no", "reason"]].to_dict("records") == [
        {"line_no": 2, "reason": "parse_error: nonexistent local time"},
        {"line_no": 3, "reason": "missing_wind_speed"},
    ]
    assert json.loads(result.rejects["raw_text"].iloc[1]) == {
        "time": "2023-03-26T03:00",
        "wind_speed_10m": None,
        "wind_direction_10m": 262,
        "wind_gusts_10m": 25.2,
    }
    assert (s["raw_ref"] == "raw/berlin/a.json").all()


def test_knots_mph_and_model_suffix():
    kn = _parse(_doc(["2024-01-01T00:00"], [10.0], unit="kn", key="wind_speed_10m_ecmwf_ifs025"))
    assert kn.samples["wind_speed_ms"].tolist() == [10 * 0.514444]
    mph = _parse(_doc(["2024-01-01T00:00"], [10.0], unit="mp/h", wind_gusts_10m=[20.0]))
    assert mph.samples[["wind_speed_ms", "wind_gust_ms"]].values.tolist() == [[10 * 0.44704, 20 * 0.44704]]


def test_duplicates_and_out_of_order_are_kept():
    times = ["2024-01-01T02:00", "2024-01-01T00:00", "2024-01-01T02:00"]
    result = _parse(_doc(times, [1.0, 2.0, 1.0]))
    assert list(result.samples["time"].dt.hour) == [2, 0, 2]


def test_unknown_zone_falls_back_to_utc_offset():
    result = _parse(_doc(["2024-01-01T00:00"], [1.0], tz="Mars/Olympus", offset=-3600))
    assert result.samples["time"].tolist() == [pd.Timestamp("2024-01-01 01:00", tz="UTC")]


def test_bad_time_is_parse_error():
    result = _parse(_doc(["2024-01-01T00:00", "yesterday"], [1.0, 2.0]))
    assert result.rejects["reason"].tolist() == ["parse_error: bad time 'yesterday'"]
    assert result.rejects["line_no"].tolist() == [1]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty payload (0 bytes)"),
        (b"<html><body>502 Bad Gateway</body></html>", "got an HTML page instead of data"),
        (b'{"latitude": 52.5, "hourly": {"time": ["2024', "payload is not JSON"),
        (
            b'{"error": true, "reason": "Parameter \'start_date\' is out of allowed range"}',
            "Open-Meteo error: Parameter 'start_date' is out of allowed range",
        ),
        (
            json.dumps(_doc(["2024-01-01T00:00"], [1.0, 2.0])).encode(),
            "wind_speed_10m has 2 values, hourly.time has 1",
        ),
        (json.dumps({"hourly": {"time": []}}).encode(), "no 'wind_speed_10m' in hourly"),
        (json.dumps(_doc(["2024-01-01T00:00"], [1.0], unit="furlongs")).encode(), "'furlongs', not a known"),
        (
            json.dumps({**_doc(["2024-01-01T00:00"], [36.0]), "hourly_units": None}).encode(),
            "no 'hourly_units' in the JSON: the speed unit is unknown (m/s or km/h?)",
        ),
        (
            json.dumps({**_doc(["2024-01-01T00:00"], [36.0]), "hourly_units": {"time": "iso8601"}}).encode(),
            "hourly_units gives no unit for 'wind_speed_10m', refusing to guess m/s or km/h",
        ),
    ],
)
def test_unusable_payloads_raise_source_error(content, detail):
    with pytest.raises(SourceError, match=r"^station 'berlin': http://h/v1/archive\?latitude=52\.52: ") as info:
        _parse(content)
    assert detail in str(info.value)


def test_fetch_sends_key_but_never_exposes_it(http_server, fast_http, fixtures_dir):
    body = (fixtures_dir / "open_meteo_berlin_dst.json").read_bytes()
    http_server.route("/v1/archive", Reply(502), Reply(200, body, {"Content-Type": "application/json"}))
    src = _source(base_url=http_server.url, end_date=date(2023, 12, 31))
    since = pd.Timestamp("2023-10-29 02:00", tz="UTC")
    (payload,) = fetch_payloads(Station(id="berlin", source=src), fast_http, since, api_key=SECRET)
    seen = http_server.hits("/v1/archive")[-1].query
    assert seen["apikey"] == [SECRET] and seen["start_date"] == ["2023-10-28"] and seen["end_date"] == ["2023-12-31"]
    assert seen["wind_speed_unit"] == ["ms"] and seen["timezone"] == ["UTC"]
    assert SECRET not in payload.url and payload.url.endswith("&apikey=***")
    assert (payload.source, payload.suffix, payload.content) == ("open-meteo", ".json", body)
    assert parse_payload(payload, src, "raw/berlin/a.json").rows_in == 8


def test_fetch_error_message_redacts_key(http_server, fixtures_dir):
    http = HttpSettings(retries=1, backoff_factor_s=0.01, read_timeout_s=2)
    http_server.route("/v1/archive", Reply(400, b'{"error": true, "reason": "Latitude must be in range"}'))
    with pytest.raises(SourceError) as info:
        fetch_open_meteo(_source(base_url=http_server.url), "berlin", http, None, api_key=SECRET)
    assert SECRET not in str(info.value)
    assert "apikey=***" in str(info.value) and str(info.value).endswith(
        'failed after 1 attempt: 400 Bad Request: {"error": true, "reason": "Latitude must be in range"}'
    )


def test_fetch_nothing_when_window_is_empty(http_server, fast_http):
    src = _source(base_url=http_server.url, end_date=date(2023, 3, 1))
    assert fetch_open_meteo(src, "berlin", fast_http, pd.Timestamp("2023-06-01", tz="UTC")) == []
    assert http_server.requests == []
