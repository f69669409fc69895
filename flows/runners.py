"""Where a flow's per-station tasks run: Prefect's thread pool (default) or a Dask cluster (prefect-dask).

The switch is configuration, not code: ``runner: {kind: dask}`` in the pipeline config (or a deployment's
parameters) spreads the per-station tasks over a local Dask cluster, ``runner: {kind: dask, address:
tcp://scheduler:8786}`` over an existing one. Flows call their stages through ``run_with_runner``.
"""

from __future__ import annotations

import threading
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
    return flow_on_runner(flow_obj, settings or runner_settings_of(config))(config=config, **kwargs)


_FLOWS_ON_RUNNERS: dict[tuple[Flow, str], Flow] = {}
_FLOWS_LOCK = threading.Lock()


def flow_on_runner(flow_obj: Flow, settings: RunnerSettings) -> Flow:
    """The flow with a task runner for these settings, made once per process: ``with_options`` rebuilds the
    flow's parameter schema (a tenth of a second per hourly run), and each run of the flow starts its own copy
    of the runner (Prefect duplicates a flow's task runner per run), so sharing the template is safe. Dask
    settings are not kept: a pipeline's shared cluster has a new address each run, and starting it costs more."""
    if settings.kind != "thread":
        return flow_obj.with_options(task_runner=task_runner_for(settings=settings))
    key = (flow_obj, settings.model_dump_json())
    with _FLOWS_LOCK:
        if key not in _FLOWS_ON_RUNNERS:
            _FLOWS_ON_RUNNERS[key] = flow_obj.with_options(task_runner=task_runner_for(settings=settings))
        return _FLOWS_ON_RUNNERS[key]


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
