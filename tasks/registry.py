"""The model registry: numbered versions per station and model kind, and a pointer to each station's champion.

```
registry/<station>/<kind>/v0001/   model.pt (networks) or params.json (baselines), meta.json
registry/<station>/champion.json   which kind and version forecasts for the station, and why
```
A version folder is assembled under a hidden temporary name and renamed into place, so a reader never sees a
half-written version; the champion pointer is replaced atomically.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tasks.atomic_files import DIR_MODE, atomic_write_bytes
from tasks.store import Store

VERSION_RE = re.compile(r"^v(\d{4,})$")
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model."""

    station_id: str
    kind: str
    version: int
    path: Path  # the version folder

    @property
    def label(self) -> str:
        """Human form, e.g. ``gru v3``."""
        return f"{self.kind} v{self.version}"


def registry_dir(store: Store, station_id: str) -> Path:
    """The registry folder of one station (the id checked to stay inside the data directory)."""
    return store.station_dir(store.root / "registry", station_id, hive=False)


def _kind_dir(store: Store, station_id: str, kind: str) -> Path:
    if not KIND_RE.fullmatch(kind):
        raise ValueError(f"model kind {kind!r} must be lowercase letters, digits or '_'")
    return registry_dir(store, station_id) / kind


def list_versions(store: Store, station_id: str, kind: str) -> list[ModelVersion]:
    """Registered versions of a kind for a station, oldest first."""
    folder = _kind_dir(store, station_id, kind)
    if not folder.exists():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := VERSION_RE.match(p.name)) and p.is_dir()]
    return [ModelVersion(station_id, kind, n, p) for n, p in sorted(found)]


def get_version(store: Store, station_id: str, kind: str, version: int) -> ModelVersion:
    """One registered version, or a clear error."""
    path = _kind_dir(store, station_id, kind) / f"v{version:04d}"
    if not path.is_dir():
        raise FileNotFoundError(f"station {station_id!r}: no {kind} v{version} in the registry ({path})")
    return ModelVersion(station_id, kind, version, path)


def register(store: Store, station_id: str, kind: str, write: Callable[[Path], None], meta: dict) -> ModelVersion:
    """Add the next version of a kind: ``write(folder)`` fills a fresh folder, which is then renamed into place."""
    folder = _kind_dir(store, station_id, kind)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
    staging.chmod(DIR_MODE)  # mkdtemp makes it 0700; the version folder must be as readable as any other
    try:
        write(staging)
        existing = list_versions(store, station_id, kind)
        version = existing[-1].version + 1 if existing else 1
        meta = {**meta, "station_id": station_id, "kind": kind, "version": version}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        while True:
            target = folder / f"v{version:04d}"
            try:
                staging.rename(target)  # atomic; fails if another writer took this number
                break
            except OSError:
                if not target.exists():
                    raise
                version += 1
                meta["version"] = version
                (staging / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelVersion(station_id, kind, version, target)


def read_meta(version: ModelVersion) -> dict:
    """The metadata stored with a version."""
    return json.loads((version.path / "meta.json").read_text())


def read_champion(store: Store, station_id: str) -> dict | None:
    """The station's champion pointer (kind, version, reason, ...) or None before the first promotion."""
    path = registry_dir(store, station_id) / "champion.json"
    return json.loads(path.read_text()) if path.exists() else None


def set_champion(store: Store, version: ModelVersion, reason: str, rmse_ms: float | None) -> dict:
    """Point the station's champion at ``version``, keeping the previous pointers as history."""
    previous = read_champion(store, version.station_id)
    history = [] if previous is None else [*previous.get("history", []), _without_history(previous)]
    pointer = {
        "station_id": version.station_id,
        "kind": version.kind,
        "version": version.version,
        "path": version.path.relative_to(store.root).as_posix(),
        "rmse_ms": rmse_ms,
        "reason": reason,
        "promoted_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "history": history[-50:],
    }
    atomic_write_bytes(
        registry_dir(store, version.station_id) / "champion.json", json.dumps(pointer, indent=2).encode()
    )
    return pointer


def _without_history(pointer: dict) -> dict:
    return {k: v for k, v in pointer.items() if k != "history"}
