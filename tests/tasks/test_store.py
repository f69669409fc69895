import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks import store as st


def curated(times, speeds, n_samples=6, ingested="2024-06-01T00:00Z"):
    n = len(times)
    return pd.DataFrame(
        {
            "station_id": ["s1"] * n,
            "time": pd.Series(pd.to_datetime(list(times), utc=True)).dt.as_unit("us"),
            "wind_speed_ms": [float(s) for s in speeds],
            "wind_dir_deg": [180.0] * n,
            "wind_gust_ms": [None] * n,
            "n_samples": [n_samples] * n,
            "source": ["file"] * n,
            "raw_ref": ["raw/s1/file/a.csv"] * n,
            "ingested_at": pd.Timestamp(ingested),
        }
    )


def test_station_ids_cannot_escape_the_data_directory(tmp_path):
    store = st.Store(tmp_path)
    for bad in ["../etc", "a/b", "..", "", "x" * 65, "sp ace", ".hidden"]:
        with pytest.raises(ValueError, match="is not allowed"):
            store.station_dir(store.measurements_dir, bad)


def test_merge_is_idempotent_and_partitions_by_year(tmp_path):
    store = st.Store(tmp_path)
    rows = curated(["2023-12-31T23:00Z", "2024-01-01T00:00Z"], [4, 5])
    first = st.merge_measurements(store, "s1", rows)
    assert (first.inserted, first.updated, first.unchanged, first.files_written) == (2, 0, 0, 2)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [
        "measurements/station_id=s1/year=2023/part-0.parquet",
        "measurements/station_id=s1/year=2024/part-0.parquet",
    ]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    again = st.merge_measurements(store, "s1", curated(rows["time"], [4, 5], ingested="2024-07-01T00:00Z"))
    assert (again.inserted, again.updated, again.unchanged, again.files_written) == (0, 0, 2, 0)
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}


def test_overlapping_periods_merge_and_revisions_replace(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z", "2024-01-01T01:00Z"], [4, 5]))
    counts = st.merge_measurements(store, "s1", curated(["2024-01-01T01:00Z", "2024-01-01T02:00Z"], [5.5, 6]))
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 0)
    stored = st.read_measurements(store, "s1")
    assert list(stored["wind_speed_ms"]) == [4.0, 5.5, 6.0]
    assert stored["time"].is_monotonic_increasing and stored["time"].is_unique


def test_a_revision_on_fewer_samples_does_not_replace_a_fuller_interval(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z"], [4], n_samples=6))
    counts = st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z"], [9], n_samples=3))
    assert (counts.updated, counts.unchanged) == (0, 1)
    assert st.read_measurements(store, "s1")["wind_speed_ms"].tolist() == [4.0]


def test_partition_files_hold_no_partition_column_and_read_back_typed(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z"], [4]))
    (path,) = tmp_path.rglob("*.parquet")
    schema = pq.read_schema(path)
    assert "station_id" not in schema.names
    assert str(schema.field("time").type) == "timestamp[us, tz=UTC]"
    frame = st.read_measurements(store)
    assert frame["station_id"].tolist() == ["s1"]
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"


def test_raw_payloads_are_content_addressed_and_kept_once(tmp_path):
    store = st.Store(tmp_path)
    ref1 = st.save_raw_payload(store, "s1", "ndbc-realtime", b"abc", ".txt", {"url": "http://x"})
    ref2 = st.save_raw_payload(store, "s1", "ndbc-realtime", b"abc", ".txt", {"url": "http://x"})
    ref3 = st.save_raw_payload(store, "s1", "ndbc-realtime", b"abd", ".txt", {"url": "http://x"})
    assert ref1 == ref2 != ref3
    assert (tmp_path / ref1).read_bytes() == b"abc"
    assert len(list((tmp_path / "raw" / "s1" / "ndbc-realtime").glob("*.txt"))) == 2


def test_watermark_only_moves_forward(tmp_path):
    store = st.Store(tmp_path)
    assert st.read_watermark(store, "s1") is None
    st.advance_watermark(store, "s1", pd.Timestamp("2024-01-02T00:00Z"))
    st.advance_watermark(store, "s1", pd.Timestamp("2024-01-01T00:00Z"))
    assert st.read_watermark(store, "s1") == pd.Timestamp("2024-01-02T00:00Z")


def test_no_temporary_file_is_left_and_readers_skip_strays(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z"], [4]))
    folder = tmp_path / "measurements" / "station_id=s1" / "year=2024"
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
    (folder / ".part-0.parquet.abc.tmp").write_bytes(b"PAR1 half a file")  # what a killed writer leaves
    assert len(st.read_measurements(store)) == 1


def test_written_files_are_readable_by_other_users(tmp_path):
    store = st.Store(tmp_path)
    st.merge_measurements(store, "s1", curated(["2024-01-01T00:00Z"], [4]))
    (path,) = tmp_path.rglob("*.parquet")
    assert path.stat().st_mode & 0o777 == st.FILE_MODE  # as open() would give under the umask, not 0600
