"""The pretrained start: which weights are copied, how input channels are matched, and the bundled checkpoint."""

import dataclasses

import pytest
import torch

from models.checkpoint import save_fit
from models.networks import ForecastEnsemble
from models.training import ForecasterConfig, fit_forecaster
from models.warm_start import PRETRAINED_DIR, load_pretrained, read_pretrained, resolve_init_weights
from tests.models.test_training import FAST, wind_frame

SPEED_ONLY = dict(FAST, init_weights=None, n_members=1)


@pytest.fixture(scope="module")
def speed_only_checkpoint(tmp_path_factory):
    """A network pretrained on a speed-only station (no direction, no gust), saved as a forecaster checkpoint."""
    frame = wind_frame(1200, seed=3)[["time", "wind_speed_ms"]]
    fit = fit_forecaster({"pre": frame}, ForecasterConfig(**SPEED_ONLY))
    return save_fit(tmp_path_factory.mktemp("pre") / "pre.pt", fit), fit


def test_load_copies_encoder_head_and_blend_maps_inputs_by_name_and_leaves_the_skip_path(speed_only_checkpoint):
    path, pre_fit = speed_only_checkpoint
    payload = read_pretrained(path)
    source, source_names = pre_fit.forecaster.model.members[0], pre_fit.feature_names
    assert "wind_dir_sin" not in source_names and "hour_clim_ms" in source_names
    target_names = ["wind_speed_ms", "wind_dir_sin", "wind_dir_cos", "hour_clim_ms", "hour_sin", "hour_cos"]
    config = dataclasses.replace(source.config, n_features=len(target_names), n_members=2, anchor_channel=3,
                                 cyclic_pairs=((4, 5, 24.0),))  # fmt: skip
    model = ForecastEnsemble(config)
    report = load_pretrained(model, payload, target_names)
    assert "head.weight" in report["copied"] and "blend_logit" in report["copied"]
    assert "skip.weight" in report["skipped"]
    for member in model.members:  # every member starts from the same pretrained member
        assert torch.equal(member.head.weight, source.head.weight)
        assert torch.equal(member.encoder.weight_hh_l0, source.encoder.weight_hh_l0)
        assert torch.count_nonzero(member.skip.weight) == 0  # fitted later, per station
        w, w_src = member.encoder.weight_ih_l0, source.encoder.weight_ih_l0
        for j, name in enumerate(target_names):
            if name in source_names:
                assert torch.equal(w[:, j], w_src[:, source_names.index(name)])
            else:
                assert torch.count_nonzero(w[:, j]) == 0  # a channel pretraining never saw starts silent


def test_fit_starts_from_the_checkpoint_and_fine_tunes_at_its_own_learning_rate(speed_only_checkpoint):
    path, pre_fit = speed_only_checkpoint
    frame = wind_frame(1000, seed=5)  # speed, direction and gust
    still = ForecasterConfig(**dict(FAST, init_weights=str(path), finetune_learning_rate=1e-9, max_epochs=1))
    fit = fit_forecaster({"new": frame}, still)
    source = pre_fit.forecaster.model.members[0]
    assert torch.allclose(fit.forecaster.model.members[0].encoder.weight_hh_l0, source.encoder.weight_hh_l0, atol=1e-6)
    # the one-cycle schedule peaks at finetune_learning_rate, at learning_rate for a fresh start
    assert 0 < max(s.lr for s in fit.history) <= 1e-9
    fresh = fit_forecaster({"new": frame}, dataclasses.replace(still, init_weights=None))
    assert max(s.lr for s in fresh.history) > 1e-4
    assert (fit.init_weights, fresh.init_weights) == ("pre.pt", None)  # save_fit records it in the checkpoint
    # a station with more training hours than pretrained_max_hours starts fresh: its own data is enough
    assert fit_forecaster({"new": frame}, dataclasses.replace(still, pretrained_max_hours=100)).init_weights is None
    assert not torch.allclose(fresh.forecaster.model.members[0].encoder.weight_hh_l0, source.encoder.weight_hh_l0)


def test_bundled_checkpoint_is_small_weights_only_and_says_where_it_came_from():
    path = resolve_init_weights("auto", "gru", 32, 1)
    assert path is not None and path.parent == PRETRAINED_DIR and path.stat().st_size < 200_000
    payload = read_pretrained(path)  # torch.load(..., weights_only=True)
    provenance = payload["extra"]["provenance"]
    assert provenance["command"] == "python benchmarks/pretrain_knmi.py --kind gru"
    assert len(provenance["stations"]) == 12 and len(provenance["data"]) == 3  # KNMI stations, sha256 per file
    assert payload["kind"] == "gru" and payload["network"]["hidden_size"] == 32
    assert resolve_init_weights("auto", "lstm", 32, 1).name == "knmi_lstm32.pt"
    assert resolve_init_weights("auto", "cnn", 32, 1) is None  # no checkpoint for it: a fresh start
    assert resolve_init_weights("auto", "gru", 64, 1) is None and resolve_init_weights(None, "gru", 32, 1) is None


def test_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such checkpoint file"):
        resolve_init_weights(str(tmp_path / "nope.pt"), "gru", 32, 1)
    long_record = ForecasterConfig(**dict(FAST, init_weights=str(tmp_path / "nope.pt"), pretrained_max_hours=1))
    with pytest.raises(ValueError, match="no such checkpoint file"):  # a typo is an error, however long the record
        fit_forecaster({"a": wind_frame(600)}, long_record)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="is not a windcast-forecaster/1 checkpoint"):
        read_pretrained(foreign)
