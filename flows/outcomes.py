"""Waiting on per-station futures so one station's failure never loses the others' results."""

from __future__ import annotations

from collections.abc import Sequence

from prefect.futures import PrefectFuture


class StationsFailed(RuntimeError):
    """Some stations failed; the message names each one and why."""


def gather_station_results(chains: dict[str, Sequence[PrefectFuture]]) -> tuple[dict, dict[str, str]]:
    """Wait for each station's chain of futures (upstream first); return, per station, the list of the chain's
    results when every step completed, and per failed station the error of the first step that failed."""
    results, failures = {}, {}
    for station_id, chain in chains.items():
        for future in chain:
            future.wait()
        values = []
        for future in chain:
            try:
                values.append(future.result())
            except Exception as exc:  # reported per station by raise_if_failed
                failures[station_id] = f"{type(exc).__name__}: {exc}"
                break
        else:
            results[station_id] = values
    return results, failures


def raise_if_failed(failures: dict[str, str], total: int, stage: str) -> None:
    """Fail the flow run naming every failed station (after the others' results were kept)."""
    if failures:
        lines = "; ".join(f"{sid}: {why}" for sid, why in failures.items())
        raise StationsFailed(f"{stage} failed for {len(failures)} of {total} station(s): {lines}")


def collect_station_results(chains: dict[str, Sequence[PrefectFuture]], stage: str) -> dict:
    """Gather every station's chain results, raising naming the failed ones."""
    results, failures = gather_station_results(chains)
    raise_if_failed(failures, len(chains), stage)
    return results
