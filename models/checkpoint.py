"""Save and load forecasters as plain dicts of tensors and builtins (`torch.load(..., weights_only=True)`)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.features import FeatureSpec
from models.networks import ForecastEnsemble, NetworkConfig
from models.scaling import Scaler
from models.training import FitResult, Forecaster

FORMAT = "windcast-forecaster/1"


def _plain(value: Any, where: str) -> Any:
    """Builtins only (numpy scalars and arrays become floats/lists); anything else is a ValueError."""
    if isinstance(value, np.generic):  # before float: np.float64 subclasses float but does not unpickle safely
        return value.item()
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise ValueError(f"checkpoint field {where} holds a {type(value).__name__}; only plain values are stored")


def save_checkpoint(
    path: str | Path,
    forecaster: Forecaster,
    *,
    training_window: dict[str, str] | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write the forecaster and its metadata atomically (temp file + os.replace); returns the path."""
    path = Path(path)
    config = forecaster.model.config
    spec = forecaster.features
    payload = {
        "format": FORMAT,
        "kind": config.kind,
        "state_dict": {k: v.detach().cpu() for k, v in forecaster.model.state_dict().items()},
        "network": _plain(config.to_dict(), "network"),
        "scaler": forecaster.scaler.to_dict(),
        "feature_names": spec.names,
        "features": {
            "direction": spec.direction,
            "gust": spec.gust,
            "climatology": spec.climatology,
            "day_of_year": spec.day_of_year,
        },
        "climatology": _plain(forecaster.climatology, "climatology"),
        "lookback_steps": int(forecaster.lookback_steps),
        "horizon_steps": int(forecaster.horizon_steps),
        "freq": forecaster.freq,
        "nwp_scaler": None if forecaster.nwp_scaler is None else forecaster.nwp_scaler.to_dict(),
        "training_window": _plain(training_window or {}, "training_window"),
        "metrics": _plain(metrics or {}, "metrics"),
        "extra": _plain(extra or {}, "extra"),
        "created_at": datetime.now(UTC).isoformat(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as open() would: mkstemp's 0600 would hide the model from other readers
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_fit(path: str | Path, fit: FitResult, extra: dict | None = None) -> Path:
    """Save a `fit_forecaster` result: forecaster, training window, metrics; cutoffs etc. go to `extra`."""
    more = {
        "cutoffs": {sid: c.to_dict() for sid, c in fit.cutoffs.items()},
        "best_epochs": fit.best_epochs,
        "n_windows": fit.n_windows,
        "init_weights": fit.init_weights,
        "skip": fit.skip_choice,
        **(extra or {}),
    }
    return save_checkpoint(path, fit.forecaster, training_window=fit.training_window, metrics=fit.metrics, extra=more)


def read_payload(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint's plain dict (weights-only load), refusing a file that is not a forecaster checkpoint."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if found != FORMAT:
        raise ValueError(f"{str(path)!r} is not a {FORMAT} checkpoint (format {found!r})")
    return payload


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Forecaster, dict]:
    """Rebuild the forecaster (eval mode, on map_location); returns it with the metadata (all but weights)."""
    payload = read_payload(path, map_location)
    model = ForecastEnsemble(NetworkConfig.from_dict(payload["network"]))
    model.load_state_dict(payload["state_dict"])
    model.to(map_location).eval()
    spec = FeatureSpec(**payload["features"])
    if spec.names != payload["feature_names"]:
        raise ValueError(f"{str(path)!r}: feature names {payload['feature_names']} do not match {spec.names}")
    forecaster = Forecaster(
        model, Scaler.from_dict(payload["scaler"]), spec, payload["lookback_steps"], payload["horizon_steps"],
        payload["climatology"], payload["freq"],
        None if payload.get("nwp_scaler") is None else Scaler.from_dict(payload["nwp_scaler"]),
    )  # fmt: skip
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return forecaster, meta
