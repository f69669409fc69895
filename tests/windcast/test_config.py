"""Config loading: a bad file is refused at load time with a message naming the file and what is wrong."""

from __future__ import annotations

import pytest

from windcast.config import FileSource, load_config

STATION = "stations:\n  - id: s1\n    source: {kind: file, path: s1.csv%s}\n"


def _write(tmp_path, text: str):
    path = tmp_path / "windcast.yaml"
    path.write_text(text)
    return path


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    path = _write(tmp_path, "frequency: 1h\nstations:\n  - id: s1\n    source: {kind: file, path: [s1.csv\n")
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"config file {str(path)!r} is not valid YAML: line 5, column 1: ")
    assert "<unicode string>" not in message


def test_an_unknown_time_zone_is_refused_when_the_config_is_read(tmp_path):
    path = _write(tmp_path, STATION % ", timezone: Europe/Amsterdm")
    with pytest.raises(
        ValueError, match=r"stations\.0\.source\.file\.timezone: Value error, time zone 'Europe/Amsterdm'"
    ):
        load_config(path)
    assert FileSource(path="x.csv", timezone="+01:00").timezone == "+01:00"
    assert FileSource(path="x.csv", timezone="Europe/Amsterdam").timezone == "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "is empty: it must define at least one station"), ("frequency: 1h\n", "defines no stations: nothing to do")],
)
def test_a_config_without_stations_is_refused(tmp_path, text, why):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert str(info.value) == f"config file {str(path)!r} {why}"


def test_an_unknown_encoding_is_refused_and_a_known_one_kept(tmp_path):
    with pytest.raises(ValueError, match=r"encoding 'latin-9000' is unknown"):
        load_config(_write(tmp_path, STATION % ", encoding: latin-9000"))
    config = load_config(_write(tmp_path, STATION % ", encoding: latin-1"))
    assert config.stations[0].source.encoding == "latin-1"
