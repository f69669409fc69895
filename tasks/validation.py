"""Validate one station's resampled measurements: Great Expectations, then QARTOD wind tests.

Rows that fail any check go to the quarantine with the names of the checks they failed; the rest are curated.
QARTOD SUSPECT flags are counted in the summary but do not reject a row.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from tasks.quality_checks import FAIL, GOOD, MISSING, QARTOD_CHECKS, SERIES_CHECKS, SUSPECT, qartod_flags
from windcast.config import QualitySettings
from windcast.schemas import MEASUREMENT_COLUMNS

# Great Expectations is imported on first use (it takes seconds), and never phones home.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

GX_CHECKS = (
    "schema",
    "speed_not_null",
    "speed_range",
    "direction_range",
    "gust_below_speed",
    "time_not_null",
    "duplicate_time",
    "time_not_increasing",
)
SUMMARY_COLUMNS = ["check", "kind", "rows_evaluated", "rows_failed", "rows_suspect", "success"]
_RESULT_FORMAT = {
    "result_format": "COMPLETE",  # unexpected_index_list maps each failure back to its row
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
_GX_LOCK = threading.Lock()  # the shared GX context is not known to be thread-safe


@dataclass
class ValidationResult:
    """Outcome of validating one station's measurements."""

    curated: pd.DataFrame  # rows that passed every check, input columns
    quarantined: pd.DataFrame  # rows that failed: input columns + `reason` ("a;b", sorted check names)
    summary: pd.DataFrame  # one row per check, SUMMARY_COLUMNS
    failed_fraction: float  # len(quarantined) / len(input); 0.0 for empty input


def validate_measurements(df: pd.DataFrame, quality: QualitySettings, freq: str) -> ValidationResult:
    """Split one station's measurements at frequency `freq` into curated and quarantined rows."""
    check_measurement_columns(df)
    stations = df["station_id"].dropna().unique()
    if len(stations) > 1:
        raise ValueError(f"validate one station at a time, got {len(stations)}: {sorted(map(str, stations))[:5]}")
    data = df.reset_index(drop=True)
    gx_failed, gx_summary = run_expectations(data, quality)
    flags = run_qartod(data, gx_failed, quality, freq)
    failed = {**gx_failed, **{name: f == FAIL for name, f in flags.items()}}
    reasons = failure_reasons(failed, len(data))
    bad = reasons != ""
    summary = pd.DataFrame(gx_summary + [_qartod_row(name, f) for name, f in flags.items()], columns=SUMMARY_COLUMNS)
    return ValidationResult(
        curated=df[~bad],
        quarantined=df[bad].assign(reason=pd.Series(reasons[bad], index=df.index[bad], dtype="string")),
        summary=summary,
        failed_fraction=float(bad.mean()) if len(df) else 0.0,
    )


def check_measurement_columns(df: pd.DataFrame) -> None:
    """Raise ValueError unless df has exactly MEASUREMENT_COLUMNS, numeric values and tz-aware times."""
    missing = [c for c in MEASUREMENT_COLUMNS if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in MEASUREMENT_COLUMNS]
    if missing or extra:
        raise ValueError(f"measurements do not match the schema: missing columns {missing}, unexpected columns {extra}")
    for column in ("wind_speed_ms", "wind_dir_deg", "wind_gust_ms", "n_samples"):
        if not pd.api.types.is_numeric_dtype(df[column]):
            raise ValueError(f"measurement column {column!r} must be numeric, got dtype {df[column].dtype}")
    if not isinstance(df["time"].dtype, pd.DatetimeTZDtype):
        raise ValueError(f"measurement column 'time' must be tz-aware datetime64, got dtype {df['time'].dtype}")


