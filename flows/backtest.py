"""The backtest flow: for every station, score networks and baselines on the same origins, promote, report."""

from __future__ import annotations

import uuid

import pandas as pd
from prefect import flow

from flows.outcomes import gather_station_results, raise_if_failed
from flows.runners import run_with_runner
from tasks.backtest_tasks import backtest_station, publish_backtest_report
from windcast.config import PipelineConfig


def new_run_id() -> str:
    """A sortable, unique run id such as 20261122T071500Z-1a2b3c."""
    return f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@flow(name="backtest-stations", log_prints=True)
def backtest_stations_flow(config: PipelineConfig, run_id: str | None = None) -> dict[str, dict]:
    """Backtest every station; a failed station does not lose the others' results."""
    run_id = run_id or new_run_id()
    chains = {}
    for station in config.stations:
        result = backtest_station.submit(config, station.id, run_id)
        chains[station.id] = [result, publish_backtest_report.submit(result)]
    results, failures = gather_station_results(chains)
    raise_if_failed(failures, len(chains), "backtest")
    return {sid: vars(values[0]) for sid, values in results.items()}


@flow(name="backtest", log_prints=True)
def backtest_flow(config: PipelineConfig, run_id: str | None = None):
    """Backtest every station on the task runner the config asks for."""
    return run_with_runner(backtest_stations_flow, config, run_id=run_id)
