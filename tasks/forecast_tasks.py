"""Prefect tasks of the forecast flow: thin wrappers over ``tasks.forecasting`` and the report builders."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks import forecasting, reports
from tasks.artifact_keys import artifact_key
from windcast.config import PipelineConfig


@task(name="forecast-station", cache_policy=NO_CACHE)
def forecast_station(config: PipelineConfig, station_id: str, issued_at: pd.Timestamp) -> forecasting.StationForecast:
    """Forecast the next horizon with the station's champion and append the issue to forecasts/."""
    result = forecasting.forecast_station(config, station_id, issued_at)
    logger = get_run_logger()
    if result.stale:
        logger.warning("station %s: forecast marked STALE: %s", station_id, result.stale_reason)
    if result.nwp_note:
        logger.warning("station %s: %s", station_id, result.nwp_note)
    logger.info("station %s: forecast written to %s", station_id, result.path)
    return result


@task(name="publish-forecast", cache_policy=NO_CACHE)
def publish_forecast(config: PipelineConfig, result: forecasting.StationForecast) -> None:
    """Forecast table, a markdown report with the plots, and a link to the Parquet file, per station."""
    sid = result.station_id
    rows = result.rows
    table = [
        {
            "target_time": t.isoformat(),
            "horizon_h": int(h),
            "wind_speed_ms": round(float(v), 2),
            "p10": None if pd.isna(lo) else round(float(lo), 2),
            "p90": None if pd.isna(hi) else round(float(hi), 2),
        }
        for t, h, v, lo, hi in zip(
            rows["target_time"],
            rows["horizon_h"],
            rows["wind_speed_ms"],
            rows["p10"],
            rows["p90"],
            strict=True,
        )
    ]
    create_table_artifact(key=artifact_key("forecast", sid), table=table, description=f"Forecast for {sid}")
    markdown = reports.forecast_report(config, result)
    create_markdown_artifact(markdown, key=artifact_key("report", sid), description=f"windcast report, {sid}")
    path = (config.data_dir / result.path).resolve()
    create_link_artifact(path.as_uri(), link_text=str(path), key=artifact_key("forecast-file", sid))


@task(name="check-model-health", cache_policy=NO_CACHE)
def check_model_health(config: PipelineConfig, result: forecasting.StationForecast) -> dict:
    """Compare the champion's realised error with its backtest; publish a warning artifact when it degrades."""
    from tasks.health import check_health

    rows = result.rows
    health = check_health(
        config, result.station_id, str(rows["model"].iloc[0]), int(rows["model_version"].iloc[0]),
        pd.Timestamp(rows["issued_at"].iloc[0]),
    )  # fmt: skip
    logger = get_run_logger()
    (logger.warning if health.degraded else logger.info)("station %s: %s", result.station_id, health.message)
    title = "# WARNING: champion degraded" if health.degraded else "# Model health"
    create_markdown_artifact(
        f"{title}\n\n{health.message}\n",
        key=artifact_key("health", result.station_id),
        description=f"Model health, {result.station_id}",
    )
    return vars(health)
