"""The CLI's last line says what failed and why in one sentence; a bad config exits 2 before anything runs."""

from __future__ import annotations

import pandas as pd

from windcast.cli import main, one_sentence


def test_a_failed_station_is_named_on_the_last_line(tmp_path, capsys, prefect_harness):
    times = pd.date_range("2024-03-01", periods=30, freq="h")
    rows = "".join(f"{t:%d/%m/%Y %H:%M},{5 + i % 3},180\n" for i, t in enumerate(times))
    (tmp_path / "s1.csv").write_text("time,wind_speed_ms,wind_dir_deg\n" + rows)
    config = tmp_path / "windcast.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'store'}\nstations:\n"
        "  - id: s1\n    source: {kind: file, path: s1.csv, time_format: '%Y-%m-%d %H:%M'}\n"
    )
    assert main(["ingest", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == (
        "windcast: ingest failed: ingest failed for 1 of 1 station(s): s1: DataQualityError: station 's1': "
        "100.0% of rows failed validation (mostly parse_error: bad time), more than max_failed_fraction 5.0% "
        "(details above)"
    )
    assert "parse_error: bad time: 30 rows (e.g. line 2: '01/03/2024 00:00,5,180'" in lines[-2]


def test_a_bad_config_exits_2_naming_the_file(tmp_path, capsys):
    config = tmp_path / "windcast.yaml"
    config.write_text("")
    assert main(["ingest", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"windcast: error: config file {str(config)!r} is empty: it must define at least one station"
    )


def test_one_sentence_keeps_the_first_clause():
    assert one_sentence("a failed; because b") == "a failed (details above)"
    assert one_sentence("short") == "short"
    assert one_sentence("x " * 400, limit=20) == "x x x x x x x x..." + " (details above)"
