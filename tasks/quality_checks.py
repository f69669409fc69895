"""QARTOD wind tests (ioos-qc) on one station's series laid on its regular time grid.

The series is laid on a compact grid: consecutive intervals sit in consecutive slots and every gap, however
long, becomes one empty (NaN) slot. For these tests that is the same as reindexing to the full `freq` grid
(neighbours across a gap are never compared, flat-line windows must be gap-free), while a stray far-away
timestamp cannot blow the grid up to millions of slots.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from ioos_qc import qartod
from ioos_qc.qartod import QartodFlags

from tasks.flat_spells import FlatSpellRule, flat_speed_flags, repeated_day_flags
from windcast.config import QualitySettings

GOOD, UNKNOWN, SUSPECT, FAIL, MISSING = 1, 2, 3, 4, 9
QARTOD_CHECKS = ("flat_line_speed", "flat_line_direction", "spike", "rate_of_change")
SERIES_CHECKS = ("repeated_day",)  # not a QARTOD test: a day-long pattern copied day after day

assert (GOOD, UNKNOWN, SUSPECT, FAIL, MISSING) == (
    QartodFlags.GOOD,
    QartodFlags.UNKNOWN,
    QartodFlags.SUSPECT,
    QartodFlags.FAIL,
    QartodFlags.MISSING,
)


def grid_slots(times: pd.Series, freq: str) -> np.ndarray:
    """Slot of each (strictly increasing) time on a compact `freq` grid with one empty slot per gap."""
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    step = np.timedelta64(pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).as_unit("us"))
    index = pd.DatetimeIndex(times).as_unit("us")
    offsets = (index - index[0]).to_numpy()
    off_grid = offsets % step != np.timedelta64(0, "us")
    if off_grid.any():
        first = index[np.flatnonzero(off_grid)[0]]
        raise ValueError(f"time {first} is not on the {freq} grid that starts at {index[0]}")
    positions = offsets // step
    steps = np.diff(positions, prepend=positions[0])
    assert (steps[1:] > 0).all(), "times must be strictly increasing"
    return np.arange(len(positions)) + np.cumsum(steps > 1)


def window_slots(hours: float, freq: str, name: str) -> int:
    """How many whole grid intervals a duration in hours spans; ValueError if not even one."""
    step_h = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta("1h")
    slots = int(hours / step_h)
    if slots < 1:
        raise ValueError(f"{name}={hours} h is shorter than one {freq} interval")
    return slots


def spike_flags(values: np.ndarray, suspect_ms: float, fail_ms: float) -> np.ndarray:
    """QARTOD spike flags; 'differential' so a spike's good neighbours are not flagged with it."""
    flags = _neighbour_flags(values)
    before, after = values[1:-1] - values[:-2], values[2:] - values[1:-1]
    with np.errstate(invalid="ignore"):
        candidate = (np.abs(before) > suspect_ms) & (np.abs(after) > suspect_ms) & (before * after < 0)
    centre = np.flatnonzero(candidate) + 1
    if len(centre):
        # ioos-qc loops in Python over every value: give it only the candidates, each between its two
        # neighbours, and read back the flag of each centre (the flags between triplets mean nothing).
        triplets = np.stack([values[centre - 1], values[centre], values[centre + 1]], axis=1).ravel()
        flags[centre] = _plain(qartod.spike_test(triplets, suspect_ms, fail_ms, method="differential"))[1::3]
    return flags


def rate_of_change_flags(values: np.ndarray, suspect_per_slot: float, fail_per_slot: float) -> np.ndarray:
    """QARTOD rate-of-change flags; the later value of each too-large step is flagged."""
    # Slots count as seconds (no datetime64 overflow on long grids), so thresholds are per slot.
    slots = np.arange(len(values)).astype("datetime64[s]")
    return _plain(qartod.rate_of_change_test(values, slots, suspect_per_slot, fail_per_slot))


