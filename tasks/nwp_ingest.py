"""Ingest a station's weather-model forecasts: fetch into raw/, validate, write nwp/ and quarantine/.

Plain functions (tested directly); ``tasks/nwp_tasks.py`` wraps them as Prefect tasks. Row ledger, asserted by
the tests: every (model, hour) pair of every payload is curated, quarantined (reason and stage "nwp"), or merged as
a duplicate of the same issue and hour from a later payload.

Checks: the valid time parses and lies on the hour; no (model, hour) twice in a payload; the 10 m speed is present
and speeds lie in the quality range; direction lies in 0..360. Units are checked by the parser (a payload with a
missing or wrong unit is refused whole).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tasks import store as st
from tasks.ingest import load_raw_payload
from tasks.nwp_store import known_runs, merge_nwp
from tasks.sources.open_meteo_forecast import SOURCE_RUN, fetch_nwp, issue_times, parse_nwp, run_of
from windcast.clock import utc_now
from windcast.config import PipelineConfig, Station
from windcast.schemas import NWP_SCHEMA, QUARANTINE_COLUMNS

STAGE = "nwp"
SPEED_COLUMNS = ["wind_speed_10m_ms", "wind_speed_100m_ms", "wind_gust_10m_ms"]


@dataclass
class NwpCuration:
    """A station's NWP payloads as curated rows and quarantined rows, with the ledger."""

    station_id: str
    curated: pd.DataFrame
    quarantined: pd.DataFrame
    rows_parsed: int = 0
    rows_curated: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class NwpReport:
    """What one station's NWP ingest did (small, for task results and artifacts)."""

    station_id: str
    raw_refs: list[str]
    rows_parsed: int
    rows_curated: int
    rows_quarantined: int
    rows_duplicate: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    quarantine_rows_added: int
    latest_issue: str | None
    quarantine_by_reason: dict[str, int]

    def as_dict(self) -> dict:
        """Plain-dict form for artifacts and logs."""
        return asdict(self)


def _require_nwp(station: Station):
    if station.nwp is None:
        raise ValueError(f"station {station.id!r} has no nwp block in the config")
    return station.nwp


def fetch_nwp_to_raw(config: PipelineConfig, station: Station, now: pd.Timestamp | None = None) -> list[str]:
    """Fetch the latest forecast and the past runs not yet stored; keep each payload as received."""
    nwp = _require_nwp(station)
    store = st.Store(config.data_dir)
    refs = []
    for payload in fetch_nwp(nwp, station.id, config.http, known_runs(store, station.id), now=now):
        meta = {
            "station_id": station.id,
            "source": payload.source,
            "url": payload.url,
            "suffix": payload.suffix,
            "fetched_at": payload.fetched_at.isoformat(),
        }
        # a run's name goes into its file name: two runs may send the same bytes (a model without data)
        suffix = (
            f".{run_of(payload.url):%Y%m%dT%H%M}{payload.suffix}" if payload.source == SOURCE_RUN else payload.suffix
        )
        refs.append(st.save_raw_payload(store, station.id, payload.source, payload.content, suffix, meta))
    return refs


def curate_nwp(config: PipelineConfig, station: Station, raw_refs: list[str]) -> NwpCuration:
    """Parse and validate the payloads; later payloads win for the same (model, issue, hour)."""
    nwp = _require_nwp(station)
    store = st.Store(config.data_dir)
    now = utc_now().floor("us")
    parts = []
    for order, ref in enumerate(raw_refs):
        payload = load_raw_payload(store, ref)
        issued_at, run_time = issue_times(payload, nwp.availability_delay_hours)
        rows = parse_nwp(payload, nwp.models).rows
        rows["reason"] = _reasons(rows, config)
        parts.append(
            rows.assign(issued_at=issued_at, run_time=run_time, raw_ref=ref, source=payload.source, order=order)
        )
    if not parts:
        return NwpCuration(station.id, NWP_SCHEMA.empty_table().to_pandas(), _empty_quarantine())
    rows = pd.concat(parts, ignore_index=True)
    bad = rows["reason"].notna()
    good = rows[~bad].sort_values("order")
    kept = good.drop_duplicates(subset=["model", "issued_at", "valid_time"], keep="last")
    curated = kept.assign(
        station_id=station.id,
        lead_h=((kept["valid_time"] - kept["issued_at"]) / pd.Timedelta("1h")).round().astype("int32"),
        ingested_at=now,
    )[NWP_SCHEMA.names]
    quarantined = _quarantine_rows(rows[bad], station.id, now)
    by_reason = rows.loc[bad, "reason"].value_counts().sort_index().to_dict()
    return NwpCuration(
        station_id=station.id,
        curated=curated.reset_index(drop=True),
        quarantined=quarantined,
        rows_parsed=len(rows),
        rows_curated=len(curated),
        rows_quarantined=int(bad.sum()),
        rows_duplicate=len(good) - len(kept),
        quarantine_by_reason={str(k): int(v) for k, v in by_reason.items()},
    )


