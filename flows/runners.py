"""Where a flow's per-station tasks run: Prefect's thread pool (default) or a Dask cluster (prefect-dask).

The switch is configuration, not code: ``runner: {kind: dask}`` in the pipeline config (or a deployment's
parameters) spreads the per-station tasks over a local Dask cluster, ``runner: {kind: dask, address:
tcp://scheduler:8786}`` over an existing one. Flows call their stages through ``run_with_runner``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from prefect import Flow
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from windcast.config import RunnerSettings


def runner_settings_of(config: Any) -> RunnerSettings:
    """The runner settings of a pipeline config (the default thread runner when it has none)."""
    settings = getattr(config, "runner", None)
    if settings is None:
        return RunnerSettings()
    if isinstance(settings, RunnerSettings):
        return settings
    return RunnerSettings.model_validate(settings if isinstance(settings, dict) else settings.model_dump())


def task_runner_for(config: Any = None, settings: RunnerSettings | None = None) -> TaskRunner:
    """A fresh task runner for a config's (or the given) runner settings."""
    settings = settings or runner_settings_of(config)
    if settings.kind == "thread":
        return ThreadPoolTaskRunner(max_workers=settings.max_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:  # pragma: no cover - prefect-dask is a declared dependency
        raise ValueError("runner kind 'dask' needs prefect-dask: pip install prefect-dask") from exc
    if settings.address:
        return DaskTaskRunner(address=settings.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.n_workers,
            "threads_per_worker": settings.threads_per_worker,
            "processes": True,
            "dashboard_address": None,  # no fixed port: several flows may run on one host
        },
    )


def run_with_runner(flow_obj: Flow, config: Any, settings: RunnerSettings | None = None, **kwargs: Any) -> Any:
    """Call a flow (as a subflow inside a flow) with the task runner its config asks for."""
    runner = task_runner_for(config, settings)
    return flow_obj.with_options(task_runner=runner)(config=config, **kwargs)


@contextmanager
def shared_cluster(config: Any, settings: RunnerSettings | None = None):
    """Yield runner settings that every stage of one job can share: for a local Dask cluster, start it once
    here and yield its address, so ingest, train, backtest and forecast do not each start their own."""
    settings = settings or runner_settings_of(config)
    if settings.kind != "dask" or settings.address:
        yield settings
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        processes=True,
        dashboard_address=None,
    ) as cluster:
        yield settings.model_copy(update={"address": cluster.scheduler_address})
