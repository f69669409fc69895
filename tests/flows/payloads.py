"""Payloads in the sources' real formats, written from a synthetic wind so flow tests have days of data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

NDBC_HEADER = (
    "#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE\n"
    "#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft\n"
)


def wind(n: int, seed: int) -> np.ndarray:
    """A smooth diurnal wind with a little noise, m/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.round(6 + 2.5 * np.sin(2 * np.pi * t / len(t) * 3) + rng.normal(0, 0.3, n), 1).clip(0.2)


def ndbc_realtime(start: str, hours: int, seed: int = 0) -> bytes:
    """An NDBC realtime2 stdmet file: 10-minute rows, newest first, MM for missing."""
    times = pd.date_range(start, periods=hours * 6, freq="10min", tz="UTC")
    speed = wind(len(times), seed)
    lines = []
    for t, s in zip(times[::-1], speed[::-1], strict=True):
        lines.append(
            f"{t:%Y %m %d %H %M} {int(200 + 10 * s) % 360:3d} {s:4.1f} {s * 1.3:4.1f}    MM    MM    MM  MM "
            "1015.2    MM  13.9    MM   MM   MM    MM"
        )
    return (NDBC_HEADER + "\n".join(lines) + "\n").encode()


def open_meteo_archive(start: str, hours: int, seed: int = 1) -> bytes:
    """An Open-Meteo archive response asked for m/s and UTC."""
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    speed = wind(hours, seed)
    return json.dumps(
        {
            "latitude": 52.27,
            "longitude": 6.82,
            "generationtime_ms": 1.2,
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "timezone_abbreviation": "GMT",
            "elevation": 29.0,
            "hourly_units": {
                "time": "iso8601",
                "wind_speed_10m": "m/s",
                "wind_direction_10m": "°",
                "wind_gusts_10m": "m/s",
            },
            "hourly": {
                "time": [f"{t:%Y-%m-%dT%H:%M}" for t in times],
                "wind_speed_10m": [float(s) for s in speed],
                "wind_direction_10m": [int(200 + 10 * s) % 360 for s in speed],
                "wind_gusts_10m": [round(float(s) * 1.4, 1) for s in speed],
            },
        }
    ).encode()


def open_meteo_forecast(start: str, hours: int, truth: pd.Series, models: list[str], seed: int = 2) -> bytes:
    """An Open-Meteo forecast (or single-run) response for several models: suffixed keys, km/h, GMT.

    Each model's wind is `truth` (m/s, indexed by UTC hour) at the valid hour plus noise; 6 m/s outside it.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    base = truth.reindex(times).fillna(6.0).to_numpy()
    hourly, units = {"time": [f"{t:%Y-%m-%dT%H:%M}" for t in times]}, {"time": "iso8601"}
    for model in models:
        speed = (base + rng.normal(0, 0.4, hours)).clip(0)
        hourly[f"wind_speed_10m_{model}"] = [round(float(s) * 3.6, 1) for s in speed]
        hourly[f"wind_direction_10m_{model}"] = [int(200 + 10 * s) % 360 for s in speed]
        hourly[f"wind_gusts_10m_{model}"] = [round(float(s) * 3.6 * 1.4, 1) for s in speed]
        units |= {f"wind_speed_10m_{model}": "km/h", f"wind_direction_10m_{model}": "°"}
        units[f"wind_gusts_10m_{model}"] = "km/h"
    doc = {
        "latitude": 52.27, "longitude": 6.82, "generationtime_ms": 3.1, "utc_offset_seconds": 0,
        "timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 29.0,
        "hourly_units": units, "hourly": hourly,
    }  # fmt: skip
    return json.dumps(doc, ensure_ascii=False).encode()
