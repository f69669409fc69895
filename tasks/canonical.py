"""Turn parsed samples into the canonical measurement table: deduplicate, then resample to the target frequency.

The resampling rule (documented in the README):
- a sample stamped at ``s`` belongs to the interval ``[floor(s), floor(s) + freq)``, labelled by its start;
- speed is the mean of the valid samples, direction the vector (circular) mean of the valid directions, gust the
  maximum of the valid gusts;
- an interval needs at least ``ceil(min_coverage * expected)`` valid speed samples, where ``expected`` is
  ``freq / native spacing`` (the median spacing of the station's distinct sample times, at least 1); intervals with
  fewer are quarantined as ``too_few_samples`` with their mean, never curated;
- intervals without any sample are simply absent: gaps stay gaps, nothing is filled.
Before resampling, samples with a physically impossible value are set apart (``split_impossible_samples``):
speed outside [speed_min_ms, speed_max_ms] or not finite (``speed_range``), a direction outside [0, 360] or
not finite (``direction_range``: never wrapped), a gust outside [speed_min_ms, gust_max_ms] or not finite
(``gust_range``). They are quarantined one by one and the interval keeps its valid samples: it is curated when
enough of them remain. ``expected`` is counted on all samples, so rejecting some never lowers the bar.
Exact duplicates (same time, same values) are merged and counted; conflicting duplicates (same time, different
values) are all quarantined as ``conflicting_duplicate``, since there is no honest way to choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

VALUE_COLUMNS = ["wind_speed_ms", "wind_dir_deg", "wind_gust_ms"]


@dataclass
class DedupResult:
    """Samples with duplicates resolved."""

    samples: pd.DataFrame
    conflicting: pd.DataFrame  # every copy of a conflicting timestamp
    rows_merged: int  # exact duplicate copies dropped


@dataclass
class RangeSplit:
    """Samples split into plausible ones and impossible ones (with the range checks they failed)."""

    samples: pd.DataFrame
    impossible: pd.DataFrame  # SAMPLE_COLUMNS + reason ("a;b", sorted check names)


@dataclass
class ResampleResult:
    """Intervals at the target frequency."""

    intervals: pd.DataFrame  # station_id, time, values, n_samples, raw_ref
    too_few: pd.DataFrame  # same columns: intervals below the minimum sample count
    expected_samples: int
    min_samples: int


def deduplicate_samples(samples: pd.DataFrame) -> DedupResult:
    """Drop exact duplicate samples and set apart timestamps whose copies disagree."""
    keys = ["station_id", "time"]
    exact = samples.duplicated(subset=keys + VALUE_COLUMNS, keep="first")
    distinct = samples.loc[~exact]
    clash = distinct.duplicated(subset=keys, keep=False)
    return DedupResult(
        samples=distinct.loc[~clash].sort_values(keys, kind="stable").reset_index(drop=True),
        conflicting=distinct.loc[clash].reset_index(drop=True),
        rows_merged=int(exact.sum()),
    )


def split_impossible_samples(
    samples: pd.DataFrame, speed_min_ms: float, speed_max_ms: float, gust_max_ms: float
) -> RangeSplit:
    """Set apart samples whose speed, direction or gust is impossible (see the module rule)."""
    speed, direction, gust = (samples[c].to_numpy(dtype="float64", na_value=np.nan) for c in VALUE_COLUMNS)
    with np.errstate(invalid="ignore"):
        failed = {
            "direction_range": ~np.isnan(direction) & ~((direction >= 0) & (direction <= 360)),
            "gust_range": ~np.isnan(gust) & ~((gust >= speed_min_ms) & (gust <= gust_max_ms)),
            "speed_range": ~np.isnan(speed) & ~((speed >= speed_min_ms) & (speed <= speed_max_ms)),
        }
    reason = np.full(len(samples), "", dtype=object)
    for name, mask in failed.items():  # sorted names, joined like the validation reasons
        reason[mask] = np.where(reason[mask] == "", name, reason[mask] + ";" + name)
    bad = reason != ""
    return RangeSplit(
        samples=samples.loc[~bad].reset_index(drop=True),
        impossible=samples.loc[bad]
        .assign(reason=pd.Series(reason[bad], dtype="string").to_numpy())
        .reset_index(drop=True),
    )


def native_spacing(times: pd.Series) -> pd.Timedelta | None:
    """Median spacing of the distinct sample times, or None with fewer than two."""
    distinct = pd.Series(times.unique()).sort_values()
    if len(distinct) < 2:
        return None
    return pd.Timedelta(distinct.diff().dropna().median())


def expected_samples_per_interval(times: pd.Series, freq: str) -> int:
    """How many samples an interval of ``freq`` holds at the station's native spacing (at least 1)."""
    spacing = native_spacing(times)
    step = pd.Timedelta(freq)
    if spacing is None or spacing >= step or spacing <= pd.Timedelta(0):
        return 1
    return max(1, int(round(step / spacing)))


def resample_samples(
    samples: pd.DataFrame, freq: str, min_coverage: float, expected: int | None = None
) -> ResampleResult:
    """Aggregate one station's deduplicated samples into intervals of ``freq`` (see the module rule).

    ``expected``: samples per interval at the native spacing; None: counted on ``samples``.
    """
    expected = expected or expected_samples_per_interval(samples["time"], freq)
    min_samples = max(1, math.ceil(min_coverage * expected - 1e-9))
    if samples.empty:
        empty = _empty_intervals()
        return ResampleResult(empty, empty.copy(), expected, min_samples)
    frame = samples.assign(
        interval=samples["time"].dt.floor(freq),
        _u=np.sin(np.deg2rad(samples["wind_dir_deg"])),
        _v=np.cos(np.deg2rad(samples["wind_dir_deg"])),
    )
    grouped = frame.groupby(["station_id", "interval"], sort=True, observed=True)
    agg = grouped.agg(
        wind_speed_ms=("wind_speed_ms", "mean"),
        n_samples=("wind_speed_ms", "count"),
        _u=("_u", "mean"),
        _v=("_v", "mean"),
        wind_gust_ms=("wind_gust_ms", "max"),
        raw_ref=("raw_ref", "first"),
    ).reset_index()
    direction = np.rad2deg(np.arctan2(agg["_u"], agg["_v"])) % 360.0
    # a vector mean of opposite directions has no direction: keep it missing rather than invent one
    calm_vector = np.hypot(agg["_u"], agg["_v"]) < 1e-9
    agg["wind_dir_deg"] = direction.where(~calm_vector)
    intervals = agg.rename(columns={"interval": "time"})[["station_id", "time", *VALUE_COLUMNS, "n_samples", "raw_ref"]]
    intervals["n_samples"] = intervals["n_samples"].astype("int32")
    enough = intervals["n_samples"] >= min_samples
    return ResampleResult(
        intervals=intervals.loc[enough].reset_index(drop=True),
        too_few=intervals.loc[~enough].reset_index(drop=True),
        expected_samples=expected,
        min_samples=min_samples,
    )


def _empty_intervals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": pd.Series([], dtype="string"),
            "time": pd.Series([], dtype="datetime64[us, UTC]"),
            "wind_speed_ms": pd.Series([], dtype="float64"),
            "wind_dir_deg": pd.Series([], dtype="float64"),
            "wind_gust_ms": pd.Series([], dtype="float64"),
            "n_samples": pd.Series([], dtype="int32"),
            "raw_ref": pd.Series([], dtype="string"),
        }
    )
