"""Schemas of the tables windcast passes between stages and writes for downstream readers.

Defined once here; the README documents them. Times are UTC and tz-aware; a time marks the start of its interval.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

# What a source parser yields: one row per sample at the source's native frequency.
SAMPLE_COLUMNS = ["station_id", "time", "wind_speed_ms", "wind_dir_deg", "wind_gust_ms", "raw_ref"]

# A payload line or value a parser could not turn into a sample, kept for the quarantine.
REJECT_COLUMNS = ["station_id", "raw_ref", "line_no", "raw_text", "reason"]

# The curated measurement table (silver): one row per station and interval.
MEASUREMENT_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("time", UTC_MICROS, nullable=False),
        pa.field("wind_speed_ms", pa.float64(), nullable=False),
        pa.field("wind_dir_deg", pa.float64()),
        pa.field("wind_gust_ms", pa.float64()),
        pa.field("n_samples", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("raw_ref", pa.string(), nullable=False),
        pa.field("ingested_at", UTC_MICROS, nullable=False),
    ]
)
MEASUREMENT_COLUMNS = MEASUREMENT_SCHEMA.names
MEASUREMENT_VALUE_COLUMNS = ["wind_speed_ms", "wind_dir_deg", "wind_gust_ms", "n_samples"]

# Rejected rows with the check that failed (one row per rejected row and reason).
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("time", UTC_MICROS),
        pa.field("wind_speed_ms", pa.float64()),
        pa.field("wind_dir_deg", pa.float64()),
        pa.field("wind_gust_ms", pa.float64()),
        pa.field("n_samples", pa.int32()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # parse | range | resample | validate
        pa.field("line_no", pa.int64()),
        pa.field("raw_text", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("raw_ref", pa.string()),
        pa.field("ingested_at", UTC_MICROS, nullable=False),
    ]
)
QUARANTINE_COLUMNS = QUARANTINE_SCHEMA.names


# Weather-model point forecasts (hive: station_id=/model=/issued_date=), one row per (station, model, issue, valid
# hour). `issued_at` is when windcast could first have known the values (a live fetch: its time rounded up to the
# hour; a past run: initialisation + availability delay); models read only issues at or before their origin.
NWP_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),  # Open-Meteo weather model, e.g. ecmwf_ifs025
        pa.field("issued_at", UTC_MICROS, nullable=False),
        pa.field("run_time", UTC_MICROS),  # the model's initialisation time when known (past runs), else null
        pa.field("valid_time", UTC_MICROS, nullable=False),  # start of the hour the values describe
        pa.field("lead_h", pa.int32(), nullable=False),  # valid_time - issued_at in hours (<= 0: already past)
        pa.field("wind_speed_10m_ms", pa.float64(), nullable=False),
        pa.field("wind_speed_100m_ms", pa.float64()),
        pa.field("wind_dir_10m_deg", pa.float64()),
        pa.field("wind_gust_10m_ms", pa.float64()),
        pa.field("source", pa.string(), nullable=False),  # open-meteo-forecast | open-meteo-single-run
        pa.field("raw_ref", pa.string(), nullable=False),
        pa.field("ingested_at", UTC_MICROS, nullable=False),
    ]
)
NWP_VALUE_COLUMNS = ["run_time", "wind_speed_10m_ms", "wind_speed_100m_ms", "wind_dir_10m_deg", "wind_gust_10m_ms"]


# One row per (run, station, model, origin, lead time) of a backtest (hive: station_id=/run_id=).
BACKTEST_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_at", UTC_MICROS, nullable=False),
        pa.field("model", pa.string(), nullable=False),  # gru, lstm, rnn, persistence, seasonal_naive, ...
        pa.field("model_version", pa.int32(), nullable=False),
        pa.field("origin_time", UTC_MICROS, nullable=False),  # start of the last observed interval
        pa.field("target_time", UTC_MICROS, nullable=False),
        pa.field("horizon_h", pa.int32(), nullable=False),
        pa.field("y_true", pa.float64(), nullable=False),
        pa.field("y_pred", pa.float64(), nullable=False),  # the median for quantile models
        pa.field("p10", pa.float64()),
        pa.field("p50", pa.float64()),
        pa.field("p90", pa.float64()),
    ]
)

# One row per (run, station, model, lead time, metric); horizon_h 0 is the overall value (hive: station_id=/run_id=).
METRIC_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_at", UTC_MICROS, nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("model_version", pa.int32(), nullable=False),
        pa.field("horizon_h", pa.int32(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),  # mae, rmse, bias, skill, pinball_pNN, coverage_p10_p90
        pa.field("value", pa.float64()),
        pa.field("n_origins", pa.int32(), nullable=False),
    ]
)


# One row per (station, issue, lead time) of a published forecast (hive: station_id=/issued_date=).
FORECAST_SCHEMA = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("issued_at", UTC_MICROS, nullable=False),  # when the forecast was made
        pa.field("origin_time", UTC_MICROS, nullable=False),  # start of the last observed interval used
        pa.field("target_time", UTC_MICROS, nullable=False),  # start of the forecast interval
        pa.field("horizon_h", pa.int32(), nullable=False),
        pa.field("wind_speed_ms", pa.float64(), nullable=False),  # the point forecast (P50 for quantile models)
        pa.field("p10", pa.float64()),  # the champion's band: its own quantiles, else recent residual quantiles
        pa.field("p90", pa.float64()),  # per lead (models/intervals.py); null only before its first backtest
        pa.field("model", pa.string(), nullable=False),
        pa.field("model_version", pa.int32(), nullable=False),
        pa.field("stale", pa.bool_(), nullable=False),  # the data was too old or gappy for a fresh forecast
        pa.field("stale_reason", pa.string()),
        pa.field("nwp_issued_at", UTC_MICROS),  # the NWP issue the forecast read; null: measurements only
        pa.field("nwp_note", pa.string()),  # why a station with NWP fell back to its measurement-only model
    ]
)


def empty_samples() -> pd.DataFrame:
    """An empty sample frame with the parser output dtypes."""
    return pd.DataFrame(
        {
            "station_id": pd.Series([], dtype="string"),
            "time": pd.Series([], dtype="datetime64[us, UTC]"),
            "wind_speed_ms": pd.Series([], dtype="float64"),
            "wind_dir_deg": pd.Series([], dtype="float64"),
            "wind_gust_ms": pd.Series([], dtype="float64"),
            "raw_ref": pd.Series([], dtype="string"),
        }
    )


def empty_rejects() -> pd.DataFrame:
    """An empty reject frame with the parser output dtypes (a copy of one built once: building it costs ms)."""
    return _EMPTY_REJECTS.copy()


_EMPTY_REJECTS = pd.DataFrame(
    {
        "station_id": pd.Series([], dtype="string"),
        "raw_ref": pd.Series([], dtype="string"),
        "line_no": pd.Series([], dtype="Int64"),
        "raw_text": pd.Series([], dtype="string"),
        "reason": pd.Series([], dtype="string"),
    }
)
