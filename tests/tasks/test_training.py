"""The training stage on a real store: settings mapping, registration, the train flow's building blocks."""

import dataclasses
import typing

from models.networks import KINDS
from models.training import ForecasterConfig
from tasks.training import forecaster_config
from windcast.config import BacktestSettings, TrainingSettings


def test_pipeline_defaults_equal_the_models_defaults():
    built = forecaster_config(TrainingSettings(), "gru", BacktestSettings())
    defaults = ForecasterConfig()
    for f in dataclasses.fields(ForecasterConfig):
        if f.name in {"kind"}:
            continue
        assert getattr(built, f.name) == getattr(defaults, f.name), f.name


def test_concurrent_trainings_get_one_thread_each():
    assert forecaster_config(TrainingSettings(), "gru", BacktestSettings(), concurrent_jobs=6).num_threads == 1
    assert forecaster_config(TrainingSettings(), "gru", BacktestSettings(), concurrent_jobs=1).num_threads is None
    pinned = TrainingSettings(num_threads=2)
    assert forecaster_config(pinned, "gru", BacktestSettings(), concurrent_jobs=6).num_threads == 2


def test_every_network_kind_is_selectable_in_the_config():
    kinds = typing.get_args(typing.get_args(TrainingSettings.model_fields["kinds"].annotation)[0])
    assert sorted(kinds) == sorted(KINDS)
    assert TrainingSettings(kinds=list(KINDS)).kinds == list(KINDS)
