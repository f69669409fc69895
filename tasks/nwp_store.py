"""The `nwp/` dataset: weather-model forecasts per station, model and issue, merged idempotently and atomically.

Layout: nwp/station_id=<id>/model=<model>/issued_date=<YYYY-MM-DD>/part-0.parquet, keyed inside a file by
(issued_at, valid_time). Writes go through the keyed upsert shared with measurements/ (``tasks.upsert``), under
the station's lock; re-ingesting the same payloads leaves every file byte-identical.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks import store as st
from tasks.upsert import split_by, upsert_partitions
from windcast.schemas import NWP_SCHEMA, NWP_VALUE_COLUMNS

NWP_DIR = "nwp"  # Store.nwp_dir
NWP_KEY = ["issued_at", "valid_time"]


def merge_nwp(store: st.Store, station_id: str, rows: pd.DataFrame) -> st.MergeCounts:
    """Merge curated NWP rows: new (issue, valid hour) pairs inserted, revised values replaced, equal ones left.

    Runs under the station's lock, so a scheduled and a manual run of one station take turns on its files.
    """
    if rows.empty:
        return st.MergeCounts()
    rows = rows.assign(station_id=station_id)[NWP_SCHEMA.names]
    table = pa.Table.from_pandas(rows, schema=NWP_SCHEMA, preserve_index=False)
    table = table.drop_columns(["station_id"])  # the station and the model are in the path
    root = store.station_dir(store.nwp_dir, station_id)
    models = table["model"].to_numpy(zero_copy_only=False).astype(str)
    parts = []
    for model, by_model in split_by(table, models):
        days = pc.strftime(by_model["issued_at"], format="%Y-%m-%d").to_numpy(zero_copy_only=False).astype(str)
        for issued_date, part in split_by(by_model.drop_columns(["model"]), days):
            parts.append((root / f"model={model}" / f"issued_date={issued_date}" / st.PART_FILE, part))
    with st.station_lock(store, station_id):
        return upsert_partitions(parts, NWP_KEY, NWP_VALUE_COLUMNS)


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
