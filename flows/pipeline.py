"""The main job: ingest -> train -> backtest (with the promotion gate) -> forecast -> publish, as subflows."""

from __future__ import annotations

from prefect import flow

from flows.backtest import backtest_flow, new_run_id
from flows.forecast import forecast_flow
from flows.ingest import ingest_flow
from flows.outcomes import StationsFailed
from flows.train import train_flow
from windcast.config import PipelineConfig


@flow(name="pipeline", log_prints=True)
def pipeline_flow(config: PipelineConfig) -> dict:
    """Run every stage; a stage that fails for some stations does not stop the others, the run ends failed."""
    run_id = new_run_id()
    stages = {
        "ingest": ingest_flow(config=config, return_state=True),
        "train": train_flow(config=config, return_state=True),
        "backtest": backtest_flow(config=config, run_id=run_id, return_state=True),
        "forecast": forecast_flow(config=config, return_state=True),
    }
    failed = {name: state.message for name, state in stages.items() if not state.is_completed()}
    if failed:
        raise StationsFailed("; ".join(f"{name}: {why}" for name, why in failed.items()))
    return {"run_id": run_id, **{name: state.result() for name, state in stages.items()}}
