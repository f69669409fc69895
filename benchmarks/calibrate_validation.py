"""Validation over every real series the project can read: the share of rows each check fails, per station.

Run:  .venv/bin/python benchmarks/calibrate_validation.py [--shared ../shared] [--quick]
Series: data/sample (through the file parser), the NDBC and Open-Meteo fixtures in <shared>/fixtures (through
their parsers), <shared>/devdata/beijing as it is (0.1 m/s) and rounded to whole m/s and to whole knots, and
<shared>/devdata/knmi (whole m/s, 2013-2015 joined). Each series is resampled to 1 h and validated with the
default QualitySettings, as an ingest would. The reference beside each figure is a stuck sensor planted in the
same series: one value (the series' 75th percentile, on its own resolution) held for 72 h in the middle; the
"stuck" column says how many of those 72 hours flat_line_speed failed. "old 8h rule": the rows the former fixed
flat-line rule (a non-calm reading flat to 0.01 m/s for 8 h) failed on the same series.
Targets (issue 10): < 0.5 % flagged on healthy coarse data and on beijing as it is; 72 of 72 stuck hours caught.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tasks import canonical  # noqa: E402
from tasks.flat_spells import infer_resolution_ms  # noqa: E402
from tasks.quality_checks import FAIL, flat_line_flags, grid_slots, qartod_flags  # noqa: E402
from tasks.sources import parse_payload  # noqa: E402
from tasks.sources.base import Payload  # noqa: E402
from tasks.sources.file import read_file_source  # noqa: E402
from tasks.validation import validate_measurements  # noqa: E402
from windcast.config import NdbcSource, OpenMeteoSource, QualitySettings, load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KNOT_MS = 0.514444
COMPASS = {name: 22.5 * i for i, name in enumerate("N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())}
STUCK_HOURS = 72
CHECKS = ("flat_line_speed", "repeated_day", "spike", "rate_of_change", "flat_line_direction", "gust_below_speed")


def sample_series() -> dict[str, pd.DataFrame]:
    """The embedded sample's stations, parsed by the file source like `make run` does."""
    config = load_config(REPO / "data" / "sample" / "windcast.yaml")
    out = {}
    for station in config.stations:
        payload = read_file_source(station.source, station.id)[0]
        out[f"sample/{station.id}"] = parse_payload(payload, station.source, "raw").samples
    return out


def fixture_series(shared: Path) -> dict[str, pd.DataFrame]:
    """The NDBC and Open-Meteo payload fixtures, parsed by their parsers."""
    out = {}
    ndbc = NdbcSource(station="44013")
    for name, source in (
        ("ndbcapi_44013_realtime2.txt", "ndbc-realtime"),
        ("ndbcapi_tplm2_2022-01_monthly_stdmet.txt", "ndbc-historical"),
    ):
        payload = Payload(
            "fx", source, name, (shared / "fixtures" / name).read_bytes(), ".txt", pd.Timestamp.now("UTC")
        )
        out[f"fixture/{name.split('_')[1]}"] = parse_payload(payload, ndbc, "raw").samples
    meteo = OpenMeteoSource(latitude=0, longitude=0, start_date=date(2000, 1, 1))
    for name in ("pythonmeteo_open-meteo.json", "frenckopenmeteo_historical_weather.json"):
        for model, content in _one_model_each((shared / "fixtures" / name).read_bytes()):
            payload = Payload("fx", "open-meteo", name, content, ".json", pd.Timestamp.now("UTC"))
            samples = parse_payload(payload, meteo, "raw").samples
            if len(samples):
                out[f"fixture/{name.split('_')[0]}{model}"] = samples
    return out


def _one_model_each(content: bytes) -> list[tuple[str, bytes]]:
    """An Open-Meteo payload split into one payload per weather model (keys lose their model suffix)."""
    doc = json.loads(content)
    suffixes = sorted({k.removeprefix("wind_speed_10m") for k in doc["hourly"] if k.startswith("wind_speed_10m")})
    if suffixes == [""]:
        return [("", content)]
    out = []
    for suffix in suffixes:
        one = dict(doc)
        for part in ("hourly", "hourly_units"):
            one[part] = {k.removesuffix(suffix): v for k, v in doc[part].items() if k == "time" or k.endswith(suffix)}
        out.append((suffix.replace("_", "/", 1), json.dumps(one).encode()))
    return out


def beijing_series(shared: Path) -> dict[str, pd.DataFrame]:
    """Beijing sites as they are (0.1 m/s) and rounded to whole m/s and to whole knots."""
    out = {}
    for path in sorted((shared / "devdata" / "beijing").glob("PRSA_Data_*.csv")):
        site = path.name.split("_")[2]
        raw = pd.read_csv(path)
        local = pd.to_datetime(raw[["year", "month", "day", "hour"]])
        time_utc = local.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
        speed = raw["WSPM"].to_numpy(dtype=float)
        direction = raw["wd"].map(COMPASS).to_numpy(dtype=float)
        for label, values in (
            ("", speed),
            ("/whole_ms", np.round(speed)),
            ("/whole_kn", np.round(speed / KNOT_MS) * KNOT_MS),
        ):
            out[f"beijing/{site}{label}"] = _samples(time_utc, values, direction)
    return out


