"""Ingest of one station through the plain functions: the row ledger, idempotence, the failure threshold."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tasks import store as st
from tasks.ingest import DataQualityError, ingest_station
from windcast.config import PipelineConfig

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"


def make_config(tmp_path, csv_name, **quality):
    shutil.copy(FIXTURES / csv_name, tmp_path / csv_name)
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "stations": [{"id": "ugly", "source": {"kind": "file", "path": str(tmp_path / csv_name)}}],
            "quality": quality,
        }
    )


def store_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_row_is_curated_quarantined_or_merged(tmp_path):
    config = make_config(tmp_path, "ugly_canonical.csv", max_failed_fraction=0.5)
    report = ingest_station(config, config.stations[0])

    assert report.rows_parsed == 15
    assert (report.rows_curated, report.rows_quarantined, report.rows_duplicate) == (7, 6, 2)
    assert report.rows_parsed == report.rows_curated + report.rows_quarantined + report.rows_duplicate
    assert report.quarantine_by_reason == {
        "conflicting_duplicate": 2,
        "gust_below_speed": 1,
        "missing_wind_speed": 1,
        "parse_error: non-numeric wind_speed_ms": 1,  # the value itself is in the quarantine row
        "speed_range": 1,
    }

    store = st.Store(config.data_dir)
    curated = st.read_measurements(store, "ugly")
    assert curated["time"].dt.hour.tolist() == [0, 1, 2, 3, 9, 10, 11]
    assert curated["time"].is_monotonic_increasing
    quarantined = st.read_quarantine(store, "ugly")
    assert int(quarantined["n_samples"].fillna(1).sum()) == report.rows_quarantined
    assert (tmp_path / "store" / report.raw_refs[0]).read_bytes() == (FIXTURES / "ugly_canonical.csv").read_bytes()


def test_a_second_run_changes_nothing(tmp_path):
    config = make_config(tmp_path, "ugly_canonical.csv", max_failed_fraction=0.5)
    ingest_station(config, config.stations[0])
    before = store_bytes(tmp_path / "store")
    again = ingest_station(config, config.stations[0])
    assert (again.intervals_inserted, again.intervals_updated, again.quarantine_rows_added) == (0, 0, 0)
    assert again.intervals_unchanged == 7
    assert store_bytes(tmp_path / "store") == before


def test_too_many_failures_fail_loudly_and_keep_the_evidence(tmp_path):
    config = make_config(tmp_path, "ugly_canonical.csv")  # default limit 5 %
    with pytest.raises(DataQualityError, match=r"station 'ugly': 35\.7% of rows failed validation"):
        ingest_station(config, config.stations[0])
    store = st.Store(config.data_dir)
    assert st.read_measurements(store, "ugly").empty
    assert len(st.read_quarantine(store, "ugly")) > 0
    assert st.read_watermark(store, "ugly") is None


def test_the_store_reads_with_duckdb(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    config = make_config(tmp_path, "ugly_canonical.csv", max_failed_fraction=0.5)
    ingest_station(config, config.stations[0])
    glob = (tmp_path / "store" / "measurements" / "**" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"select station_id, count(*) n, min(time) t0 from read_parquet('{glob}', hive_partitioning=true) "
        "group by station_id"
    ).fetchall()
    assert rows[0][0] == "ugly" and rows[0][1] == 7
    assert pd.Timestamp(rows[0][2]).tz_convert("UTC") == pd.Timestamp("2024-03-01T00:00Z")
