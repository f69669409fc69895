"""The train flow: for every station (or station group) and network kind, train -> register; then report."""

from __future__ import annotations

from prefect import flow

from flows.outcomes import gather_station_results, raise_if_failed
from flows.runners import run_with_runner
from tasks.training_tasks import publish_training_summary, train_model
from windcast.config import PipelineConfig


@flow(name="train-stations", log_prints=True)
def train_stations_flow(config: PipelineConfig) -> list[dict]:
    """Train every configured network kind per station group; a failed group does not lose the others."""
    from tasks.nwp_models import nwp_groups
    from tasks.training import training_groups

    groups, kinds = training_groups(config), config.training.kinds
    jobs = [(g, k, False) for g in groups for k in kinds] + [
        (g, k, True) for g in nwp_groups(config, groups) for k in kinds
    ]
    chains = {
        f"{'+'.join(group)}/{kind}{'_nwp' if nwp else ''}": [train_model.submit(config, group, kind, len(jobs), nwp)]
        for group, kind, nwp in jobs
    }
    summaries, failures = gather_station_results(chains)
    if summaries:
        publish_training_summary([values[0] for values in summaries.values()])
    raise_if_failed(failures, len(chains), "train")
    return [vars(values[0]) for values in summaries.values()]


@flow(name="train", log_prints=True)
def train_flow(config: PipelineConfig):
    """Train every network on the task runner the config asks for."""
    return run_with_runner(train_stations_flow, config)
