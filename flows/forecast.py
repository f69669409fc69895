"""The forecast flow: for every station, forecast with the champion -> forecasts/ -> report artifacts."""

from __future__ import annotations

import pandas as pd
from prefect import flow

from flows.outcomes import gather_station_results, raise_if_failed
from flows.runners import run_with_runner
from tasks.forecast_tasks import check_model_health, forecast_station, publish_forecast
from windcast.clock import utc_now
from windcast.config import PipelineConfig


@flow(name="forecast-stations", log_prints=True)
def forecast_stations_flow(config: PipelineConfig, issued_at: str | None = None) -> dict[str, dict]:
    """Forecast every station from its latest complete history window; a failed station does not stop others."""
    issued = pd.Timestamp(issued_at) if issued_at else utc_now()
    issued = (issued.tz_localize("UTC") if issued.tz is None else issued.tz_convert("UTC")).floor("s")
    chains = {}
    for station in config.stations:
        result = forecast_station.submit(config, station.id, issued)
        published = publish_forecast.submit(config, result)
        chains[station.id] = [result, published, check_model_health.submit(config, result)]
    results, failures = gather_station_results(chains)
    raise_if_failed(failures, len(chains), "forecast")
    return {
        sid: {
            "path": r.path,
            "stale": r.stale,
            "stale_reason": r.stale_reason,
            "nwp_note": r.nwp_note,
            "model": str(r.rows["model"].iloc[0]),
            "model_version": int(r.rows["model_version"].iloc[0]),
            "health": health["message"],
            "degraded": health["degraded"],
        }
        for sid, (r, _, health) in results.items()
    }


@flow(name="forecast", log_prints=True)
def forecast_flow(config: PipelineConfig, issued_at: str | None = None):
    """Forecast every station on the task runner the config asks for."""
    return run_with_runner(forecast_stations_flow, config, issued_at=issued_at)