def _reasons(rows: pd.DataFrame, config: PipelineConfig) -> list[str | None]:
    """The first failed check of each row, or None."""
    q = config.quality
    valid = pd.DatetimeIndex(rows["valid_time"])
    checks = [
        ("nwp_bad_time", rows["time_reason"].notna().to_numpy() | valid.isna()),
        ("nwp_off_hour_grid", ~valid.isna() & (valid.floor("1h") != valid)),
        ("nwp_duplicate_time", rows.duplicated(subset=["model", "valid_time"], keep=False).to_numpy()),
        ("nwp_missing_wind_speed", rows["wind_speed_10m_ms"].isna().to_numpy()),
    ]
    for col in SPEED_COLUMNS:
        v = rows[col].to_numpy(dtype=float)
        checks.append((f"nwp_{col}_out_of_range", np.isfinite(v) & ((v < q.speed_min_ms) | (v > q.speed_max_ms))))
    d = rows["wind_dir_10m_deg"].to_numpy(dtype=float)
    checks.append(("nwp_wind_dir_10m_deg_out_of_range", np.isfinite(d) & ((d < 0) | (d > 360))))
    reasons: list[str | None] = [None] * len(rows)
    for name, failed in reversed(checks):  # the first check in the list wins
        for i in np.flatnonzero(failed):
            reasons[i] = name
    return reasons


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(columns=QUARANTINE_COLUMNS)


def _quarantine_rows(bad: pd.DataFrame, station_id: str, now: pd.Timestamp) -> pd.DataFrame:
    """Rejected NWP rows in the quarantine table's columns (time = valid hour, speeds at 10 m)."""
    if bad.empty:
        return _empty_quarantine()
    return pd.DataFrame(
        {
            "station_id": station_id,
            "time": bad["valid_time"],
            "wind_speed_ms": bad["wind_speed_10m_ms"],
            "wind_dir_deg": bad["wind_dir_10m_deg"],
            "wind_gust_ms": bad["wind_gust_10m_ms"],
            "n_samples": 1,
            "reason": bad["reason"],
            "stage": STAGE,
            "line_no": bad["line_no"],
            "raw_text": bad["model"] + " " + bad["raw_text"],
            "source": bad["source"],
            "raw_ref": bad["raw_ref"],
            "ingested_at": now,
        }
    )[QUARANTINE_COLUMNS].reset_index(drop=True)


def write_nwp(config: PipelineConfig, curation: NwpCuration, raw_refs: list[str]) -> NwpReport:
    """Write the quarantine, then merge the curated rows into nwp/."""
    store = st.Store(config.data_dir)
    with st.station_lock(store, curation.station_id):  # one writer per station, as for measurements
        added = st.append_quarantine(store, curation.station_id, curation.quarantined)
        merge = merge_nwp(store, curation.station_id, curation.curated)
    latest = curation.curated["issued_at"].max() if not curation.curated.empty else None
    return NwpReport(
        station_id=curation.station_id,
        raw_refs=raw_refs,
        rows_parsed=curation.rows_parsed,
        rows_curated=curation.rows_curated,
        rows_quarantined=curation.rows_quarantined,
        rows_duplicate=curation.rows_duplicate,
        rows_inserted=merge.inserted,
        rows_updated=merge.updated,
        rows_unchanged=merge.unchanged,
        quarantine_rows_added=added,
        latest_issue=None if latest is None else pd.Timestamp(latest).isoformat(),
        quarantine_by_reason=curation.quarantine_by_reason,
    )


def ingest_station_nwp(config: PipelineConfig, station: Station, now: pd.Timestamp | None = None) -> NwpReport:
    """Fetch, validate and write one station's NWP without Prefect (the flow runs the same steps as tasks)."""
    refs = fetch_nwp_to_raw(config, station, now)
    return write_nwp(config, curate_nwp(config, station, refs), refs)
