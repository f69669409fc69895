"""Features, scaling, windows and splits on hand-built series."""

import numpy as np
import pandas as pd
import pytest

from models.features import (
    FeatureSpec,
    choose_feature_spec,
    covers_day_of_year,
    fit_hour_climatology,
    make_feature_matrix,
    to_regular_grid,
)
from models.scaling import fit_scaler
from models.windows import (
    Cutoffs,
    build_window_set,
    gap_free_starts,
    history_view,
    make_cutoffs,
    split_starts,
)


def frame(n: int, start: str = "2020-01-01", drop: tuple[int, ...] = (), gust: bool = False) -> pd.DataFrame:
    """Hourly frame with speed = row number, optional missing rows."""
    t = pd.date_range(start, periods=n, freq="1h", tz="UTC").astype("datetime64[us, UTC]")
    f = pd.DataFrame({"time": t, "wind_speed_ms": np.arange(n, dtype=float), "wind_dir_deg": 90.0})
    f["wind_gust_ms"] = f["wind_speed_ms"] + 1 if gust else np.nan
    return f.drop(index=list(drop)).reset_index(drop=True)


def test_gap_free_starts_exact():
    valid = np.array([1, 1, 1, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
    assert gap_free_starts(valid, 3).tolist() == [0, 4, 5]
    assert gap_free_starts(valid, 1).tolist() == [0, 1, 2, 4, 5, 6, 7, 9]
    assert gap_free_starts(valid, 11).tolist() == []


def test_gap_free_starts_matches_loop_oracle():
    valid = np.random.default_rng(0).random(500) > 0.05
    expect = [s for s in range(500 - 20 + 1) if valid[s : s + 20].all()]
    assert gap_free_starts(valid, 20).tolist() == expect


def test_regular_grid_puts_nan_at_gaps():
    grid = to_regular_grid(frame(10, drop=(3, 4)))
    assert len(grid) == 10
    assert np.isnan(grid["wind_speed_ms"].to_numpy()[[3, 4]]).all()
    assert grid["wind_speed_ms"].iloc[5] == 5.0


def test_regular_grid_rejects_naive_and_off_grid_times():
    f = frame(5)
    with pytest.raises(ValueError, match="st1: column 'time' must be tz-aware"):
        to_regular_grid(f.assign(time=f["time"].dt.tz_localize(None)), name="st1")
    off = f.assign(time=f["time"] + pd.to_timedelta([0, 0, 0, 0, 30], unit="min"))
    with pytest.raises(ValueError, match="is not on the 1h grid"):
        to_regular_grid(off)


def test_history_view_is_a_view_not_a_copy():
    values = np.arange(40, dtype=np.float32).reshape(20, 2)
    view = history_view(values, 5)
    assert view.shape == (16, 5, 2)
    assert np.shares_memory(view, values)
    np.testing.assert_array_equal(view[3], values[3:8])


def test_window_set_indices_and_gaps_against_hand_built_series():
    # 30 rows, row 12 missing; L=4, H=2 -> a window spans 6 rows
    spec = FeatureSpec(direction=False, climatology=False)
    values = make_feature_matrix(to_regular_grid(frame(30, drop=(12,))), spec)
    ws = build_window_set([values], [(20, 25)], lookback_steps=4, horizon_steps=2)
    # gap-free starts: 0..6 (rows 0..11) and 13..24; train needs last target row < 20, val first target >= 20
    assert ws.starts["train"].tolist() == [0, 1, 2, 3, 4, 5, 6, 13, 14]
    assert ws.starts["val"].tolist() == [16, 17, 18, 19]  # targets rows 20..24
    assert ws.starts["test"].tolist() == [21, 22, 23, 24]
    x, y = ws.gather(np.array([0, 13]))
    assert x.shape == (2, 4, 3) and y.shape == (2, 2)
    assert x[1, :, 0].tolist() == [13, 14, 15, 16] and y[1].tolist() == [17, 18]


def test_window_set_never_crosses_station_seams():
    a = make_feature_matrix(to_regular_grid(frame(10)), FeatureSpec(direction=False, climatology=False))
    ws = build_window_set([a, a], [(10, 10), (10, 10)], lookback_steps=3, horizon_steps=2)
    # each station has starts 0..5; the second station's rows begin after one NaN seam row (offset 11)
    assert ws.starts["train"].tolist() == [0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16]


def test_split_starts_drops_windows_straddling_a_cutoff():
    parts = split_starts(np.arange(10), train_stop=6, val_stop=9, lookback_steps=2, horizon_steps=2)
    assert (
        parts["train"].tolist() == [0, 1, 2] and parts["val"].tolist() == [4, 5] and parts["test"].tolist() == [7, 8, 9]
    )


def test_make_cutoffs_counts_observed_hours():
    times = pd.DatetimeIndex(frame(100, drop=tuple(range(10, 60)))["time"])  # 50 observed hours
    cut = make_cutoffs(times, (0.7, 0.1, 0.2))
    assert cut.train_end == times[35] and cut.val_end == times[40]
    with pytest.raises(ValueError, match=r"split fractions \(0.5, 0.5, 0.5\)"):
        make_cutoffs(times, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="cutoffs need train_end < val_end"):
        Cutoffs(times[5], times[5])


def test_feature_channels_direction_and_gust():
    f = frame(24, gust=True)
    f.loc[2, "wind_dir_deg"] = np.nan
    f.loc[3, "wind_gust_ms"] = np.nan
    grid = to_regular_grid(f)
    spec = choose_feature_spec([grid], climatology=False)
    assert spec.names == [
        "wind_speed_ms",
        "wind_dir_sin",
        "wind_dir_cos",
        "wind_gust_ms",
        "hour_sin",
        "hour_cos",
    ]
    m = make_feature_matrix(grid, spec)
    np.testing.assert_allclose(m[0, 1:3], [1.0, 0.0], atol=1e-6)  # 90 degrees
    assert m[2, 1:3].tolist() == [0.0, 0.0]  # unknown direction
    assert m[3, 3] == m[3, 0]  # missing gust takes the speed
    assert choose_feature_spec([to_regular_grid(frame(24))]).gust is False


def test_day_of_year_needs_every_month_in_two_years():
    one_year = pd.date_range("2020-01-01", "2020-12-31 23:00", freq="1h", tz="UTC")
    two_years = pd.date_range("2020-01-01", "2021-12-31 23:00", freq="1h", tz="UTC")
    assert not covers_day_of_year(one_year)
    assert covers_day_of_year(two_years)
    assert not covers_day_of_year(two_years[two_years.month != 7].append(one_year[one_year.month == 7]))


def test_scaler_uses_only_training_rows():
    values = make_feature_matrix(to_regular_grid(frame(100)), FeatureSpec(direction=False, climatology=False))
    values[90, 0] = 1e9  # a wild value in the test part
    scaler = fit_scaler([values[:70]], [0])
    assert scaler.mean[0] == pytest.approx(34.5) and scaler.std[0] == pytest.approx(np.arange(70).std())
    assert scaler.mean[1:] == [0.0, 0.0] and scaler.std[1:] == [1.0, 1.0]  # hour sin/cos pass through


def test_hour_climatology_channel_is_training_mean_by_hour_scaled_like_speed():
    f = frame(72)  # speed = row number, so hour h has mean (h + (h + 24) + (h + 48)) / 3 = h + 24
    grid = to_regular_grid(f)
    clim = fit_hour_climatology(grid.iloc[:48])  # training rows: hour h has rows h and h + 24
    assert clim == [h + 12.0 for h in range(24)]
    spec = FeatureSpec(direction=False)
    assert spec.names == ["wind_speed_ms", "hour_clim_ms", "hour_sin", "hour_cos"]
    assert spec.anchor_channel == 1
    m = make_feature_matrix(grid, spec, clim)
    assert m[50, 1] == clim[2]
    scaler = fit_scaler([m[:48]], spec.scaled_channels, spec.tied_channels)
    assert scaler.mean[1] == scaler.mean[0] and scaler.std[1] == scaler.std[0]
    with pytest.raises(ValueError, match="the climatology channel needs 24 hourly values, got None"):
        make_feature_matrix(grid, spec)
