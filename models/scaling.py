"""Per-channel standardisation fitted on training rows only; sin/cos channels pass through unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scaler:
    """x_scaled = (x - mean) / std per channel; plain lists so a checkpoint can hold it."""

    mean: list[float]
    std: list[float]

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale a (..., F) array; NaN stays NaN."""
        return ((values - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)

    def inverse_channel(self, scaled: np.ndarray, channel: int = 0) -> np.ndarray:
        """Undo the scaling of one channel (default the target, channel 0)."""
        return scaled * self.std[channel] + self.mean[channel]

    def to_dict(self) -> dict[str, list[float]]:
        """Plain dict for a checkpoint."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, params: dict) -> Scaler:
        """Rebuild from `to_dict` output."""
        return cls(mean=[float(v) for v in params["mean"]], std=[float(v) for v in params["std"]])


def fit_scaler(
    train_values: list[np.ndarray], scaled_channels: list[int], tied: dict[int, int] | None = None
) -> Scaler:
    """Fit mean/std of the chosen channels over the finite training rows of one or more (T, F) matrices.

    Args:
        tied: channel -> channel whose statistics it reuses (so the two stay directly comparable).
    """
    rows = np.concatenate([v[np.isfinite(v).all(axis=1)] for v in train_values], axis=0).astype(np.float64)
    n_features = train_values[0].shape[1]
    if len(rows) < 2:
        raise ValueError(f"need >= 2 observed training rows to fit the scaler, got {len(rows)}")
    mean, std = np.zeros(n_features), np.ones(n_features)
    for c in scaled_channels:
        mean[c] = rows[:, c].mean()
        std[c] = max(rows[:, c].std(), 1e-6)  # a constant channel must not divide by zero
    for c, source in (tied or {}).items():
        mean[c], std[c] = mean[source], std[source]
    return Scaler(mean=mean.tolist(), std=std.tolist())
