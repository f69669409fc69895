"""Prefect tasks of the ingest flow: thin wrappers over ``tasks.ingest``.

No task retries here: HTTP calls retry inside ``tasks.http`` (urllib3 Retry with backoff), and a deterministic
failure (bad data, a bug) must not be retried.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks import ingest
from tasks.artifact_keys import artifact_key
from windcast.config import PipelineConfig, Station


@task(name="fetch-raw", cache_policy=NO_CACHE)
def fetch_raw(config: PipelineConfig, station: Station) -> list[str]:
    """Fetch what is new for a station and keep every payload as received in raw/."""
    refs = ingest.fetch_to_raw(config, station, ingest.resolve_api_key(station))
    get_run_logger().info("station %s: %d payload(s) kept in raw/", station.id, len(refs))
    return refs


@task(name="curate", cache_policy=NO_CACHE)
def curate(config: PipelineConfig, station: Station, raw_refs: list[str]) -> ingest.Curation:
    """Parse, resample and validate a station's raw payloads (Great Expectations + QARTOD)."""
    curation = ingest.curate_station(config, station, raw_refs)
    get_run_logger().info(
        "station %s: %d rows parsed, %d curated, %d quarantined, %d duplicates merged (failed %.2f%%)",
        station.id,
        curation.rows_parsed,
        curation.rows_curated,
        curation.rows_quarantined,
        curation.rows_duplicate,
        100 * curation.failed_fraction,
    )
    return curation


@task(name="write-store", cache_policy=NO_CACHE)
def write_store(config: PipelineConfig, curation: ingest.Curation, raw_refs: list[str]) -> ingest.IngestReport:
    """Write quarantine, then measurements and the watermark (fails loudly past the failed-fraction limit)."""
    report = ingest.write_curation(config, curation, raw_refs)
    get_run_logger().info(
        "station %s: %d intervals inserted, %d updated, %d unchanged; watermark %s",
        report.station_id,
        report.intervals_inserted,
        report.intervals_updated,
        report.intervals_unchanged,
        report.watermark,
    )
    return report


@task(name="publish-validation-summary", cache_policy=NO_CACHE)
def publish_validation_summary(curation: ingest.Curation) -> None:
    """Publish a station's validation summary (one row per check, then the row ledger) as a table artifact."""
    rows = [{k: _plain(v) for k, v in rec.items()} for rec in curation.checks.to_dict("records")]
    ledger = {
        "rows_parsed": curation.rows_parsed,
        "rows_curated": curation.rows_curated,
        "rows_quarantined": curation.rows_quarantined,
        "rows_duplicate_merged": curation.rows_duplicate,
        "failed_fraction": round(curation.failed_fraction, 6),
    }
    rows += [{"check": f"ledger: {k}", "rows_failed": v} for k, v in ledger.items()]
    rows += [{"check": f"quarantined: {k}", "rows_failed": v} for k, v in curation.quarantine_by_reason.items()]
    create_table_artifact(
        key=artifact_key("validation", curation.station_id),
        table=rows,
        description=f"Validation of station {curation.station_id}: checks and row ledger",
    )


def _plain(value):
    """Numpy scalars to Python values for the artifact API."""
    return value.item() if hasattr(value, "item") else value
