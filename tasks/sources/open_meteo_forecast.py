"""Open-Meteo weather-model forecasts at a station: the latest forecast and past model runs (Single Runs API).

Both endpoints answer in the forecast API's JSON. With several `models`, every hourly key carries the model's
name as a suffix (`wind_speed_10m_ecmwf_ifs025`); with one, keys may come bare. Units come from `hourly_units`
and are refused when a key with values has no unit or one that is not a speed (direction: degrees); a model
without data says "undefined" and sends nulls, which become missing rows. Times are read in the payload's zone
(requested as GMT). Plain functions: no Prefect here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from tasks import http as http_client
from tasks.sources.base import Payload, SourceError, payload_error, redact, speed_to_ms
from tasks.sources.open_meteo import _times_to_utc, read_hourly_doc
from windcast.clock import utc_now
from windcast.config import HttpSettings, NwpSettings

SOURCE_LIVE, SOURCE_RUN = "open-meteo-forecast", "open-meteo-single-run"
RECENT_RUN_DAYS = 2  # a past run this recent that the archive refuses is retried at the next ingest, not fatal
# hourly key -> (nwp/ column, kind of unit)
VARIABLES = {
    "wind_speed_10m": ("wind_speed_10m_ms", "speed"),
    "wind_speed_100m": ("wind_speed_100m_ms", "speed"),
    "wind_direction_10m": ("wind_dir_10m_deg", "direction"),
    "wind_gusts_10m": ("wind_gust_10m_ms", "speed"),
}
DIRECTION_UNITS = ("°", "deg", "degrees")
NO_DATA_UNIT = "undefined"


@dataclass
class NwpParse:
    """One payload's rows (model, valid_time and the value columns, nulls kept) before validation."""

    rows: pd.DataFrame  # model, valid_time, the VARIABLES columns, raw_text, line_no
    rows_in: int  # (model, hour) pairs seen


def forecast_url(nwp: NwpSettings, run: pd.Timestamp | None = None) -> str:
    """The forecast request (run None) or the Single Runs request of one past run."""
    params = {
        "latitude": nwp.latitude,
        "longitude": nwp.longitude,
        "hourly": ",".join(VARIABLES),
        "models": ",".join(nwp.models),
        "wind_speed_unit": "ms",
        "timezone": "GMT",
        "forecast_days": nwp.forecast_days,
    }
    if run is None:
        return f"{nwp.base_url.rstrip('/')}/v1/forecast?{urlencode(params, safe=',')}"
    params["run"] = f"{run:%Y-%m-%dT%H:%M}"
    return f"{nwp.single_runs_base_url.rstrip('/')}/v1/forecast?{urlencode(params, safe=',:')}"


def past_runs(nwp: NwpSettings, now: pd.Timestamp, known: set[pd.Timestamp]) -> list[pd.Timestamp]:
    """Initialisation times of the configured past runs available at ``now`` and not yet stored, oldest first."""
    if nwp.history_runs_from is None:
        return []
    end = nwp.history_runs_until or now.date()
    days = pd.date_range(nwp.history_runs_from, end, freq="1D", tz="UTC")
    runs = [d + pd.Timedelta(hours=h) for d in days for h in nwp.history_run_hours]
    latest = now - pd.Timedelta(hours=nwp.availability_delay_hours)
    return [r for r in runs if r <= latest and r not in known]


def fetch_nwp(
    nwp: NwpSettings,
    station_id: str,
    http: HttpSettings,
    known_runs: set[pd.Timestamp] = frozenset(),
    now: pd.Timestamp | None = None,
    session=None,
) -> list[Payload]:
    """The latest forecast plus every configured past run not yet fetched, each kept as received.

    A refused past run from the last RECENT_RUN_DAYS ends the backfill for this ingest (the archive may not hold
    it yet; the next ingest asks again); an older one fails the fetch.
    """
    now = utc_now() if now is None else now
    own = session is None
    session = http_client.make_session(http) if own else session
    payloads = []
    try:
        url = forecast_url(nwp)
        content = http_client.get_bytes(session, url, http, station_id)
        payloads.append(Payload(station_id, SOURCE_LIVE, redact(url), content, ".json", now))
        for run in past_runs(nwp, now, set(known_runs)):
            url = forecast_url(nwp, run)
            try:
                content = http_client.get_bytes(session, url, http, station_id)
            except SourceError:
                if run >= now - pd.Timedelta(days=RECENT_RUN_DAYS):
                    break
                raise
            payloads.append(Payload(station_id, SOURCE_RUN, redact(url), content, ".json", now))
    finally:
        if own:
            session.close()
    return payloads


