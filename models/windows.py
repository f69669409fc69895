"""(lookback, horizon) windows as strided views over a (T, F) series, gap checks, and time splits.

A window starting at row s reads history rows s .. s+L-1 and targets rows s+L .. s+L+H-1. Its origin is row
s+L-1, the last observed hour: `origin_time` is that row's time and lead h targets origin_time + h steps.
Nothing here copies L x windows: views come from `sliding_window_view` and a minibatch is gathered by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


@dataclass(frozen=True)
class Cutoffs:
    """Explicit cutoffs: train is time < train_end, validation train_end <= time < val_end, test the rest."""

    train_end: pd.Timestamp
    val_end: pd.Timestamp

    def __post_init__(self) -> None:
        if not self.train_end < self.val_end:
            raise ValueError(f"cutoffs need train_end < val_end, got {self.train_end} and {self.val_end}")

    def stops(self, times: pd.DatetimeIndex) -> tuple[int, int]:
        """Grid rows (train_stop, val_stop): the first row of validation and the first row of test."""
        return int(times.searchsorted(self.train_end)), int(times.searchsorted(self.val_end))

    def to_dict(self) -> dict[str, str]:
        """ISO strings, for checkpoints and logs."""
        return {"train_end": self.train_end.isoformat(), "val_end": self.val_end.isoformat()}


def make_cutoffs(times: pd.DatetimeIndex, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> Cutoffs:
    """Cutoffs that leave the given fractions of the OBSERVED hours in train, validation and test.

    Counting observed hours rather than the time span keeps every part populated on a gappy series (TMY3:
    twelve months from different years); on a gap-free series the two agree.
    """
    train, val, test = fractions
    if min(fractions) <= 0 or abs(train + val + test - 1) > 1e-6:
        raise ValueError(f"split fractions {fractions!r} must be > 0 and sum to 1")
    if len(times) < 3:
        raise ValueError(f"need >= 3 observed times to split, got {len(times)}")
    at = [int(np.floor(f * len(times))) for f in (train, train + val)]
    return Cutoffs(pd.Timestamp(times[at[0]]), pd.Timestamp(times[at[1]]))


def gap_free_starts(valid_rows: np.ndarray, length: int) -> np.ndarray:
    """Start rows s where valid_rows[s : s + length] are all True (vectorised with a cumulative count)."""
    if length < 1:
        raise ValueError(f"window length must be >= 1, got {length}")
    bad = np.concatenate([[0], np.cumsum(~np.asarray(valid_rows, dtype=bool))])  # bad[i] = invalid rows in [:i]
    n_starts = len(valid_rows) - length + 1
    if n_starts <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(bad[length : length + n_starts] - bad[:n_starts] == 0).astype(np.int64)


def history_view(values: np.ndarray, lookback_steps: int) -> np.ndarray:
    """View (T-L+1, L, F) of a (T, F) array: row s is values[s : s+L]; no copy."""
    return sliding_window_view(values, lookback_steps, axis=0, writeable=True).transpose(
        0, 2, 1
    )  # torch needs writeable; never written


def target_view(target: np.ndarray, horizon_steps: int) -> np.ndarray:
    """View (T-H+1, H) of a (T,) array: row r is target[r : r+H]; no copy."""
    return sliding_window_view(target, horizon_steps, writeable=True)


def split_starts(
    starts: np.ndarray, train_stop: int, val_stop: int, lookback_steps: int, horizon_steps: int
) -> dict[str, np.ndarray]:
    """Assign window starts to train/val/test by where ALL their targets fall; straddlers are dropped."""
    first_target = starts + lookback_steps
    last_target = first_target + horizon_steps - 1
    return {
        "train": starts[last_target < train_stop],
        "val": starts[(first_target >= train_stop) & (last_target < val_stop)],
        "test": starts[first_target >= val_stop],
    }


@dataclass
class WindowSet:
    """Several stations' scaled (T, F) matrices joined by NaN seam rows, with window starts per split.

    Memory is O(total rows): `gather` builds a minibatch (B, L, F) from the strided view by index.
    """

    values: np.ndarray  # (T, F) float32, NaN at gaps and seams; channel 0 is the target
    lookback_steps: int
    horizon_steps: int
    starts: dict[str, np.ndarray] = field(default_factory=dict)
    future: np.ndarray | None = None  # (T, H, K) float32 future-known inputs of the origin at each row, or None

    def __post_init__(self) -> None:
        self.x_view = torch.from_numpy(history_view(self.values, self.lookback_steps))  # (T-L+1, L, F) view
        target = np.ascontiguousarray(self.values[:, 0])  # (T,) one column, O(series)
        self.y_view = torch.from_numpy(target_view(target, self.horizon_steps))  # (T-H+1, H) view
        self.f_all = None if self.future is None else torch.from_numpy(self.future)

    def gather(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Minibatch (x (B, L, F), y (B, H)) for the given window starts."""
        idx = torch.as_tensor(starts, dtype=torch.long)
        return self.x_view[idx], self.y_view[idx + self.lookback_steps]

    def gather_future(self, starts: np.ndarray) -> torch.Tensor | None:
        """Future-known inputs (B, H, K) of the windows' origins (row start + L - 1), or None."""
        if self.f_all is None:
            return None
        return self.f_all[torch.as_tensor(starts, dtype=torch.long) + self.lookback_steps - 1]


def build_window_set(
    matrices: list[np.ndarray],
    stops: list[tuple[int, int]],
    lookback_steps: int,
    horizon_steps: int,
    futures: list[np.ndarray] | None = None,
) -> WindowSet:
    """Join stations' scaled matrices and list gap-free window starts per split.

    Args:
        matrices: each station's scaled (T_i, F) float32 matrix, NaN rows at gaps.
        stops: each station's (train_stop, val_stop) grid rows from `Cutoffs.stops`.
        futures: each station's (T_i, H, K) future-known inputs of the origin at each row (NaN: unknown);
            a window counts only when its origin's are all known.
    """
    for name, value in (("lookback_steps", lookback_steps), ("horizon_steps", horizon_steps)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    n_features = matrices[0].shape[1]
    seam = np.full((1, n_features), np.nan, dtype=np.float32)
    parts, fparts, starts, offset = [], [], {"train": [], "val": [], "test": []}, 0
    for i, (values, (train_stop, val_stop)) in enumerate(zip(matrices, stops, strict=True)):
        local = gap_free_starts(np.isfinite(values).all(axis=1), lookback_steps + horizon_steps)
        if futures is not None:
            known = np.isfinite(futures[i]).all(axis=(1, 2))  # (T_i,)
            local = local[known[local + lookback_steps - 1]]
            fparts += [futures[i], np.full((1, *futures[i].shape[1:]), np.nan, dtype=np.float32)]
        for split, s in split_starts(local, train_stop, val_stop, lookback_steps, horizon_steps).items():
            starts[split].append(s + offset)
        parts += [values, seam]
        offset += len(values) + 1
    values = np.concatenate(parts, axis=0).astype(np.float32)
    future = np.concatenate(fparts, axis=0).astype(np.float32) if futures is not None else None
    split_starts_all = {k: np.concatenate(v) for k, v in starts.items()}
    return WindowSet(values, lookback_steps, horizon_steps, split_starts_all, future)
