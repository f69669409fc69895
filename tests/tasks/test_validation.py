"""Tests of tasks.validation and tasks.quality_checks on hand-built hourly frames with exact expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.flat_spells import infer_resolution_ms
from tasks.quality_checks import grid_slots
from tasks.validation import GX_CHECKS, SUMMARY_COLUMNS, failure_reasons, validate_measurements
from windcast.config import QualitySettings
from windcast.schemas import MEASUREMENT_COLUMNS

# Explicit thresholds, so the exact expectations below do not move with the defaults.
QUALITY = QualitySettings(
    speed_min_ms=0.0,
    speed_max_ms=75.0,
    flat_line_tolerance_ms=0.01,
    flat_line_min_hours=4.0,
    flat_line_suspect_chance=1e-3,
    flat_line_fail_chance=1e-6,
    flat_line_max_hours=48.0,
    flat_line_min_speed_ms=0.5,
    spike_suspect_ms=8.0,
    spike_fail_ms=15.0,
    rate_of_change_ms_per_h=15.0,
)
START = pd.Timestamp("2024-01-01", tz="UTC")


def _wavy(n: int, level: float = 6.0, amplitude: float = 2.0) -> np.ndarray:
    """A smooth, never-flat hourly wind speed series (m/s)."""
    return np.round(level + amplitude * np.sin(np.arange(n) / 3.0), 3)


def _frame(speed, hours=None, direction=None, gust=None, index=None) -> pd.DataFrame:
    """A measurement frame for station S1; hours are offsets from START (default 0..n-1)."""
    speed = np.asarray(speed, dtype=float)
    n = len(speed)
    hours = np.arange(n) if hours is None else np.asarray(hours)
    direction = (np.arange(n) * 7.0) % 360 if direction is None else np.asarray(direction, dtype=float)
    gust = speed + 2.0 if gust is None else np.asarray(gust, dtype=float)
    frame = pd.DataFrame(
        {
            "station_id": pd.Series(["S1"] * n, dtype="string"),
            "time": (START + pd.to_timedelta(hours, unit="h")).as_unit("us"),
            "wind_speed_ms": speed,
            "wind_dir_deg": direction,
            "wind_gust_ms": gust,
            "n_samples": np.full(n, 6, dtype="int32"),
            "source": "file",
            "raw_ref": "raw/S1/test.csv",
            "ingested_at": pd.Timestamp("2024-06-01", tz="UTC"),
        }
    )
    return frame if index is None else frame.set_axis(index)


def _validate(df: pd.DataFrame, freq: str = "1h"):
    """Validate and assert that no row was lost or doubled."""
    result = validate_measurements(df, QUALITY, freq)
    assert len(result.curated) + len(result.quarantined) == len(df)
    assert result.curated.index.intersection(result.quarantined.index).empty
    assert sorted(result.curated.index.append(result.quarantined.index)) == sorted(df.index)
    assert list(result.curated.columns) == list(df.columns)
    assert list(result.quarantined.columns) == [*df.columns, "reason"]
    assert list(result.summary.columns) == SUMMARY_COLUMNS
    assert result.failed_fraction == (len(result.quarantined) / len(df) if len(df) else 0.0)
    return result


def _reasons(result) -> dict:
    """Quarantined index label -> reason."""
    return result.quarantined["reason"].to_dict()


def _summary(result, check: str) -> pd.Series:
    return result.summary.set_index("check").loc[check]


def test_healthy_series_is_all_curated():
    df = _frame(_wavy(48))
    result = _validate(df)
    assert result.quarantined.empty
    assert result.failed_fraction == 0.0
    assert list(result.summary["check"]) == [
        *GX_CHECKS,
        "flat_line_speed",
        "flat_line_direction",
        "spike",
        "rate_of_change",
        "repeated_day",
    ]
    assert list(result.summary["kind"]) == ["gx"] * len(GX_CHECKS) + ["qartod"] * 4 + ["series"]
    assert result.summary["success"].all()
    assert _summary(result, "speed_range")["rows_evaluated"] == 48
    assert _summary(result, "spike")["rows_evaluated"] == 46  # first and last have one neighbour only


def test_out_of_range_and_negative_speed_are_quarantined():
    speed = _wavy(24)
    speed[5], speed[12] = 80.0, -1.0
    result = _validate(_frame(speed))
    # Rejected values are gaps to QARTOD: their neighbours are not called spikes or steps.
    assert _reasons(result) == {5: "speed_range", 12: "speed_range"}
    row = _summary(result, "speed_range")
    assert (row["rows_evaluated"], row["rows_failed"], row["success"]) == (24, 2, False)


def test_missing_speed_is_quarantined():
    speed = _wavy(24)
    speed[7] = np.nan
    result = _validate(_frame(speed))
    assert _reasons(result) == {7: "speed_not_null"}
    assert _summary(result, "speed_range")["rows_evaluated"] == 23


def test_direction_out_of_range_is_quarantined_and_missing_direction_is_not():
    direction = np.full(24, 200.0) + np.arange(24)
    direction[3], direction[9] = 400.0, np.nan
    result = _validate(_frame(_wavy(24), direction=direction))
    assert _reasons(result) == {3: "direction_range"}


def test_gust_below_speed_is_quarantined_and_missing_gust_is_not():
    speed = _wavy(24)
    gust = speed + 2.0
    gust[4], gust[6], gust[8] = speed[4] - 0.5, np.nan, speed[8]
    result = _validate(_frame(speed, gust=gust))
    assert _reasons(result) == {4: "gust_below_speed"}
    assert _summary(result, "gust_below_speed")["rows_evaluated"] == 23


def test_duplicate_time_quarantines_both_rows():
    hours = [0, 1, 2, 3, 3, 4, 5, 6]
    result = _validate(_frame(_wavy(8), hours=hours))
    assert _reasons(result) == {3: "duplicate_time", 4: "duplicate_time;time_not_increasing"}


def test_decreasing_time_is_quarantined():
    hours = [0, 1, 2, 3, 5, 4, 6, 7]
    result = _validate(_frame(_wavy(8), hours=hours))
    assert _reasons(result) == {5: "time_not_increasing"}


def test_ten_hour_stuck_speed_is_flagged():
    speed = np.concatenate([_wavy(20), np.full(10, 7.3), _wavy(20)[::-1]])
    result = _validate(_frame(speed))
    assert _reasons(result) == {i: "flat_line_speed" for i in range(20, 30)}
    assert _summary(result, "flat_line_speed")["rows_failed"] == 10


def test_ten_hour_calm_is_not_flagged():
    speed = np.concatenate([np.linspace(2.0, 0.2, 10), np.zeros(10), np.linspace(0.2, 2.0, 10)])
    result = _validate(_frame(speed))
    assert result.quarantined.empty
    row = _summary(result, "flat_line_speed")
    assert (row["rows_failed"], row["rows_suspect"]) == (0, 0)


def test_calm_longer_than_two_days_is_a_stuck_sensor():
    speed = np.concatenate([np.linspace(2.0, 0.2, 10), np.zeros(60)])
    result = _validate(_frame(speed))
    assert _reasons(result) == {i: "flat_line_speed" for i in range(10, 70)}


def test_short_flat_spell_is_suspect_and_stays_curated():
    speed = np.concatenate([_wavy(20), np.full(6, 7.3), _wavy(20)[::-1]])  # spans 5 h: suspect, not fail
    result = _validate(_frame(speed))
    assert result.quarantined.empty
    assert _summary(result, "flat_line_speed")["rows_suspect"] == 6


def test_stuck_vane_is_flagged_only_while_the_wind_blows():
    n = 100
    speed = np.concatenate([_wavy(50, level=8.0), _wavy(50, level=1.5, amplitude=0.5)])  # windy, then light
    direction = (np.arange(n) * 7.0) % 360
    direction[10:40] = 123.0  # stuck for 30 h in a breeze
    direction[60:90] = 250.0  # as still for 30 h, but with light wind
    result = _validate(_frame(speed, direction=direction))
    assert _reasons(result) == {i: "flat_line_direction" for i in range(10, 40)}


def test_spike_is_quarantined_but_not_its_neighbours():
    speed = _wavy(24)
    speed[10] += 20.0
    result = _validate(_frame(speed))
    assert _reasons(result) == {10: "spike"}


def test_small_spike_is_suspect_and_stays_curated():
    speed = _wavy(24)
    speed[10] += 10.0
    result = _validate(_frame(speed))
    assert result.quarantined.empty
    assert _summary(result, "spike")["rows_suspect"] == 1


def test_step_is_quarantined_at_the_first_value_after_it():
    speed = np.concatenate([_wavy(12, level=3.0), _wavy(12, level=22.0)])
    result = _validate(_frame(speed))
    assert _reasons(result) == {12: "rate_of_change"}


def test_gaps_do_not_make_neighbours():
    # A lone 20 m/s hour between long gaps, and a jump across a gap: no spike, no step.
    speed = np.concatenate([_wavy(10, level=3.0), [20.0], _wavy(10, level=22.0)])
    hours = np.concatenate([np.arange(10), [15], np.arange(20, 30)])
    result = _validate(_frame(speed, hours=hours))
    assert result.quarantined.empty
    assert _summary(result, "spike")["rows_evaluated"] == 21 - 5  # both ends of each of the 3 runs unknown


def test_flat_line_window_must_be_gap_free():
    # Five 7.3 readings scattered between gaps never form a flat window of 8 contiguous hours.
    speed = np.concatenate([_wavy(10), [7.3, 7.3, 7.3, 7.3, 7.3], _wavy(10)])
    hours = np.concatenate([np.arange(10), [11, 13, 15, 17, 19], np.arange(20, 30)])
    result = _validate(_frame(speed, hours=hours))
    assert result.quarantined.empty


def test_rows_keep_their_index_labels():
    speed = _wavy(24)
    speed[5] = 99.0
    result = _validate(_frame(speed, index=pd.RangeIndex(100, 124)))
    assert _reasons(result) == {105: "speed_range"}


def test_half_hourly_frequency():
    speed = np.concatenate([_wavy(20), np.full(20, 7.3), _wavy(20)])  # 20 half-hours span 9.5 h
    df = _frame(speed, hours=np.arange(60) * 0.5)
    result = _validate(df, freq="30min")
    assert _reasons(result) == {i: "flat_line_speed" for i in range(20, 40)}


def test_empty_input():
    result = _validate(_frame([]))
    assert result.curated.empty and result.quarantined.empty
    assert result.failed_fraction == 0.0
    assert (result.summary["rows_evaluated"] == 0).all()
    assert result.summary["success"].all()


def test_schema_error_names_missing_and_unexpected_columns():
    df = _frame(_wavy(5)).drop(columns=["wind_gust_ms"]).assign(temperature_c=1.0)
    with pytest.raises(ValueError) as excinfo:
        validate_measurements(df, QUALITY, "1h")
    assert str(excinfo.value) == (
        "measurements do not match the schema: missing columns ['wind_gust_ms'], unexpected columns ['temperature_c']"
    )


def test_non_numeric_speed_is_refused():
    df = _frame(_wavy(3)).astype({"wind_speed_ms": str})
    with pytest.raises(ValueError, match="measurement column 'wind_speed_ms' must be numeric, got dtype"):
        validate_measurements(df, QUALITY, "1h")


def test_more_than_one_station_is_refused():
    df = _frame(_wavy(4))
    df.loc[3, "station_id"] = "S2"
    with pytest.raises(ValueError, match=r"validate one station at a time, got 2: \['S1', 'S2'\]"):
        validate_measurements(df, QUALITY, "1h")


def test_time_off_the_grid_is_refused():
    df = _frame(_wavy(4), hours=[0, 1, 2.5, 3])
    with pytest.raises(ValueError, match=r"time 2024-01-01 02:30:00\+00:00 is not on the 1h grid"):
        validate_measurements(df, QUALITY, "1h")


def test_grid_slots_keep_one_empty_slot_per_gap():
    times = pd.Series(START + pd.to_timedelta([0, 1, 2, 7, 8, 1000], unit="h"))
    assert grid_slots(times, "1h").tolist() == [0, 1, 2, 4, 5, 7]


def test_failure_reasons_are_sorted_and_joined():
    failed = {
        "spike": np.array([True, False, True]),
        "duplicate_time": np.array([True, False, False]),
    }
    assert failure_reasons(failed, 3).tolist() == ["duplicate_time;spike", "", "spike"]


def test_columns_are_the_measurement_schema():
    assert list(_frame(_wavy(2)).columns) == MEASUREMENT_COLUMNS


def _whole_ms_weather(n_spells: int = 60) -> np.ndarray:
    """Whole-m/s readings that hold each value 1-12 h: ordinary weather at 1 m/s resolution."""
    levels = [3, 4, 5, 6, 7, 8, 7, 6, 5, 4]
    holds = [1, 12, 3, 9, 2, 11, 5, 7, 10, 4, 8, 6, 12]
    return np.concatenate([np.full(holds[i % len(holds)], float(levels[i % len(levels)])) for i in range(n_spells)])


def test_coarse_resolution_spells_of_ordinary_weather_pass():
    speed = _whole_ms_weather()  # 12-h spells: a fixed 8-h rule would fail them
    result = _validate(_frame(speed, gust=speed + 3))
    assert result.quarantined.empty
    assert _summary(result, "flat_line_speed")["rows_suspect"] == 0


def test_a_value_held_three_days_in_windy_weather_fails_at_any_resolution():
    for resolution, unit in ((1.0, 1.0), (0.514444, 0.514444), (0.1, 0.1)):
        weather = np.round(_whole_ms_weather() / unit) * unit
        stuck = np.full(72, np.round(9.0 / unit) * unit)
        speed = np.concatenate([weather[:300], stuck, weather[300:]])
        result = _validate(_frame(speed, gust=speed + 3))
        assert _reasons(result) == {i: "flat_line_speed" for i in range(300, 372)}, resolution


def test_the_same_spell_is_ordinary_at_1_ms_and_stuck_at_0_1_ms():
    coarse = np.concatenate([_whole_ms_weather(), np.full(12, 7.0), _whole_ms_weather()[::-1]])
    fine = np.round(_wavy(len(coarse), level=6.0, amplitude=2.0), 1)  # a 0.1 m/s sensor: rarely repeats
    fine[300:312] = 7.0
    assert _validate(_frame(coarse, gust=coarse + 3)).quarantined.empty
    assert _reasons(_validate(_frame(fine, gust=fine + 3))) == {i: "flat_line_speed" for i in range(300, 312)}


def test_configured_resolution_wins_over_the_inferred_one():
    # 60 h alternating 7.0 / 7.1: flat for a 1 m/s sensor (its noise is below its step), not for a 0.1 m/s one.
    speed = np.round(_wavy(160), 1)
    speed[50:110] = np.tile([7.0, 7.1], 30)
    inferred = validate_measurements(_frame(speed), QUALITY, "1h")
    configured = validate_measurements(_frame(speed), QUALITY.model_copy(update={"speed_resolution_ms": 1.0}), "1h")
    assert inferred.quarantined.empty
    assert configured.quarantined["reason"].to_dict() == {i: "flat_line_speed" for i in range(50, 110)}


def test_resolution_is_inferred_from_the_smallest_common_step():
    assert infer_resolution_ms(np.arange(30) * 0.514444) == pytest.approx(0.514444)
    assert infer_resolution_ms(np.append(np.arange(20.0), 2.5)) == 1.0  # one stray odd value
    assert infer_resolution_ms(np.round(_wavy(200), 1)) == pytest.approx(0.1)
    assert infer_resolution_ms(np.full(5, 3.0)) == 0.0


def test_a_day_pattern_repeated_every_day_fails_repeated_day():
    # KNMI station 257: the same 24 hourly values every day of the year, a placeholder.
    day = np.array([4, 5, 6, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8, 7, 6, 5, 4, 5, 6, 7, 8, 9, 10, 9], dtype=float)
    speed = np.concatenate([_wavy(72), np.tile(day, 5), _wavy(48)])
    result = _validate(_frame(speed))
    assert _reasons(result) == {i: "repeated_day" for i in range(72, 192)}
    assert _summary(result, "repeated_day")["rows_failed"] == 120


def test_two_similar_days_are_not_a_repeated_day():
    day = np.array([4, 5, 6, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8, 7, 6, 5, 4, 5, 6, 7, 8, 9, 10, 9], dtype=float)
    speed = np.concatenate([_wavy(72), day, day, _wavy(48)])  # one copy: 24 h, under the 48 h limit
    assert _validate(_frame(speed)).quarantined.empty
