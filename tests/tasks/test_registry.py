import json

import pytest

from tasks import registry
from tasks.store import Store


def write_params(params):
    def write(folder):
        (folder / "params.json").write_text(json.dumps(params))

    return write


def test_versions_count_up_per_station_and_kind(tmp_path):
    store = Store(tmp_path)
    v1 = registry.register(store, "s1", "blend", write_params({"tau_h": 10}), {"note": "first"})
    v2 = registry.register(store, "s1", "blend", write_params({"tau_h": 12}), {})
    other = registry.register(store, "s2", "blend", write_params({"tau_h": 9}), {})
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v2.path == tmp_path / "registry" / "s1" / "blend" / "v0002"
    assert registry.read_meta(v1) == {"note": "first", "station_id": "s1", "kind": "blend", "version": 1}
    assert [v.version for v in registry.list_versions(store, "s1", "blend")] == [1, 2]
    assert not list((tmp_path / "registry" / "s1" / "blend").glob(".staging-*"))


def test_a_failed_write_leaves_no_version(tmp_path):
    store = Store(tmp_path)

    def broken(folder):
        (folder / "model.pt").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        registry.register(store, "s1", "gru", broken, {})
    assert registry.list_versions(store, "s1", "gru") == []
    assert not list((tmp_path / "registry" / "s1" / "gru").iterdir())


def test_champion_pointer_keeps_history(tmp_path):
    store = Store(tmp_path)
    blend = registry.register(store, "s1", "blend", write_params({}), {})
    gru = registry.register(store, "s1", "gru", write_params({}), {})
    assert registry.read_champion(store, "s1") is None
    registry.set_champion(store, blend, "first model: best baseline", 1.5)
    pointer = registry.set_champion(store, gru, "gru v1 beat blend", 1.4)
    assert (pointer["kind"], pointer["version"], pointer["path"]) == ("gru", 1, "registry/s1/gru/v0001")
    assert [h["kind"] for h in registry.read_champion(store, "s1")["history"]] == ["blend"]


def test_bad_kind_and_station_are_refused(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError, match="model kind '../x'"):
        registry.register(store, "s1", "../x", write_params({}), {})
    with pytest.raises(ValueError, match="is not allowed"):
        registry.list_versions(store, "../s1", "gru")
    with pytest.raises(FileNotFoundError, match="no gru v7"):
        registry.get_version(store, "s1", "gru", 7)