def run_of(url: str) -> pd.Timestamp:
    """The initialisation time in a Single Runs request URL."""
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    return pd.Timestamp(query["run"].replace("%3A", ":"), tz="UTC")


def issue_times(payload: Payload, delay_h: float) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """(issued_at, run_time): a past run is known `delay_h` after its initialisation; a live fetch from the
    hour after it was fetched (rounded up, so a forecast never reads values fetched after its origin)."""
    if payload.source == SOURCE_RUN:
        run = run_of(payload.url)
        return run + pd.Timedelta(hours=delay_h), run
    return pd.Timestamp(payload.fetched_at).tz_convert("UTC").ceil("1h"), None


def parse_nwp(payload: Payload, models: list[str]) -> NwpParse:
    """Rows per (model, hour) of a forecast JSON, speeds in m/s; refuses a payload whose units are wrong."""
    doc, hourly, units = read_hourly_doc(payload)
    if not isinstance(units, dict):
        raise payload_error(payload, "no 'hourly_units' in the JSON: cannot tell the forecast's units")
    times = hourly["time"]
    utc, time_reason = _times_to_utc(payload, doc, times)
    frames = []
    for model in models:
        keys = {name: _model_key(hourly, name, model, len(models)) for name in VARIABLES}
        if keys["wind_speed_10m"] is None:
            raise payload_error(payload, f"no wind_speed_10m for model {model!r} (hourly keys: {sorted(hourly)})")
        cols = {"model": model, "valid_time": utc, "line_no": np.arange(len(times))}
        for name, key in keys.items():
            cols[VARIABLES[name][0]] = _converted(payload, hourly, units, key, name, len(times))
        frame = pd.DataFrame(cols)
        frame["time_reason"] = time_reason
        frame["raw_text"] = [
            json.dumps({"time": times[i], **{k: hourly[k][i] for k in keys.values() if k is not None}})
            for i in range(len(times))
        ]
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    return NwpParse(rows, len(rows))


def _model_key(hourly: dict, name: str, model: str, n_models: int) -> str | None:
    """`name_model`, else the bare `name` when only one model was asked for, else None."""
    if f"{name}_{model}" in hourly:
        return f"{name}_{model}"
    return name if n_models == 1 and name in hourly else None


def _converted(payload: Payload, hourly: dict, units: dict, key: str | None, name: str, n: int) -> np.ndarray:
    """Values under `key` as float64 (null -> NaN) in m/s or degrees, from the unit in hourly_units."""
    if key is None:
        return np.full(n, np.nan)
    if len(hourly[key]) != n:
        raise payload_error(payload, f"hourly.{key} has {len(hourly[key])} values, hourly.time has {n}")
    values = np.array([np.nan if v is None else v for v in hourly[key]], dtype="float64")
    unit = units.get(key)
    if np.isnan(values).all() and unit in (None, NO_DATA_UNIT):
        return values  # a model without data at this point
    if unit is None:
        raise payload_error(payload, f"hourly_units has no unit for {key!r}: refusing values of unknown unit")
    if VARIABLES[name][1] == "direction":
        if unit not in DIRECTION_UNITS:
            raise payload_error(payload, f"hourly_units.{key} is {unit!r}, expected degrees ('°')")
        return values
    try:
        return speed_to_ms(values, unit)
    except ValueError:
        raise payload_error(payload, f"hourly_units.{key} is {unit!r}, not a known speed unit") from None
