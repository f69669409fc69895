"""The ingest flow: for every station, fetch -> curate (parse, resample, validate) -> write -> publish."""

from __future__ import annotations

from prefect import flow

from flows.outcomes import collect_station_results
from flows.runners import run_with_runner
from tasks.ingest_tasks import curate, fetch_raw, publish_validation_summary, write_store
from tasks.nwp_tasks import curate_nwp, fetch_nwp, write_nwp
from windcast.config import PipelineConfig


@flow(name="ingest-stations", log_prints=True)
def ingest_stations_flow(config: PipelineConfig) -> dict[str, dict]:
    """Ingest every station of the config into the store (and its NWP, keyed `<id>/nwp`, when it has an nwp
    block); one station's failure does not stop the others."""
    chains = {}
    for station in config.stations:
        refs = fetch_raw.submit(config, station)
        curation = curate.submit(config, station, refs)
        published = publish_validation_summary.submit(curation)
        chains[station.id] = [refs, curation, published, write_store.submit(config, curation, refs)]
        if station.nwp is not None:
            nwp_refs = fetch_nwp.submit(config, station)
            nwp_curation = curate_nwp.submit(config, station, nwp_refs)
            chains[f"{station.id}/nwp"] = [nwp_refs, nwp_curation, write_nwp.submit(config, nwp_curation, nwp_refs)]
    reports = collect_station_results(chains, "ingest")
    return {sid: values[-1].as_dict() for sid, values in reports.items()}


@flow(name="ingest", log_prints=True)
def ingest_flow(config: PipelineConfig):
    """Ingest every station on the task runner the config asks for (threads by default, or Dask)."""
    return run_with_runner(ingest_stations_flow, config)
