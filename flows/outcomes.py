"""Waiting on per-station futures so one station's failure never loses the others' results."""

from __future__ import annotations

from collections.abc import Sequence

from prefect.futures import PrefectFuture


class StationsFailed(RuntimeError):
    """Some stations failed; the message names each one and why."""


def collect_station_results(chains: dict[str, Sequence[PrefectFuture]], stage: str) -> dict:
    """Wait for each station's chain of futures (upstream first); return the last results or raise naming each
    failed station with the error of the first step that failed."""
    results, failures = {}, {}
    for station_id, chain in chains.items():
        for future in chain:
            future.wait()
        for future in chain:
            try:
                value = future.result()
            except Exception as exc:  # reported below, per station
                failures[station_id] = f"{type(exc).__name__}: {exc}"
                break
        else:
            results[station_id] = value
    if failures:
        lines = "; ".join(f"{sid}: {why}" for sid, why in failures.items())
        raise StationsFailed(f"{stage} failed for {len(failures)} of {len(chains)} station(s): {lines}")
    return results
