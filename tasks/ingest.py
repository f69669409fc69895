"""Ingest one station: fetch payloads into raw/, curate them, write measurements/ and quarantine/.

Plain functions (tested directly); the Prefect tasks in ``tasks/ingest_tasks.py`` wrap them.

Row accounting, asserted by the tests: every data row of every payload ends up in exactly one of
``rows_curated`` (inside a curated interval), ``rows_quarantined`` (a parse reject, a conflicting duplicate, or
inside a quarantined interval) or ``rows_duplicate`` (an exact copy of another row, merged).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import pandas as pd

from tasks import canonical
from tasks import store as st
from tasks.quarantine_summary import rows_by_check, summarise_quarantine
from tasks.sources import fetch_payloads, parse_payload
from tasks.sources.base import Payload
from tasks.validation import validate_measurements
from windcast.clock import FUTURE_TOLERANCE, utc_now
from windcast.config import PipelineConfig, Station
from windcast.schemas import QUARANTINE_COLUMNS

# Reasons that say a value is absent, not wrong: they go to quarantine but not into the failed fraction.
COVERAGE_REASONS = ("missing_wind_speed", "too_few_samples")
REASON_FUTURE_TIME = "future_time"


class DataQualityError(RuntimeError):
    """Too large a share of a station's rows failed validation."""


@dataclass
class Curation:
    """A station's payloads turned into curated and quarantined rows, with the row ledger."""

    station_id: str
    curated: pd.DataFrame
    quarantined: pd.DataFrame
    checks: pd.DataFrame
    rows_parsed: int = 0
    rows_curated: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    failed_fraction: float = 0.0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)  # payload rows per check


@dataclass
class IngestReport:
    """What one station's ingest did, small enough to pass between tasks and show in an artifact."""

    station_id: str
    raw_refs: list[str]
    rows_parsed: int
    rows_curated: int
    rows_quarantined: int
    rows_duplicate: int
    intervals_curated: int
    intervals_inserted: int
    intervals_updated: int
    intervals_unchanged: int
    quarantine_rows_added: int
    failed_fraction: float
    watermark: str | None
    quarantine_by_reason: dict[str, int]

    def as_dict(self) -> dict:
        """Plain-dict form for artifacts and logs."""
        return asdict(self)


def resolve_api_key(station: Station) -> str | None:
    """The station's optional API key: a Prefect Secret block if named, else the environment variable."""
    source = station.source
    if source.kind != "open-meteo":
        return None
    if source.api_key_secret_block:
        from prefect.blocks.system import Secret

        return Secret.load(source.api_key_secret_block).get()
    return os.environ.get(source.api_key_env) or None


def fetch_to_raw(config: PipelineConfig, station: Station, api_key: str | None = None) -> list[str]:
    """Fetch what is new for a station and keep each payload as received; return their raw refs."""
    store = st.Store(config.data_dir)
    st.remove_stale_raw_temporaries(store, station.id)
    since = st.read_watermark(store, station.id)
    refs = []
    for payload in fetch_payloads(station, config.http, since, api_key):
        meta = {
            "station_id": station.id,
            "source": payload.source,
            "url": payload.url,
            "suffix": payload.suffix,
            "fetched_at": payload.fetched_at.isoformat(),
        }
        refs.append(st.save_raw_payload(store, station.id, payload.source, payload.content, payload.suffix, meta))
    return refs


def load_raw_payload(store: st.Store, raw_ref: str) -> Payload:
    """Rebuild a Payload from a raw file and its sidecar."""
    path = store.root / raw_ref
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    return Payload(
        station_id=meta["station_id"],
        source=meta["source"],
        url=meta["url"],
        content=path.read_bytes(),
        suffix=meta["suffix"],
        fetched_at=pd.Timestamp(meta["fetched_at"]),
    )


