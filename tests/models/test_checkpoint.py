"""Checkpoints: plain dicts loadable with weights_only=True, atomic writes, same predictions after load."""

import os

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint, save_fit
from models.training import ForecasterConfig, fit_forecaster, predict
from tests.models.test_training import FAST, wind_frame


@pytest.mark.parametrize("quantiles", [(), (0.1, 0.5, 0.9)])
def test_save_load_gives_identical_predictions(tmp_path, quantiles):
    frame = wind_frame(900)
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**dict(FAST, max_epochs=1, quantiles=quantiles)))
    path = save_fit(tmp_path / "reg" / "gru.pt", fit, extra={"station_id": "a"})
    forecaster, meta = load_checkpoint(path)
    origins = frame["time"].iloc[100:400:7]
    np.testing.assert_array_equal(predict(forecaster, frame, origins), predict(fit.forecaster, frame, origins))
    assert meta["kind"] == "gru" and meta["feature_names"] == fit.feature_names
    assert meta["training_window"] == fit.training_window
    assert meta["metrics"]["test_rmse_ms"] == fit.metrics["test_rmse_ms"]
    assert meta["extra"]["station_id"] == "a" and meta["extra"]["cutoffs"]["a"] == fit.cutoffs["a"].to_dict()
    assert meta["network"]["quantiles"] == list(quantiles) and "created_at" in meta
    assert [p.name for p in path.parent.iterdir()] == ["gru.pt"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file, not mkstemp's 0600


def test_checkpoint_holds_only_plain_types_and_tensors(tmp_path):
    fit = fit_forecaster({"a": wind_frame(900)}, ForecasterConfig(**dict(FAST, max_epochs=1)))
    path = save_checkpoint(tmp_path / "m.pt", fit.forecaster, metrics={"rmse": np.float64(1.5)})
    payload = torch.load(path, weights_only=True)

    def walk(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and walk(x) for k, x in v.items())
        if isinstance(v, list):
            return all(walk(x) for x in v)
        return isinstance(v, (str, int, float, bool, type(None), torch.Tensor))

    assert walk(payload) and payload["metrics"] == {"rmse": 1.5}


def test_unplain_metadata_is_refused(tmp_path):
    fit = fit_forecaster({"a": wind_frame(900)}, ForecasterConfig(**dict(FAST, max_epochs=1)))
    with pytest.raises(ValueError, match="checkpoint field metrics.bad holds a object"):
        save_checkpoint(tmp_path / "m.pt", fit.forecaster, metrics={"bad": object()})
    assert not any(tmp_path.iterdir())


def test_load_refuses_a_foreign_file(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="is not a windcast-forecaster/1 checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
