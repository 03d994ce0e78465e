"""The run config is the contract between API, CLI and trainer: it must reject what is wrong
with a message naming the field, and round-trip through JSON unchanged."""

import pytest
from pydantic import ValidationError

from backend.runconfig import PRESETS, RunConfig


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


@pytest.mark.parametrize("bad, field", [
    (dict(dataset="imagenet"), "dataset"),
    (dict(model="resnet1000"), "model"),
    (dict(model="wrn-15-4"), "model"),
    (dict(method="cutmix"), "method"),
    (dict(alpha=0), "alpha"),
    (dict(alpha=-1), "alpha"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=100_000), "epochs"),
    (dict(batch_size=-1), "batch_size"),
    (dict(lr_milestones=[0.5, 1.5]), "lr_milestones"),
    (dict(unknown_key=1), "unknown_key"),
    (dict(model_args=dict(widht=3)), "model_args.widht"),
    (dict(probe=dict(clean_per_class=0)), "probe.clean_per_class"),
])
def test_bad_config_names_the_field(bad, field):
    with pytest.raises(ValidationError) as info:
        RunConfig(**bad)
    assert field in _error_fields(info.value)


def test_record_epochs_beyond_training_are_rejected():
    with pytest.raises(ValidationError, match="record.epochs"):
        RunConfig(epochs=10, record=dict(epochs=[0, 5, 20]))


def test_default_triple_must_be_distinct():
    with pytest.raises(ValidationError, match="three distinct"):
        RunConfig(record=dict(default_triple=(0, 0, 1)))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_validate_and_round_trip(preset):
    config = RunConfig.from_preset(preset)
    again = RunConfig.model_validate_json(config.model_dump_json())
    assert again == config


def test_preset_overrides_merge_deeply():
    config = RunConfig.from_preset("digits-demo", method="erm", model_args=dict(feature_dim=16))
    assert config.method == "erm"
    assert config.model_args.feature_dim == 16
    assert config.model_args.width == 512  # untouched by the override


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        RunConfig.from_preset("nope")
