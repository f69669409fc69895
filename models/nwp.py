"""Weather-model (NWP) point forecasts aligned to forecast origins without leakage, and the two NWP baselines.

The issue-time rule: a forecast from origin t may only use NWP issued at or before t. `align_nwp` picks, for
every origin, the latest such issue and reads its values at the target hours t + 1 .. t + H with their true
leads (t + h - issued_at); it never falls back to an older issue for a lead the latest one lacks, and never
looks at a later one. `refuse_future_issues` is the guard every consumer of pre-aligned NWP calls.

NWP frames carry the `nwp/` dataset's columns (windcast.schemas.NWP_SCHEMA); only one weather model at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NWP_RAW_COLUMNS = ["wind_speed_10m_ms", "wind_dir_10m_deg"]  # what the alignment reads, in this order
NWP_FEATURE_NAMES = ["nwp_wind_speed_ms", "nwp_dir_sin", "nwp_dir_cos"]  # future-known inputs of the networks
MOS_RIDGE = 1e-3  # tiny ridge on the slope so a constant forecast cannot make the per-lead fit singular


@dataclass(frozen=True)
class AlignedNwp:
    """NWP at each origin's target hours: values (N, H, 2) [speed m/s, direction deg], NaN where missing."""

    origin_times: pd.DatetimeIndex  # (N,) UTC
    issued_at: pd.DatetimeIndex  # (N,) the issue each origin used; NaT when none was available
    values: np.ndarray  # (N, H, 2) float64

    @property
    def lead_hours(self) -> np.ndarray:
        """(N, H) true lead in hours of each value (target time - issue time); NaN without an issue."""
        h = self.values.shape[1]
        age = (self.origin_times - self.issued_at) / pd.Timedelta("1h")
        return np.asarray(age, dtype=float)[:, None] + np.arange(1, h + 1)[None, :]

    @property
    def complete(self) -> np.ndarray:
        """(N,) True where every lead of every variable is known."""
        return np.isfinite(self.values).all(axis=(1, 2))


def _utc(times) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(times)
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def align_nwp(
    nwp: pd.DataFrame,
    origin_times,
    horizon_steps: int,
    freq: str = "1h",
    max_issue_age_h: float | None = None,
) -> AlignedNwp:
    """NWP for each origin from the latest issue at or before it (see the module docstring).

    Args:
        nwp: rows of one model with `issued_at`, `valid_time` and NWP_RAW_COLUMNS.
        origin_times: N origin times; lead h targets origin + h * freq.
        max_issue_age_h: an issue older than this at the origin counts as missing (stale).
    """
    for col in ["issued_at", "valid_time", *NWP_RAW_COLUMNS]:
        if col not in nwp.columns:
            raise ValueError(f"NWP rows lack column {col!r}, got {list(nwp.columns)}")
    if horizon_steps < 1:
        raise ValueError(f"horizon_steps must be >= 1, got {horizon_steps}")
    origins = _utc(origin_times)
    step = pd.Timedelta(freq).value
    n, out = len(origins), np.full((len(origins), horizon_steps, 2), np.nan)
    issued_at = pd.DatetimeIndex(np.full(n, np.datetime64("NaT"), "datetime64[ns]"), tz="UTC")
    if len(nwp) == 0 or n == 0:
        return AlignedNwp(origins, issued_at, out)
    issued_ns = _utc(nwp["issued_at"]).as_unit("ns").asi8
    valid_ns = _utc(nwp["valid_time"]).as_unit("ns").asi8
    if pd.MultiIndex.from_arrays([issued_ns, valid_ns]).has_duplicates:
        raise ValueError("NWP rows repeat an (issued_at, valid_time) pair: pass one weather model at a time")
    lead = (valid_ns - issued_ns) // step
    keep = (lead >= 1) & ((valid_ns - issued_ns) % step == 0)
    issues = np.unique(issued_ns)
    max_lead = int(lead[keep].max()) if keep.any() else 0
    dense = np.full((len(issues), max_lead + 1, 2), np.nan)  # (issue, lead, variable)
    values = nwp[NWP_RAW_COLUMNS].to_numpy(dtype=float, na_value=np.nan)
    dense[np.searchsorted(issues, issued_ns[keep]), lead[keep]] = values[keep]
    o_ns = origins.as_unit("ns").asi8
    k = np.searchsorted(issues, o_ns, side="right") - 1  # the latest issue at or before each origin
    has = k >= 0
    if max_issue_age_h is not None:
        has &= (o_ns - issues[np.maximum(k, 0)]) <= max_issue_age_h * 3.6e12
    age_steps = (o_ns - issues[np.maximum(k, 0)]) // step
    idx = age_steps[:, None] + np.arange(1, horizon_steps + 1)[None, :]  # (N, H) lead into that issue
    inside = has[:, None] & (idx <= max_lead)
    rows, cols = np.nonzero(inside)
    out[rows, cols] = dense[k[rows], idx[rows, cols]]
    issued = np.where(has, issues[np.maximum(k, 0)], np.iinfo(np.int64).min)
    issued_at = pd.DatetimeIndex(pd.to_datetime(issued, utc=True))
    return AlignedNwp(origins, issued_at, out)


