"""Prefect tasks of the NWP ingest: thin wrappers over ``tasks.nwp_ingest`` (HTTP retries live in tasks/http.py)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks import nwp_ingest
from windcast.config import PipelineConfig, Station


@task(name="fetch-nwp", cache_policy=NO_CACHE)
def fetch_nwp(config: PipelineConfig, station: Station) -> list[str]:
    """Fetch the latest weather-model forecast and the past runs not yet stored; keep them in raw/."""
    refs = nwp_ingest.fetch_nwp_to_raw(config, station)
    get_run_logger().info("station %s: %d NWP payload(s) kept in raw/", station.id, len(refs))
    return refs


@task(name="curate-nwp", cache_policy=NO_CACHE)
def curate_nwp(config: PipelineConfig, station: Station, raw_refs: list[str]) -> nwp_ingest.NwpCuration:
    """Parse and validate the NWP payloads (units, time grid, ranges)."""
    curation = nwp_ingest.curate_nwp(config, station, raw_refs)
    get_run_logger().info(
        "station %s: %d NWP rows parsed, %d curated, %d quarantined, %d duplicates merged",
        station.id, curation.rows_parsed, curation.rows_curated, curation.rows_quarantined, curation.rows_duplicate,
    )  # fmt: skip
    return curation


@task(name="write-nwp", cache_policy=NO_CACHE)
def write_nwp(config: PipelineConfig, curation: nwp_ingest.NwpCuration, raw_refs: list[str]) -> nwp_ingest.NwpReport:
    """Write the NWP quarantine, then merge the curated rows into nwp/."""
    report = nwp_ingest.write_nwp(config, curation, raw_refs)
    get_run_logger().info(
        "station %s: NWP rows %d inserted, %d updated, %d unchanged; latest issue %s",
        report.station_id, report.rows_inserted, report.rows_updated, report.rows_unchanged, report.latest_issue,
    )  # fmt: skip
    return report