def flat_line_flags(values: np.ndarray, suspect_slots: int, fail_slots: int, tolerance: float) -> np.ndarray:
    """QARTOD flat-line flags over whole spells: every value of a gap-free flat window gets its flag.

    ioos-qc flags only the end of a flat window and skips missing values inside it; here a window must be
    gap-free (NaN marks both gaps and values outside the tested regime) and the flag covers the whole window.
    """
    flags = np.where(np.isnan(values), MISSING, GOOD).astype(np.uint8)
    picked = _steady_runs(values, suspect_slots, tolerance)
    if not (picked >= 0).any():
        return flags
    # Only runs of steady steps can hold a flat window: test those alone, one NaN apart (exact, and fast).
    compact = np.where(picked >= 0, values[picked], np.nan)
    slots = np.arange(len(compact)).astype("datetime64[s]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = _plain(qartod.flat_line_test(compact, slots, suspect_slots, fail_slots, tolerance))
    spells = np.full(len(compact), GOOD, dtype=np.uint8)
    for flag, count in ((SUSPECT, suspect_slots), (FAIL, fail_slots)):
        ends = (raw == FAIL) if flag == FAIL else np.isin(raw, (SUSPECT, FAIL))
        ends &= _gap_free_windows(~np.isnan(compact), count)
        spells[_spread_back(ends, count)] = flag
    flags[picked[picked >= 0]] = spells[picked >= 0]
    return flags


def qartod_flags(
    times: pd.Series, speed_ms: np.ndarray, dir_deg: np.ndarray, quality: QualitySettings, freq: str
) -> dict[str, np.ndarray]:
    """Flags per QARTOD and series check (1 good, 2 unknown, 3 suspect, 4 fail, 9 missing) for rows sorted by time.

    Args:
        times: strictly increasing interval starts on the `freq` grid.
        speed_ms, dir_deg: values per row; NaN where a value is missing or already rejected.
    """
    slots = grid_slots(times, freq)
    size = int(slots[-1]) + 1 if len(slots) else 0
    speed, direction = np.full(size, np.nan), np.full(size, np.nan)
    speed[slots], direction[slots] = speed_ms, dir_deg
    step_h = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta("1h")

    spike = spike_flags(speed, quality.spike_suspect_ms, quality.spike_fail_ms)
    # A rejected spike becomes a gap, so the step back down from it is not also called a step.
    despiked = np.where(spike == FAIL, np.nan, speed)
    rate = rate_of_change_flags(
        despiked,
        quality.rate_of_change_suspect_ms_per_h * step_h,
        quality.rate_of_change_ms_per_h * step_h,
    )
    on_grid = {
        "flat_line_speed": flat_speed_flags(speed, flat_spell_rule(quality, freq)),
        "flat_line_direction": _flat_line_direction_flags(direction, speed, quality, freq),
        "spike": spike,
        "rate_of_change": rate,
    }
    flags = {name: on_grid[name][slots] for name in QARTOD_CHECKS}
    flags["repeated_day"] = _repeated_day_flags(times, speed_ms, quality, freq)  # on rows, not the compact grid
    return flags


def flat_spell_rule(quality: QualitySettings, freq: str) -> FlatSpellRule:
    """The flat speed test's thresholds for this frequency."""
    return FlatSpellRule(
        resolution_ms=quality.speed_resolution_ms,
        tolerance_ms=quality.flat_line_tolerance_ms,
        min_speed_ms=quality.flat_line_min_speed_ms,
        min_slots=_slots_of(quality, "flat_line_min_hours", freq),
        max_slots=_slots_of(quality, "flat_line_max_hours", freq),
        calm_fail_slots=_slots_of(quality, "flat_line_calm_fail_hours", freq),
        suspect_chance=quality.flat_line_suspect_chance,
        fail_chance=quality.flat_line_fail_chance,
    )


def _repeated_day_flags(times: pd.Series, speed_ms: np.ndarray, quality: QualitySettings, freq: str) -> np.ndarray:
    """A placeholder day pattern: readings equal to those one day earlier for `repeated_day_fail_hours`."""
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    if len(times) == 0 or pd.Timedelta("1D") % step != pd.Timedelta(0):
        return np.where(np.isnan(speed_ms), MISSING, UNKNOWN).astype(np.uint8)  # no slot falls a day earlier
    index = pd.DatetimeIndex(times).as_unit("us")
    positions = ((index - index[0]) // step).to_numpy(dtype=np.int64)
    return repeated_day_flags(
        np.asarray(speed_ms, dtype=float),
        positions,
        int(pd.Timedelta("1D") / step),
        _slots_of(quality, "repeated_day_fail_hours", freq),
        quality.flat_line_tolerance_ms,
    )


def _flat_line_direction_flags(
    direction: np.ndarray, speed: np.ndarray, quality: QualitySettings, freq: str
) -> np.ndarray:
    """Stuck vane: direction flat while the wind blows; light-wind hours are not tested."""
    windy = speed >= quality.direction_flat_line_min_speed_ms
    flags = flat_line_flags(
        np.where(windy, direction, np.nan),
        _slots_of(quality, "direction_flat_line_suspect_hours", freq),
        _slots_of(quality, "direction_flat_line_fail_hours", freq),
        quality.direction_flat_line_tolerance_deg,
    )
    flags[~windy & ~np.isnan(direction)] = UNKNOWN
    return flags


def _slots_of(quality: QualitySettings, name: str, freq: str) -> int:
    """Grid intervals spanned by the duration setting `name` (hours)."""
    return window_slots(getattr(quality, name), freq, name)


def _steady_runs(values: np.ndarray, min_steps: int, tolerance: float) -> np.ndarray:
    """Slots of the runs of >= min_steps consecutive steps smaller than tolerance, -1 before each run."""
    with np.errstate(invalid="ignore"):
        steady = np.abs(np.diff(values)) < tolerance
    edges = np.diff(np.concatenate([[0], steady.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # steps [start, stop)
    keep = stops - starts >= min_steps
    runs = [np.arange(a - 1, b + 1) for a, b in zip(starts[keep], stops[keep], strict=True)]
    if not runs:
        return np.zeros(0, dtype=np.int64)
    picked = np.concatenate(runs)
    picked[np.cumsum([0] + [len(r) for r in runs[:-1]])] = -1  # the first slot of each range is the separator
    return picked


def _neighbour_flags(values: np.ndarray) -> np.ndarray:
    """GOOD where a value has both neighbours, UNKNOWN where one is missing, MISSING where it is missing."""
    valid = ~np.isnan(values)
    both = np.zeros(len(values), dtype=bool)
    both[1:-1] = valid[:-2] & valid[2:]
    return np.where(~valid, MISSING, np.where(both, GOOD, UNKNOWN)).astype(np.uint8)


def _gap_free_windows(valid: np.ndarray, count: int) -> np.ndarray:
    """Whether the window of count + 1 slots ending at each slot holds no missing value."""
    filled = np.concatenate([[0], np.cumsum(valid)])
    ends = np.arange(len(valid))
    full = np.zeros(len(valid), dtype=bool)
    tail = ends >= count
    full[tail] = filled[ends[tail] + 1] - filled[ends[tail] - count] == count + 1
    return full


def _spread_back(ends: np.ndarray, count: int) -> np.ndarray:
    """Mark every slot of the windows of count + 1 slots that end at the flagged slots."""
    idx = np.flatnonzero(ends)
    marks = np.zeros(len(ends) + 1, dtype=np.int64)
    np.add.at(marks, idx - count, 1)
    np.add.at(marks, idx + 1, -1)
    return np.cumsum(marks[:-1]) > 0


def _plain(flags: np.ndarray) -> np.ndarray:
    """A plain uint8 array from an ioos-qc (masked) flag array."""
    return np.ma.getdata(flags).astype(np.uint8)