def refuse_future_issues(aligned: AlignedNwp, origin_times=None) -> None:
    """Raise ValueError when any origin's NWP was issued after it (or is aligned to other origins)."""
    if origin_times is not None:
        origins = _utc(origin_times)
        if len(origins) != len(aligned.origin_times) or not (origins == aligned.origin_times).all():
            raise ValueError("the NWP was aligned to other origins than the ones forecast from")
    late = np.flatnonzero(np.asarray(aligned.issued_at > aligned.origin_times))
    if len(late):
        i = late[0]
        raise ValueError(
            f"NWP issued at {aligned.issued_at[i]} is after origin {aligned.origin_times[i]}: a forecast may only "
            f"use NWP issued at or before its origin ({len(late)} origin(s) affected)"
        )


def nwp_features(values: np.ndarray) -> np.ndarray:
    """Future-known input channels (..., 3) = NWP_FEATURE_NAMES from aligned values (..., 2)."""
    rad = np.deg2rad(values[..., 1])
    return np.stack([values[..., 0], np.sin(rad), np.cos(rad)], axis=-1).astype(np.float32)


def nwp_forecast(aligned: AlignedNwp) -> np.ndarray:
    """The `nwp` baseline: the weather model's own speed at each target hour, (N, H) m/s."""
    return aligned.values[..., 0].copy()


def fit_nwp_mos(aligned: AlignedNwp, y_true: np.ndarray) -> dict[str, list[float]]:
    """The `nwp_mos` baseline's fit: per lead h, y = a_h + b_h * nwp_speed_h by least squares.

    Args:
        aligned: NWP at the fitting origins (training part only).
        y_true: (N, H) observed targets at those origins; NaN pairs are skipped.
    """
    speed = aligned.values[..., 0]
    if speed.shape != y_true.shape:
        raise ValueError(f"NWP {speed.shape} and targets {y_true.shape} must have the same (N, H) shape")
    a, b = [], []
    for h in range(speed.shape[1]):
        ok = np.isfinite(speed[:, h]) & np.isfinite(y_true[:, h])
        if ok.sum() < 3:
            raise ValueError(f"nwp_mos: lead {h + 1} has {int(ok.sum())} (NWP, observation) pairs, need >= 3")
        x, y = speed[ok, h], y_true[ok, h]
        xc, yc = x - x.mean(), y - y.mean()
        slope = float((xc * yc).sum() / ((xc * xc).sum() + MOS_RIDGE * len(x)))
        a.append(float(y.mean() - slope * x.mean()))
        b.append(slope)
    return {"intercept": a, "slope": b}


def nwp_mos_forecast(aligned: AlignedNwp, params: dict) -> np.ndarray:
    """The `nwp_mos` baseline: the per-lead linear correction of the NWP speed, (N, H)."""
    a, b = np.asarray(params["intercept"], float), np.asarray(params["slope"], float)
    speed = aligned.values[..., 0]
    if speed.shape[1] != len(a):
        raise ValueError(f"nwp_mos was fitted for {len(a)} leads, got NWP with {speed.shape[1]}")
    return a[None, :] + b[None, :] * speed


NWP_BASELINES = ("nwp", "nwp_mos")