def run_expectations(data: pd.DataFrame, quality: QualitySettings) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Run the GX suite on a frame with a RangeIndex; return failed-row masks per check and summary rows."""
    with _GX_LOCK:
        suite = _suite(quality.speed_min_ms, quality.speed_max_ms)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": data})
        outcome = batch.validate(suite, result_format=_RESULT_FORMAT)
    by_check = {r.expectation_config.meta["check"]: r for r in outcome.results}
    failed, rows = {}, []
    for name in GX_CHECKS:
        r = by_check[name]
        if r.exception_info.get("raised_exception"):
            raise ValueError(f"GX check {name!r} could not run: {r.exception_info.get('exception_message')}")
        if name == "schema":
            assert r.success, "columns were checked before GX ran"
            rows.append((name, "gx", len(data), 0, 0, True))
            continue
        mask = np.zeros(len(data), dtype=bool)
        mask[np.asarray(r.result.get("unexpected_index_list") or [], dtype=np.int64)] = True
        evaluated = r.result.get("element_count", len(data)) - (r.result.get("missing_count") or 0)
        failed[name] = mask
        rows.append((name, "gx", int(evaluated), int(mask.sum()), 0, bool(r.success)))
    return failed, rows


def run_qartod(
    data: pd.DataFrame, gx_failed: dict[str, np.ndarray], quality: QualitySettings, freq: str
) -> dict[str, np.ndarray]:
    """QARTOD flags per check for each row; rows without a usable unique time get MISSING (9)."""
    on_grid = ~(gx_failed["duplicate_time"] | gx_failed["time_not_null"] | data["time"].isna().to_numpy())
    rows = np.flatnonzero(on_grid)
    stamps = pd.DatetimeIndex(data["time"]).as_unit("us").asi8  # int64: no per-row Timestamp objects
    rows = rows[np.argsort(stamps[rows], kind="stable")]
    bad_speed = gx_failed["speed_not_null"] | gx_failed["speed_range"]
    speed = np.where(bad_speed, np.nan, data["wind_speed_ms"].to_numpy(dtype=float, na_value=np.nan))
    direction = np.where(
        gx_failed["direction_range"], np.nan, data["wind_dir_deg"].to_numpy(dtype=float, na_value=np.nan)
    )
    sorted_flags = qartod_flags(data["time"].iloc[rows], speed[rows], direction[rows], quality, freq)
    flags = {}
    for name in (*QARTOD_CHECKS, *SERIES_CHECKS):
        flags[name] = np.full(len(data), MISSING, dtype=np.uint8)
        flags[name][rows] = sorted_flags[name]
    return flags


def failure_reasons(failed: dict[str, np.ndarray], n_rows: int) -> np.ndarray:
    """Per row, the sorted names of the failed checks joined by ';' ('' when none failed)."""
    names = sorted(failed)
    codes = np.zeros(n_rows, dtype=np.int64)
    for bit, name in enumerate(names):
        codes |= failed[name].astype(np.int64) << bit
    reasons = np.full(n_rows, "", dtype=object)
    for code in np.unique(codes[codes != 0]):
        reasons[codes == code] = ";".join(n for bit, n in enumerate(names) if code >> bit & 1)
    return reasons


def _qartod_row(name: str, flags: np.ndarray) -> tuple:
    """Summary row of one QARTOD (or series) check: evaluated rows are those flagged good, suspect or fail."""
    evaluated = int(np.isin(flags, (GOOD, SUSPECT, FAIL)).sum())
    n_fail = int((flags == FAIL).sum())
    kind = "series" if name in SERIES_CHECKS else "qartod"
    return (name, kind, evaluated, n_fail, int((flags == SUSPECT).sum()), n_fail == 0)


@lru_cache(maxsize=1)
def _context():
    """A process-wide ephemeral GX context, quiet (no progress bars)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@lru_cache(maxsize=1)
def _batch_definition():
    """The whole-dataframe batch definition of a pandas data source in the shared context."""
    asset = _context().data_sources.add_pandas("windcast").add_dataframe_asset("measurements")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


@lru_cache(maxsize=8)
def _suite(speed_min_ms: float, speed_max_ms: float):
    """The measurement expectation suite (a gx.ExpectationSuite); each expectation's meta names its check."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    _context()  # GX binds a suite to the active context when expectations are added
    expectations = {
        "schema": gxe.ExpectTableColumnsToMatchSet(column_set=list(MEASUREMENT_COLUMNS), exact_match=True),
        "speed_not_null": gxe.ExpectColumnValuesToNotBeNull(column="wind_speed_ms"),
        "speed_range": gxe.ExpectColumnValuesToBeBetween(
            column="wind_speed_ms", min_value=speed_min_ms, max_value=speed_max_ms
        ),
        "direction_range": gxe.ExpectColumnValuesToBeBetween(column="wind_dir_deg", min_value=0, max_value=360),
        "gust_below_speed": gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="wind_gust_ms",
            column_B="wind_speed_ms",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        "time_not_null": gxe.ExpectColumnValuesToNotBeNull(column="time"),
        "duplicate_time": gxe.ExpectCompoundColumnsToBeUnique(column_list=["station_id", "time"]),
        "time_not_increasing": gxe.ExpectColumnValuesToBeIncreasing(column="time", strictly=True),
    }
    suite = gx.ExpectationSuite(name=f"measurements_{speed_min_ms}_{speed_max_ms}")
    for name, expectation in expectations.items():
        expectation.meta = {"check": name}
        suite.add_expectation(expectation)
    return suite
