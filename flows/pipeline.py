"""The main job: ingest -> train -> backtest (with the promotion gate) -> forecast -> publish, as subflows."""

from __future__ import annotations

from prefect import flow

from flows.backtest import backtest_stations_flow, new_run_id
from flows.forecast import forecast_stations_flow
from flows.ingest import ingest_stations_flow
from flows.outcomes import StationsFailed
from flows.runners import run_with_runner, shared_cluster
from flows.train import train_stations_flow
from windcast.config import PipelineConfig


def _run_stages(config: PipelineConfig, stages: dict) -> dict:
    """Run the named stage flows in order on one shared runner; fail at the end naming the failed stages."""
    states = {}
    with shared_cluster(config) as runner:
        for name, (stage_flow, kwargs) in stages.items():
            states[name] = run_with_runner(stage_flow, config, runner, return_state=True, **kwargs)
    failed = {name: state.message for name, state in states.items() if not state.is_completed()}
    if failed:
        raise StationsFailed("; ".join(f"{name}: {why}" for name, why in failed.items()))
    return {name: state.result() for name, state in states.items()}


@flow(name="pipeline", log_prints=True)
def pipeline_flow(config: PipelineConfig) -> dict:
    """Run every stage; a stage that fails for some stations does not stop the others, the run ends failed."""
    run_id = new_run_id()
    stages = {
        "ingest": (ingest_stations_flow, {}),
        "train": (train_stations_flow, {}),
        "backtest": (backtest_stations_flow, {"run_id": run_id}),
        "forecast": (forecast_stations_flow, {}),
    }
    return {"run_id": run_id, **_run_stages(config, stages)}


@flow(name="retrain", log_prints=True)
def retrain_flow(config: PipelineConfig) -> dict:
    """Train, backtest and promote (the daily job; the hourly deployments ingest and forecast)."""
    run_id = new_run_id()
    stages = {"train": (train_stations_flow, {}), "backtest": (backtest_stations_flow, {"run_id": run_id})}
    return {"run_id": run_id, **_run_stages(config, stages)}
