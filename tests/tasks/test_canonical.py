import numpy as np
import pandas as pd
import pytest

from tasks.canonical import (
    deduplicate_samples,
    expected_samples_per_interval,
    resample_samples,
    split_impossible_samples,
)


def samples(times, speeds, dirs=None, gusts=None, station="s1"):
    n = len(times)
    return pd.DataFrame(
        {
            "station_id": pd.Series([station] * n, dtype="string"),
            "time": pd.to_datetime(times, utc=True).as_unit("us"),
            "wind_speed_ms": np.asarray(speeds, dtype=float),
            "wind_dir_deg": np.asarray(dirs if dirs is not None else [np.nan] * n, dtype=float),
            "wind_gust_ms": np.asarray(gusts if gusts is not None else [np.nan] * n, dtype=float),
            "raw_ref": pd.Series(["raw/s1/file/x.csv"] * n, dtype="string"),
        }
    )


def ten_minute(start, n):
    return pd.date_range(start, periods=n, freq="10min", tz="UTC")


def test_exact_duplicates_merge_and_conflicts_are_set_apart():
    df = samples(
        [
            "2024-01-01T00:00Z",
            "2024-01-01T00:00Z",
            "2024-01-01T00:10Z",
            "2024-01-01T00:10Z",
            "2024-01-01T00:20Z",
        ],
        [5.0, 5.0, 6.0, 7.0, 8.0],
    )
    result = deduplicate_samples(df)
    assert result.rows_merged == 1
    assert len(result.conflicting) == 2
    assert list(result.samples["wind_speed_ms"]) == [5.0, 8.0]
    assert result.rows_merged + len(result.conflicting) + len(result.samples) == len(df)


def test_out_of_order_samples_come_out_sorted():
    df = samples(["2024-01-01T02:00Z", "2024-01-01T00:00Z", "2024-01-01T01:00Z"], [3.0, 1.0, 2.0])
    assert list(deduplicate_samples(df).samples["wind_speed_ms"]) == [1.0, 2.0, 3.0]


def test_ten_minute_samples_average_into_hours_with_minimum_count():
    times = list(ten_minute("2024-01-01T00:00Z", 6)) + list(ten_minute("2024-01-01T01:00Z", 2))
    speeds = [1, 2, 3, 4, 5, 6, 10, 20]
    gusts = [2, 3, 4, 9, 6, 7, 11, 21]
    result = resample_samples(samples(times, speeds, gusts=gusts), "1h", min_coverage=0.5)
    assert result.expected_samples == 6 and result.min_samples == 3
    hour = result.intervals.iloc[0]
    assert hour["time"] == pd.Timestamp("2024-01-01T00:00Z")
    assert hour["wind_speed_ms"] == pytest.approx(3.5)
    assert hour["wind_gust_ms"] == 9
    assert hour["n_samples"] == 6
    # the second hour has 2 of 6 samples: quarantined, never curated
    assert list(result.too_few["n_samples"]) == [2]
    assert result.too_few.iloc[0]["wind_speed_ms"] == pytest.approx(15.0)


def test_direction_is_the_circular_mean():
    times = ten_minute("2024-01-01T00:00Z", 6)
    result = resample_samples(samples(times, [5] * 6, dirs=[350, 10, 350, 10, 350, 10]), "1h", 0.5)
    assert result.intervals.iloc[0]["wind_dir_deg"] % 360 == pytest.approx(0.0, abs=1e-6)


def test_gaps_stay_gaps():
    times = pd.to_datetime(["2024-01-01T00:00Z", "2024-01-01T01:00Z", "2024-01-01T05:00Z"])
    result = resample_samples(samples(times, [1, 2, 3]), "1h", 0.5)
    assert list(result.intervals["time"].dt.hour) == [0, 1, 5]
    assert result.too_few.empty


def test_hourly_stamps_at_fifty_minutes_floor_into_their_hour():
    times = ["2001-03-01T00:50Z", "2001-03-01T01:50Z", "2001-03-01T02:50Z"]
    result = resample_samples(samples(times, [1, 2, 3]), "1h", 0.5)
    assert result.expected_samples == 1
    assert list(result.intervals["time"].dt.hour) == [0, 1, 2]


def test_expected_samples_for_coarser_data_is_one():
    times = pd.Series(pd.date_range("2024-01-01", periods=4, freq="3h", tz="UTC"))
    assert expected_samples_per_interval(times, "1h") == 1


def test_impossible_samples_are_split_off_with_every_range_they_break():
    inf = float("inf")
    df = samples(
        ten_minute("2024-01-01", 7),
        [5.0, -20.0, 5.0, inf, 80.0, 5.0, 5.0],
        dirs=[180, 400, -30, 180, 180, np.nan, 360],
        gusts=[7.0, 7.0, 1e6, np.nan, -inf, np.nan, 7.0],
    )
    split = split_impossible_samples(df, speed_min_ms=0.0, speed_max_ms=75.0, gust_max_ms=115.0)
    assert split.impossible["reason"].tolist() == [
        "direction_range;speed_range",
        "direction_range;gust_range",
        "speed_range",
        "gust_range;speed_range",
    ]
    assert split.samples["time"].tolist() == [df["time"][0], df["time"][5], df["time"][6]]
    assert len(split.samples) + len(split.impossible) == len(df)


def test_expected_samples_can_come_from_all_samples_so_rejects_do_not_lower_the_bar():
    times = ten_minute("2024-01-01", 6)
    kept = samples(times[[0, 3]], [5.0, 6.0])  # two valid samples of six; alone they would look hourly
    assert resample_samples(kept, "1h", 0.5).intervals["n_samples"].tolist() == [2]
    result = resample_samples(kept, "1h", 0.5, expected=6)
    assert result.intervals.empty and result.too_few["n_samples"].tolist() == [2]
