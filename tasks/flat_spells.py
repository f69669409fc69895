"""Resolution-aware stuck-sensor tests on a compact grid (NaN = gap): flat speed spells and repeated days.

A sensor that reports whole m/s (KNMI, NDBC realtime) or whole knots (METAR) holds one reading for many hours
in ordinary weather, while a 0.1 m/s sensor rarely repeats a value twice. So a flat spell is judged by how
unlikely it is at the station's resolution, not by a fixed length:

- resolution ``r``: from the config, else inferred per station as the smallest common step between
  neighbouring distinct speeds (a stray odd value does not make a 1 m/s sensor look fine-grained);
  two readings are "the same" when they differ by less than ``max(tolerance, r / 2)``;
- the chance that a reading repeats at the next step, ``p``, is counted in the station's own data per 1 m/s
  speed band, leaving out the spell being judged (and every spell already as long as the hard limit), and
  shrunk towards the station-wide rate (which itself is shrunk towards 1/2) when a band holds few steps;
- a spell of ``n`` equal readings has chance ``p ** (n - 1)``: below ``fail_chance`` it fails, below
  ``suspect_chance`` it is suspect; spells shorter than ``min_hours`` are never flagged;
- whatever the resolution, a non-calm spell of ``max_hours`` fails (a stuck sensor in windy weather), and a calm
  spell (below ``min_speed_ms``) fails only at ``calm_fail_hours`` (calm nights are ordinary).

A repeated day is a placeholder, not a measurement: when every reading of ``repeat_fail_hours`` in a row equals
the reading one day earlier (and they are not all one value: that is a flat spell), those readings and the day
they copy fail ``repeated_day``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOOD, SUSPECT, FAIL, MISSING = 1, 3, 4, 9
_PRIOR_STEPS = 24.0  # weight (in steps) of the prior when a speed band or a station holds few steps
_PRIOR_REPEAT = 0.5  # station-wide prior chance that a reading repeats
_MAX_BAND = 40  # speed bands of 1 m/s, the last one open-ended


@dataclass(frozen=True)
class FlatSpellRule:
    """Thresholds of the flat speed test, durations already in grid slots."""

    resolution_ms: float | None  # None: inferred from the data
    tolerance_ms: float  # smallest tolerance, whatever the resolution
    min_speed_ms: float  # spells below this are calm
    min_slots: int
    max_slots: int
    calm_fail_slots: int
    suspect_chance: float
    fail_chance: float


def infer_resolution_ms(speed: np.ndarray) -> float:
    """Reporting step of a speed series (m/s): the smallest common step between neighbouring distinct values.

    "Common": at least a fifth as frequent as the most frequent step, so a stray odd value does not make a
    whole-m/s sensor look fine-grained. 0.0 with fewer than two distinct values.
    """
    values = np.unique(np.round(speed[np.isfinite(speed)], 6))
    steps, counts = np.unique(np.round(np.diff(values), 6), return_counts=True)
    common = steps[(counts >= 0.2 * counts.max()) & (steps > 0)] if len(steps) else steps
    return float(common.min()) if len(common) else 0.0


def flat_spells(values: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of every maximal gap-free run of readings whose consecutive steps are below tolerance.

    Every non-missing slot belongs to exactly one spell (a lone reading is a spell of length 1).
    """
    valid = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        same = np.abs(np.diff(values)) < tolerance  # False across a gap (NaN)
    new = valid.copy()
    new[1:] &= ~same
    starts = np.flatnonzero(new)
    # a spell ends at the last valid slot before the next start or gap
    ends = np.empty_like(starts)
    if len(starts):
        breaks = np.flatnonzero(new | ~valid)
        nxt = np.searchsorted(breaks, starts, side="right")
        ends = np.where(nxt < len(breaks), breaks[np.minimum(nxt, len(breaks) - 1)], len(values))
    return starts, ends - starts