def knmi_series(shared: Path) -> dict[str, pd.DataFrame]:
    """KNMI stations with a value in every row, 2013-2015 joined; row n is the n-th hour of its year (UT)."""
    frames = []
    for path in sorted((shared / "devdata" / "knmi").glob("*_wind_measurements_no260.csv")):
        year = int(path.name[:4])
        table = pd.read_csv(path)
        table.index = pd.date_range(f"{year}-01-01", periods=len(table), freq="h", tz="UTC")
        frames.append(table)
    table = pd.concat(frames)
    out = {}
    for column in table.columns:
        values = table[column].to_numpy(dtype=float) / 10.0
        if np.isfinite(values).mean() > 0.99:
            out[f"knmi/{column}"] = _samples(table.index.to_series(), values, np.full(len(values), np.nan))
    return out


def _samples(times: pd.Series, speed: np.ndarray, direction: np.ndarray) -> pd.DataFrame:
    """A canonical sample frame (rows with a missing speed dropped, as the parsers reject them)."""
    frame = pd.DataFrame(
        {
            "station_id": pd.Series("cal", index=range(len(speed)), dtype="string"),
            "time": pd.DatetimeIndex(times).astype("datetime64[us, UTC]"),
            "wind_speed_ms": speed,
            "wind_dir_deg": direction,
            "wind_gust_ms": np.nan,
            "raw_ref": pd.Series("raw", index=range(len(speed)), dtype="string"),
        }
    )
    return frame[np.isfinite(speed)].reset_index(drop=True)


def hourly(samples: pd.DataFrame) -> pd.DataFrame:
    """Samples resampled to 1 h as an ingest does, with the columns validation expects."""
    dedup = canonical.deduplicate_samples(samples)
    intervals = canonical.resample_samples(dedup.samples, "1h", 0.5).intervals
    return intervals.assign(source="calibration", ingested_at=pd.Timestamp.now("UTC"))


def stuck_caught(frame: pd.DataFrame, quality: QualitySettings) -> int:
    """How many hours of a 72 h stuck value planted mid-series flat_line_speed fails."""
    speed = frame["wind_speed_ms"].to_numpy(dtype=float).copy()
    if len(speed) < 3 * STUCK_HOURS:
        return -1
    resolution = infer_resolution_ms(speed) or 0.01
    value = np.round(np.quantile(speed, 0.75) / resolution) * resolution
    start = len(speed) // 2
    speed[start : start + STUCK_HOURS] = value
    directions = frame["wind_dir_deg"].to_numpy(dtype=float)
    flags = qartod_flags(frame["time"], speed, directions, quality, "1h")["flat_line_speed"]
    # a stuck span that happens to cross a gap is split; count only what was planted
    return int((flags[start : start + STUCK_HOURS] == FAIL).sum())


def old_rule_fraction(frame: pd.DataFrame, quality: QualitySettings) -> float:
    """Share of rows the former fixed rule failed (a non-calm reading flat to 0.01 m/s for 8 h): the reference."""
    slots = grid_slots(frame["time"], "1h")
    speed = np.full(int(slots[-1]) + 1 if len(slots) else 0, np.nan)
    speed[slots] = frame["wind_speed_ms"].to_numpy(dtype=float)
    windy = np.where(speed < quality.flat_line_min_speed_ms, np.nan, speed)
    flags = flat_line_flags(windy, 4, 8, 0.01)[slots]
    return float((flags == FAIL).mean()) if len(flags) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--quick", action="store_true", help="one beijing site and three KNMI stations")
    args = parser.parse_args()
    quality = QualitySettings()
    series = {**sample_series(), **fixture_series(args.shared), **beijing_series(args.shared)}
    series.update(knmi_series(args.shared))
    if args.quick:
        keep = ("sample/", "fixture/", "beijing/Dongsi", "knmi/240", "knmi/257", "knmi/320")
        series = {k: v for k, v in series.items() if k.startswith(keep)}
    print(f"# {date.today()} {platform.machine()} {os.cpu_count()} cpu, python {sys.version.split()[0]}")
    print("# flagged = rows failed per check, % of the series' hourly rows; suspect = flat_line_speed suspect %")
    head = f"{'series':<30} {'rows':>6} {'res m/s':>7} " + " ".join(f"{c[:14]:>14}" for c in CHECKS)
    print(head + f" {'any check':>9} {'suspect':>7} {'stuck/72':>8} {'old 8h rule':>11}")
    started = time.perf_counter()
    for name, samples in series.items():
        frame = hourly(samples)
        result = validate_measurements(frame, quality, "1h")
        by_check = result.summary.set_index("check")
        n = max(len(frame), 1)
        cells = " ".join(f"{100 * by_check.loc[c, 'rows_failed'] / n:13.3f}%" for c in CHECKS)
        suspect = 100 * by_check.loc["flat_line_speed", "rows_suspect"] / n
        resolution = infer_resolution_ms(frame["wind_speed_ms"].to_numpy(dtype=float))
        stuck = stuck_caught(frame, quality)
        print(
            f"{name:<30} {len(frame):>6} {resolution:7.3f} {cells} {100 * result.failed_fraction:8.3f}% "
            f"{suspect:6.3f}% {'n/a' if stuck < 0 else stuck:>8} {100 * old_rule_fraction(frame, quality):10.3f}%"
        )
    print(f"# {len(series)} series in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
