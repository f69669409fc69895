"""ingest_flow end to end under a real Prefect API: three sources over real HTTP, artifacts, a failing station."""

import asyncio

import pytest

from flows.ingest import ingest_flow
from flows.outcomes import StationsFailed
from tasks import store as st
from tests.flows.payloads import ndbc_realtime, open_meteo_archive
from tests.http_server import Reply, ScriptedServer
from windcast.config import PipelineConfig


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def config_for(server: ScriptedServer, tmp_path, extra_stations=()) -> PipelineConfig:
    http = {"connect_timeout_s": 2, "read_timeout_s": 2, "retries": 1, "backoff_factor_s": 0.01}
    return PipelineConfig.model_validate(
        {
            "data_dir": str(tmp_path / "store"),
            "http": http,
            "stations": [
                {"id": "buoy", "source": {"kind": "ndbc", "station": "44013", "base_url": server.url}},
                {
                    "id": "grid_point",
                    "source": {
                        "kind": "open-meteo",
                        "latitude": 52.27,
                        "longitude": 6.82,
                        "start_date": "2024-01-01",
                        "end_date": "2024-01-03",
                        "base_url": server.url,
                    },
                },
                *extra_stations,
            ],
        }
    )


async def read_artifact_keys():
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {a.key for a in await client.read_artifacts() if a.key}


def test_ingest_flow_stores_every_station_and_publishes_validation(prefect_harness, server, tmp_path):
    server.route("/data/realtime2/44013.txt", Reply(200, ndbc_realtime("2022-06-01", hours=48)))
    server.route("/v1/archive", Reply(200, open_meteo_archive("2024-01-01", hours=72)))
    config = config_for(server, tmp_path)

    reports = ingest_flow(config=config)

    assert reports["buoy"]["intervals_curated"] == 48
    assert reports["buoy"]["rows_parsed"] == 288
    assert reports["grid_point"]["intervals_curated"] == 72
    for report in reports.values():
        assert report["rows_parsed"] == (report["rows_curated"] + report["rows_quarantined"] + report["rows_duplicate"])
    measurements = st.read_measurements(st.Store(config.data_dir))
    assert measurements.groupby("station_id").size().to_dict() == {"buoy": 48, "grid_point": 72}
    keys = asyncio.run(read_artifact_keys())
    assert {"windcast-validation-buoy", "windcast-validation-grid-point"} <= keys

    again = ingest_flow(config=config)  # the same payloads again: nothing new
    assert again["buoy"]["intervals_inserted"] == 0 and again["buoy"]["intervals_unchanged"] == 48


def test_a_failing_station_does_not_lose_the_others(prefect_harness, server, tmp_path):
    server.route("/data/realtime2/44013.txt", Reply(200, ndbc_realtime("2022-06-01", hours=24)))
    server.route("/v1/archive", Reply(200, open_meteo_archive("2024-01-01", hours=24)))
    server.route("/data/realtime2/BROKE.txt", Reply(503, b"<html>down</html>"))
    broken = {"id": "broken", "source": {"kind": "ndbc", "station": "BROKE", "base_url": server.url}}
    config = config_for(server, tmp_path, extra_stations=[broken])

    with pytest.raises(StationsFailed, match=r"ingest failed for 1 of 3 station\(s\): broken: .*BROKE"):
        ingest_flow(config=config)

    stored = st.read_measurements(st.Store(config.data_dir)).groupby("station_id").size().to_dict()
    assert stored == {"buoy": 24, "grid_point": 24}
