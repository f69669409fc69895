"""Impossible values never reach measurements/ and errors stay short: samples checked before resampling,
bad types refused, failures summarised. Small hand-made files; the row ledger asserted in every test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks import store as st
from tasks.ingest import DataQualityError, curate_station, ingest_station
from tasks.sources.base import SourceError
from windcast.config import PipelineConfig

HEADER = "time,wind_speed_ms,wind_dir_deg,wind_gust_ms\n"


def _config(tmp_path, text: str | None = None, name: str = "station.csv", **source) -> PipelineConfig:
    if text is not None:
        (tmp_path / name).write_text(text)
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "stations": [{"id": "s1", "source": {"kind": "file", "path": str(tmp_path / name), **source}}],
            "quality": {"max_failed_fraction": 0.5},
        }
    )


def _hourly(rows: list[tuple[float, float, float]], start: str = "2024-03-01") -> str:
    times = pd.date_range(start, periods=len(rows), freq="h", tz="UTC")
    return HEADER + "".join(f"{t.isoformat()},{s},{d},{g}\n" for t, (s, d, g) in zip(times, rows, strict=True))


def _ledger(curation) -> None:
    assert curation.rows_parsed == curation.rows_curated + curation.rows_quarantined + curation.rows_duplicate


def test_out_of_range_directions_are_rejected_never_wrapped(tmp_path):
    directions = [10, 400, 20, -30, 30, 361, 40, 720, 50, 360]
    rows = [(5.0 + 0.3 * i, d, 9.0 + 0.3 * i) for i, d in enumerate(directions)]
    config = _config(tmp_path, _hourly(rows))
    curation = curate_station(config, config.stations[0], _raw_refs(config))
    _ledger(curation)
    assert curation.quarantine_by_reason == {"direction_range": 4}
    rejected = curation.quarantined.set_index("reason")
    assert sorted(rejected.loc["direction_range", "wind_dir_deg"]) == [-30.0, 361.0, 400.0, 720.0]
    assert set(rejected["stage"]) == {"range"}
    assert sorted(curation.curated["wind_dir_deg"].round(6)) == [10.0, 20.0, 30.0, 40.0, 50.0, 360.0]


def test_impossible_samples_are_rejected_before_the_mean_and_the_interval_kept(tmp_path):
    # 10-min samples. Hour 0: one -20 among six; hour 1: -8 and -3 among six; hour 2: four of six impossible.
    speeds = [4, 5, -20, 6, 5, 4] + [2, -8, 3, -3, 2, 3] + [-1, -2, 6, -3, 80, 7]
    times = pd.date_range("2024-03-01", periods=len(speeds), freq="10min", tz="UTC")
    text = HEADER + "".join(f"{t.isoformat()},{s},180,\n" for t, s in zip(times, speeds, strict=True))
    config = _config(tmp_path, text)
    curation = curate_station(config, config.stations[0], _raw_refs(config))
    _ledger(curation)
    assert curation.rows_parsed == 18
    assert curation.quarantine_by_reason == {"speed_range": 7, "too_few_samples": 2}
    curated = curation.curated.set_index(curation.curated["time"].dt.hour)
    assert curated["n_samples"].to_dict() == {0: 5, 1: 4}
    assert curated["wind_speed_ms"].to_dict() == {0: pytest.approx(4.8), 1: pytest.approx(2.5)}


def test_implausible_and_infinite_gusts_are_rejected(tmp_path):
    rows = [(5.0, 180, 7.0), (5.5, 185, 1e6), (6.0, 190, float("inf")), (6.5, 195, 8.0), (7.0, 200, -1.0)]
    config = _config(tmp_path, _hourly(rows))
    curation = curate_station(config, config.stations[0], _raw_refs(config))
    _ledger(curation)
    assert curation.quarantine_by_reason == {"gust_range": 3}
    assert curation.curated["wind_gust_ms"].max() == 8.0


def test_infinite_speed_is_rejected(tmp_path):
    rows = [(5.0, 180, 7.0), (float("inf"), 185, 8.0), (6.0, 190, 8.0)]
    config = _config(tmp_path, _hourly(rows))
    curation = curate_station(config, config.stations[0], _raw_refs(config))
    _ledger(curation)
    assert curation.quarantine_by_reason == {"speed_range": 1}


def test_a_boolean_direction_column_is_refused(tmp_path):
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-03-01", periods=4, freq="h", tz="UTC"),
            "wind_speed_ms": [5.0, 6.0, 7.0, 6.0],
            "wind_dir_deg": [True, False, True, True],
        }
    )
    frame.to_parquet(tmp_path / "station.parquet")
    config = _config(tmp_path, name="station.parquet")
    with pytest.raises(SourceError, match=r"column 'wind_dir_deg' holds booleans \(True/False\), not numbers"):
        curate_station(config, config.stations[0], _raw_refs(config))


def test_a_wrong_time_format_gives_a_short_error_with_counts_and_examples(tmp_path):
    n = 3000
    times = pd.date_range("2024-03-01", periods=n, freq="h")
    rows = "".join(f"{t:%d/%m/%Y %H:%M},{5 + (i % 7) * 0.5},180,9\n" for i, t in enumerate(times))
    config = _config(tmp_path, HEADER + rows, time_format="%Y-%m-%d %H:%M")
    with pytest.raises(DataQualityError) as caught:
        ingest_station(config, config.stations[0])
    message = str(caught.value)
    assert len(message) < 800
    assert "parse_error: bad time: 3,000 rows (e.g. line 2: '01/03/2024 00:00,5.0,180,9'" in message
    quarantined = st.read_quarantine(st.Store(config.data_dir), "s1")
    assert len(quarantined) == n  # every row kept, with its own value in the reason
    assert quarantined["reason"].iloc[0] == "parse_error: bad time '01/03/2024 00:00'"


def _raw_refs(config: PipelineConfig) -> list[str]:
    from tasks.ingest import fetch_to_raw

    return fetch_to_raw(config, config.stations[0])


def test_rejected_samples_reach_the_quarantine_dataset(tmp_path):
    rows = [(5.0, 180, 7.0), (5.5, 400, 7.5), (6.0, 190, 8.0), (-2.0, 190, 8.0)]
    config = _config(tmp_path, _hourly(rows))
    report = ingest_station(config, config.stations[0])
    assert report.rows_parsed == report.rows_curated + report.rows_quarantined + report.rows_duplicate
    quarantined = st.read_quarantine(st.Store(config.data_dir), "s1")
    assert sorted(quarantined["reason"]) == ["direction_range", "speed_range"]
    measurements = st.read_measurements(st.Store(config.data_dir), "s1")
    assert np.isin(measurements["wind_dir_deg"], [180.0, 190.0]).all()


LATIN_CSV = "Zeit;Windstärke;Richtung\n2024-03-01T00:00Z;5,0;180\n2024-03-01T01:00Z;6,0;190\n".replace(",", ".")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (LATIN_CSV.encode("latin-1"), "latin-1"),
        (b"\xff\xfe" + LATIN_CSV.encode("utf-16-le"), None),  # UTF-16 with its byte-order mark
        (b"\xef\xbb\xbf" + LATIN_CSV.encode("utf-8"), None),  # Excel's UTF-8 with a BOM
    ],
)
def test_exports_in_other_encodings_are_read(tmp_path, data, encoding):
    (tmp_path / "station.csv").write_bytes(data)
    mapping = {"time_column": "Zeit", "speed_column": "Windstärke", "direction_column": "Richtung"}
    config = _config(tmp_path, csv_separator=";", gust_column=None, encoding=encoding, **mapping)
    curation = curate_station(config, config.stations[0], _raw_refs(config))
    _ledger(curation)
    assert curation.curated["wind_speed_ms"].tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (
            LATIN_CSV.encode("latin-1"),
            "cannot decode the file as utf-8 (byte 11: b'\\xe4'), so set the source's `encoding`",
        ),
        (
            LATIN_CSV.encode("utf-16-le"),
            "holds NUL bytes, which utf-8 text never does: likely UTF-16 without a byte-order mark",
        ),
    ],
)
def test_a_wrong_encoding_is_named_not_reported_as_a_missing_column(tmp_path, data, detail):
    (tmp_path / "station.csv").write_bytes(data)
    config = _config(tmp_path, csv_separator=";", time_column="Zeit", speed_column="Windstärke")
    with pytest.raises(SourceError) as info:
        curate_station(config, config.stations[0], _raw_refs(config))
    assert detail in str(info.value)
    assert "missing column" not in str(info.value)
