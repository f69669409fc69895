"""The `nwp/` dataset: weather-model forecasts per station, model and issue, merged idempotently and atomically.

Layout: nwp/station_id=<id>/model=<model>/issued_date=<YYYY-MM-DD>/part-0.parquet, keyed inside a file by
(issued_at, valid_time). Writes go through the store's atomic Parquet writer; re-ingesting the same payloads
leaves every file byte-identical.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

from tasks import store as st
from windcast.schemas import NWP_SCHEMA, NWP_VALUE_COLUMNS

NWP_DIR = "nwp"
NWP_KEY = ["issued_at", "valid_time"]


def merge_nwp(store: st.Store, station_id: str, rows: pd.DataFrame) -> st.MergeCounts:
    """Merge curated NWP rows: new (issue, valid hour) pairs inserted, revised values replaced, equal ones left."""
    counts = st.MergeCounts()
    if rows.empty:
        return counts
    root = store.station_dir(store.root / NWP_DIR, station_id)
    rows = _normalise(rows.assign(station_id=station_id))
    day = rows["issued_at"].dt.strftime("%Y-%m-%d")
    for (model, issued_date), new in rows.groupby([rows["model"], day], sort=True):
        path = root / f"model={model}" / f"issued_date={issued_date}" / st.PART_FILE
        old = _read_file(path, station_id, model)
        new, old = new.set_index(NWP_KEY, drop=False), old.set_index(NWP_KEY, drop=False)
        common = new.index.intersection(old.index)
        same = st._same_values(old.loc[common], new.loc[common], NWP_VALUE_COLUMNS)
        changed = common[~same.to_numpy()]
        inserted = new.index.difference(old.index)
        counts.unchanged += len(common) - len(changed)
        counts.updated += len(changed)
        counts.inserted += len(inserted)
        if len(changed) == 0 and len(inserted) == 0:
            continue
        merged = pd.concat([old.drop(index=changed), new.loc[changed.union(inserted)]])
        merged = merged.sort_index().reset_index(drop=True)
        table = pa.Table.from_pandas(merged[NWP_SCHEMA.names], schema=NWP_SCHEMA, preserve_index=False)
        st.atomic_write_table(path, table.drop_columns(["station_id", "model"]))
        counts.files_written += 1
    return counts


def _normalise(rows: pd.DataFrame) -> pd.DataFrame:
    """The schema's columns and dtypes (so stored and new rows compare equal)."""
    return pa.Table.from_pandas(rows[NWP_SCHEMA.names], schema=NWP_SCHEMA, preserve_index=False).to_pandas()


def _read_file(path, station_id: str, model: str) -> pd.DataFrame:
    if not path.exists():
        return NWP_SCHEMA.empty_table().to_pandas()
    frame = pd.read_parquet(path).assign(station_id=station_id, model=model)
    return _normalise(frame)


def read_nwp(store: st.Store, station_id: str, model: str | None = None) -> pd.DataFrame:
    """A station's NWP rows (one weather model or all), sorted by model, issue and valid hour."""
    frame = st.read_station_dataset(store, NWP_DIR, NWP_SCHEMA, station_id)
    frame["model"] = frame["model"].astype(str)
    if model is not None:
        frame = frame[frame["model"] == model]
    return frame.sort_values(["model", *NWP_KEY]).reset_index(drop=True)


def known_runs(store: st.Store, station_id: str) -> set[pd.Timestamp]:
    """Initialisation times of the past runs already fetched for the station (their payloads are in raw/, even
    when every row was quarantined), so each run is asked for once."""
    from tasks.sources.open_meteo_forecast import SOURCE_RUN, run_of

    folder = store.station_dir(store.raw_dir, station_id, hive=False) / SOURCE_RUN
    return {run_of(json.loads(p.read_text())["url"]) for p in folder.glob("*.json.json")}
