"""Short summaries of quarantined rows: counts per check and a few examples, whatever the size of the data.

A reject reason may name the bad value (``parse_error: bad time '01/02/2020'``); its check is the reason without
that value, so one wrong ``time_format`` on 20,000 rows is one check with 20,000 rows, not 20,000 checks. The
rows themselves, values and line numbers included, stay in quarantine/.
"""

from __future__ import annotations

import re

import pandas as pd

_VALUE_RE = re.compile(r"\s+['\"].*$")  # a quoted bad value ends a reason
_COUNT_RE = re.compile(r", got \d+$")  # "expected 5 fields, got 3"
MAX_CHECKS = 5
MAX_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 60


def reason_check(reason: str) -> str:
    """The check(s) of a reason, without the bad values it names ('a;b' stays 'a;b')."""
    return ";".join(_COUNT_RE.sub("", _VALUE_RE.sub("", part.strip())) for part in str(reason).split(";"))


def rows_by_check(quarantined: pd.DataFrame) -> dict[str, int]:
    """Payload rows per check (an interval counts its samples; a row failing several checks counts once)."""
    if quarantined.empty:
        return {}
    checks = quarantined["reason"].astype(str).map(reason_check)
    weights = pd.to_numeric(quarantined["n_samples"], errors="coerce").fillna(1).astype(int)
    return {k: int(v) for k, v in sorted(weights.groupby(checks.to_numpy()).sum().items())}


def summarise_quarantine(quarantined: pd.DataFrame) -> str:
    """One line: rows per check, biggest first, each with a few examples (line number and text, or time)."""
    counts = rows_by_check(quarantined)
    if not counts:
        return "nothing quarantined"
    checks = quarantined["reason"].astype(str).map(reason_check).to_numpy()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = []
    for check, n in ranked[:MAX_CHECKS]:
        examples = [_example(row) for _, row in quarantined[checks == check].head(MAX_EXAMPLES).iterrows()]
        parts.append(f"{check}: {n:,} rows (e.g. {', '.join(examples)})")
    more = len(ranked) - MAX_CHECKS
    return "; ".join(parts) + (f"; and {more} more checks" if more > 0 else "")


def _example(row: pd.Series) -> str:
    """Where one quarantined row came from: its payload line, else its interval time and speed."""
    if pd.notna(row.get("line_no")):
        text = str(row.get("raw_text") or "")
        if len(text) > MAX_EXAMPLE_CHARS:
            text = text[: MAX_EXAMPLE_CHARS - 3] + "..."
        return f"line {int(row['line_no'])}: {text!r}"
    speed = row.get("wind_speed_ms")
    value = "" if pd.isna(speed) else f" speed {speed:g} m/s"
    return f"{row.get('time')}{value}"
