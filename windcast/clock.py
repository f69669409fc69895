"""The pipeline's one idea of "now": the real UTC time, or the time in ``WINDCAST_NOW`` when it is set.

Every stage that needs the current time (the future-time check, the watermark bound, the Open-Meteo end date,
the forecast issue time, ``ingested_at``) asks here, so a soak test or a replay can run the schedule on a
simulated clock instead of sleeping.
"""

from __future__ import annotations

import os

import pandas as pd

NOW_ENV = "WINDCAST_NOW"


def utc_now() -> pd.Timestamp:
    """The current time (UTC, tz-aware): ``WINDCAST_NOW`` (ISO 8601, UTC when it has no offset) if set."""
    value = os.environ.get(NOW_ENV, "").strip()
    if not value:
        return pd.Timestamp.now(tz="UTC")
    try:
        now = pd.Timestamp(value)
    except ValueError:
        raise ValueError(f"{NOW_ENV}={value!r} is not an ISO 8601 time") from None
    if now is pd.NaT:
        raise ValueError(f"{NOW_ENV}={value!r} is not an ISO 8601 time")
    return now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")


# How far ahead of "now" a source's time may be (clock skew; NDBC stamps the END of its averaging period):
# anything later is quarantined as `future_time`, and the watermark never goes past it.
FUTURE_TOLERANCE = pd.Timedelta(minutes=10)


def latest_plausible_time() -> pd.Timestamp:
    """The newest time a measurement may carry now: now plus FUTURE_TOLERANCE."""
    return utc_now() + FUTURE_TOLERANCE