def flat_speed_flags(speed: np.ndarray, rule: FlatSpellRule) -> np.ndarray:
    """GOOD / SUSPECT / FAIL / MISSING per slot for the flat speed test (see the module docstring)."""
    flags = np.where(np.isnan(speed), MISSING, GOOD).astype(np.uint8)
    resolution = rule.resolution_ms if rule.resolution_ms is not None else infer_resolution_ms(speed)
    starts, lengths = flat_spells(speed, max(rule.tolerance_ms, resolution / 2))
    if not len(starts):
        return flags
    level = speed[starts]
    calm = level < rule.min_speed_ms
    log_chance = _log_chance(level, lengths, rule.max_slots)
    long_enough = lengths >= rule.min_slots
    fail = np.where(
        calm,
        lengths >= rule.calm_fail_slots,
        (lengths >= rule.max_slots) | (long_enough & (log_chance < np.log(rule.fail_chance))),
    )
    suspect = ~calm & long_enough & (log_chance < np.log(rule.suspect_chance)) & ~fail
    for verdict, mark in ((suspect, SUSPECT), (fail, FAIL)):
        flags[_spell_slots(starts[verdict], lengths[verdict], len(speed))] = mark
    return flags


def repeated_day_flags(values: np.ndarray, positions: np.ndarray, day_slots: int, fail_slots: int, tolerance: float):
    """FAIL where `fail_slots` consecutive readings each equal the reading one day earlier (and on the day copied).

    Args:
        values: readings, NaN where missing or already rejected.
        positions: strictly increasing grid positions of the readings (time / step), gaps included.
    """
    flags = np.where(np.isnan(values), MISSING, GOOD).astype(np.uint8)
    if day_slots < 1 or len(values) == 0:
        return flags
    earlier = np.searchsorted(positions, positions - day_slots)
    earlier = np.minimum(earlier, len(values) - 1)
    has_earlier = positions[earlier] == positions - day_slots
    with np.errstate(invalid="ignore"):
        same = has_earlier & (np.abs(values - values[earlier]) < tolerance)
    if not same.any():
        return flags
    # runs of matching readings must also be consecutive in time
    consecutive = np.concatenate([[False], np.diff(positions) == 1])
    starts_run = same & ~(np.concatenate([[False], same[:-1]]) & consecutive)
    run_id = np.cumsum(starts_run) - 1  # valid where `same`
    lengths = np.bincount(run_id[same], minlength=int(starts_run.sum()))
    spread = np.zeros(len(lengths))
    np.maximum.at(spread, run_id[same], values[same])
    low = np.full(len(lengths), np.inf)
    np.minimum.at(low, run_id[same], values[same])
    # a constant stretch also equals itself a day earlier: that is the flat-line test's to judge
    keep = (lengths >= fail_slots) & (spread - low >= tolerance)
    members = np.flatnonzero(same & keep[np.maximum(run_id, 0)])
    flags[members] = FAIL
    flags[earlier[members]] = FAIL
    return flags


def _log_chance(level: np.ndarray, lengths: np.ndarray, max_slots: int) -> np.ndarray:
    """Natural log of the chance of each spell: p ** (length - 1), p counted without the spell itself."""
    band = np.clip(np.floor(np.nan_to_num(level)), 0, _MAX_BAND).astype(np.int64)
    counted = lengths < max_slots  # spells already at the hard limit would teach that sticking is normal
    repeats = (lengths - 1) * counted
    steps = lengths * counted  # each spell: length - 1 repeats, then one step away
    band_repeats = np.bincount(band, weights=repeats, minlength=_MAX_BAND + 1)
    band_steps = np.bincount(band, weights=steps, minlength=_MAX_BAND + 1)
    # leave the judged spell out of its own evidence
    own_repeats, own_steps = repeats.astype(float), steps.astype(float)
    station = (repeats.sum() - own_repeats + _PRIOR_STEPS * _PRIOR_REPEAT) / (steps.sum() - own_steps + _PRIOR_STEPS)
    chance = (band_repeats[band] - own_repeats + _PRIOR_STEPS * station) / (band_steps[band] - own_steps + _PRIOR_STEPS)
    with np.errstate(divide="ignore"):
        return (lengths - 1) * np.log(chance)


def _true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return starts, stops - starts


def _spell_slots(starts: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """Boolean mask of the slots covered by the spells."""
    marks = np.zeros(size + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, starts + lengths, -1)
    return np.cumsum(marks[:-1]) > 0