def curate_station(config: PipelineConfig, station: Station, raw_refs: list[str]) -> Curation:
    """Parse a station's raw payloads, resample them and validate the intervals."""
    store = st.Store(config.data_dir)
    now = utc_now().floor("us")
    parsed = [parse_payload(load_raw_payload(store, ref), station.source, ref) for ref in raw_refs]
    rows_parsed = sum(p.rows_in for p in parsed)
    samples = pd.concat([p.samples for p in parsed], ignore_index=True) if parsed else None
    rejects = pd.concat([p.rejects for p in parsed], ignore_index=True) if parsed else None
    if samples is None:
        from windcast.schemas import empty_rejects, empty_samples

        samples, rejects = empty_samples(), empty_rejects()

    dedup = canonical.deduplicate_samples(samples)
    present, future = split_future_samples(dedup.samples, now)
    quality = config.quality
    plausible = canonical.split_impossible_samples(
        present, quality.speed_min_ms, quality.speed_max_ms, quality.gust_max_ms
    )
    expected = canonical.expected_samples_per_interval(dedup.samples["time"], config.frequency)
    resampled = canonical.resample_samples(
        plausible.samples, config.frequency, config.resample.min_coverage, expected=expected
    )
    candidates = resampled.intervals.assign(source=station.source.kind, ingested_at=now)
    verdict = validate_measurements(candidates, config.quality, config.frequency)

    quarantined = pd.concat(
        [
            _quarantine_rows(rejects, "parse", now, station),
            _quarantine_rows(dedup.conflicting.assign(reason="conflicting_duplicate"), "resample", now, station),
            _quarantine_rows(future.assign(reason=REASON_FUTURE_TIME), "validate", now, station),
            _quarantine_rows(plausible.impossible, "range", now, station),
            _quarantine_rows(resampled.too_few.assign(reason="too_few_samples"), "resample", now, station),
            _quarantine_rows(verdict.quarantined, "validate", now, station),
        ],
        ignore_index=True,
    )
    rows_quarantined = (
        len(rejects)
        + len(dedup.conflicting)
        + len(future)
        + len(plausible.impossible)
        + int(resampled.too_few["n_samples"].sum())
        + int(verdict.quarantined["n_samples"].sum())
    )
    rows_curated = int(verdict.curated["n_samples"].sum())
    by_reason = rows_by_check(quarantined)
    failed = sum(n for reason, n in by_reason.items() if reason not in COVERAGE_REASONS)
    judged = rows_parsed - sum(by_reason.get(r, 0) for r in COVERAGE_REASONS)
    return Curation(
        station_id=station.id,
        curated=verdict.curated,
        quarantined=quarantined,
        checks=verdict.summary,
        rows_parsed=rows_parsed,
        rows_curated=rows_curated,
        rows_quarantined=rows_quarantined,
        rows_duplicate=dedup.rows_merged,
        failed_fraction=failed / judged if judged > 0 else 0.0,
        quarantine_by_reason=by_reason,
    )


def split_future_samples(samples: pd.DataFrame, now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(samples up to now + FUTURE_TOLERANCE, samples after it): a time in the future is a broken clock or
    a typo (2099, 9999-12-31), never a measurement, and must not move the watermark."""
    future = samples["time"] > now + FUTURE_TOLERANCE
    return samples.loc[~future].reset_index(drop=True), samples.loc[future].reset_index(drop=True)


def _quarantine_rows(frame: pd.DataFrame, stage: str, now: pd.Timestamp, station: Station) -> pd.DataFrame:
    out = frame.copy()
    out["station_id"] = station.id
    out["stage"] = stage
    out["source"] = station.source.kind
    out["ingested_at"] = now
    for col in QUARANTINE_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA
    if "n_samples" in frame.columns:
        out["n_samples"] = frame["n_samples"]
    else:
        out["n_samples"] = 1  # a parse reject or a single sample stands for one payload row
    return out[QUARANTINE_COLUMNS]


def _mostly(by_check: dict[str, int]) -> str:
    """' (mostly <check>)' for the check that failed the most rows, '' when none did."""
    failed = {k: n for k, n in by_check.items() if k not in COVERAGE_REASONS}
    return f" (mostly {max(failed, key=failed.get)})" if failed else ""


def write_curation(config: PipelineConfig, curation: Curation, raw_refs: list[str]) -> IngestReport:
    """Write quarantine first, then (if the failed fraction is acceptable) measurements and the watermark."""
    store = st.Store(config.data_dir)
    with st.station_lock(store, curation.station_id):  # one writer per station, between processes too
        added = st.append_quarantine(store, curation.station_id, curation.quarantined)
        limit = config.quality.max_failed_fraction
        if curation.failed_fraction > limit:
            raise DataQualityError(
                f"station {curation.station_id!r}: {curation.failed_fraction:.1%} of rows failed validation"
                f"{_mostly(curation.quarantine_by_reason)}, more than max_failed_fraction {limit:.1%}; measurements "
                f"not written, quarantine kept in {store.quarantine_dir}; {summarise_quarantine(curation.quarantined)}"
            )
        merge = st.merge_measurements(store, curation.station_id, curation.curated)
        watermark = st.read_watermark(store, curation.station_id)
        if not curation.curated.empty:
            watermark = st.advance_watermark(store, curation.station_id, curation.curated["time"].max())
    return IngestReport(
        station_id=curation.station_id,
        raw_refs=raw_refs,
        rows_parsed=curation.rows_parsed,
        rows_curated=curation.rows_curated,
        rows_quarantined=curation.rows_quarantined,
        rows_duplicate=curation.rows_duplicate,
        intervals_curated=len(curation.curated),
        intervals_inserted=merge.inserted,
        intervals_updated=merge.updated,
        intervals_unchanged=merge.unchanged,
        quarantine_rows_added=added,
        failed_fraction=curation.failed_fraction,
        watermark=None if watermark is None else watermark.isoformat(),
        quarantine_by_reason=curation.quarantine_by_reason,
    )


def ingest_station(config: PipelineConfig, station: Station) -> IngestReport:
    """Fetch, curate and write one station without Prefect (the flow runs the same steps as tasks)."""
    refs = fetch_to_raw(config, station, resolve_api_key(station))
    return write_curation(config, curate_station(config, station, refs), refs)
