"""Per-station work on a real dask.distributed LocalCluster (2 worker processes) gives the default's store."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from flows.ingest import ingest_flow, ingest_stations_flow
from flows.runners import RunnerSettings, task_runner_for
from tasks import store as st
from windcast.config import PipelineConfig

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLE = Path(__file__).parents[2] / "data" / "sample"


def make_config(tmp_path: Path, name: str) -> PipelineConfig:
    """Four file stations (bad rows, a real TMY3 year, a mapped SCADA export) writing to their own store."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for f in ["ingest/ugly_canonical.csv", "canonical.csv", "scada_berlin_end.csv"]:
        shutil.copy(FIXTURES / f, src / Path(f).name)
    shutil.copy(SAMPLE / "greensboro_tmy3.csv", src / "greensboro_tmy3.csv")
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / name),
            "quality": {"max_failed_fraction": 0.5},
            "stations": [
                {"id": "ugly", "source": {"kind": "file", "path": str(src / "ugly_canonical.csv")}},
                {"id": "canonical", "source": {"kind": "file", "path": str(src / "canonical.csv")}},
                {"id": "greensboro", "source": {"kind": "file", "path": str(src / "greensboro_tmy3.csv")}},
                {
                    "id": "berlin",
                    "source": {
                        "kind": "file",
                        "path": str(src / "scada_berlin_end.csv"),
                        "csv_separator": ";",
                        "time_column": "Zeit",
                        "time_format": "%d.%m.%Y %H:%M",
                        "timezone": "Europe/Berlin",
                        "timestamp_at": "end",
                        "speed_column": "WS",
                        "speed_unit": "km/h",
                        "direction_column": "WD",
                        "gust_column": "Gust",
                    },
                },
            ],
        }
    )


def stored(config: PipelineConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measurements and quarantine, without the write-time column, in a stable order."""
    store = st.Store(config.data_dir)
    m = st.read_measurements(store).drop(columns=["ingested_at"]).sort_values(["station_id", "time"])
    q = st.read_quarantine(store)
    q = q.drop(columns=[c for c in ["ingested_at", "quarantined_at"] if c in q.columns])
    q = q.sort_values([c for c in ["station_id", "line_no", "time", "reason"] if c in q.columns])
    return m.reset_index(drop=True), q.reset_index(drop=True)


def test_dask_local_cluster_gives_the_same_store_as_the_thread_runner(prefect_harness, tmp_path):
    from distributed import Client, LocalCluster

    threaded = make_config(tmp_path, "threaded")
    on_dask = make_config(tmp_path, "dask")

    expected = ingest_stations_flow.with_options(task_runner=task_runner_for(threaded))(config=threaded)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        settings = RunnerSettings(kind="dask", address=cluster.scheduler_address)
        got = ingest_stations_flow.with_options(task_runner=task_runner_for(settings=settings))(config=on_dask)
        # the tasks really ran in two separate worker processes
        with Client(cluster) as client:
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and sum(executed.values()) >= 4 * len(on_dask.stations)

    assert set(got) == set(expected) == {"ugly", "canonical", "greensboro", "berlin"}
    for sid in expected:
        a = {k: v for k, v in expected[sid].items() if k != "raw_refs"}
        b = {k: v for k, v in got[sid].items() if k != "raw_refs"}
        assert a == b, sid
    m_thread, q_thread = stored(threaded)
    m_dask, q_dask = stored(on_dask)
    assert len(m_thread) > 8000  # the TMY3 year
    pd.testing.assert_frame_equal(m_dask, m_thread)
    pd.testing.assert_frame_equal(q_dask, q_thread)


def test_runner_settings_pick_the_task_runner():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner_for(PipelineConfig()), ThreadPoolTaskRunner)
    local = task_runner_for(settings=RunnerSettings(kind="dask", n_workers=3, threads_per_worker=2))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["threads_per_worker"] == 2
    remote = task_runner_for(settings=RunnerSettings(kind="dask", address="tcp://127.0.0.1:8786"))
    assert remote.address == "tcp://127.0.0.1:8786"
    with pytest.raises(ValueError, match="runner address 'tcp://x:1' needs kind 'dask', got kind 'thread'"):
        RunnerSettings(kind="thread", address="tcp://x:1")


def test_the_config_switch_runs_a_flow_on_local_dask(prefect_harness, tmp_path):
    config = make_config(tmp_path, "local").model_copy(update={"runner": RunnerSettings(kind="dask", n_workers=2)})
    reports = ingest_flow(config=config)  # no code change: the runner comes from the config
    assert reports["greensboro"]["intervals_inserted"] > 8000
