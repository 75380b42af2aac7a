"""Configuration: TOML round trip, validation, presets."""

from __future__ import annotations

import pytest

from bench.config import DataConfig, RoarConfig, RunConfig, config_hash
from bench.presets import PAPER_METRICS, available_presets, get_preset


@pytest.mark.parametrize("name", ["smoke", "quick", "roar", "paper"])
def test_every_preset_round_trips_through_toml(name: str) -> None:
    config = get_preset(name)
    again = RunConfig.from_toml(config.to_toml())
    assert again == config
    assert config_hash(again) == config_hash(config)


def test_presets_are_listed_in_order_and_unknown_names_list_the_valid_ones() -> None:
    assert available_presets() == ["smoke", "quick", "roar", "paper", "imagenet-style"]
    with pytest.raises(KeyError, match="smoke, quick, roar, paper, imagenet-style"):
        get_preset("nope")


def test_paper_preset_follows_the_protocol() -> None:
    config = get_preset("paper")
    assert config.train.epochs == 20 and config.train.batch_size == 100 and config.train.lr == 1e-3
    assert config.roar.fractions == (0.1, 0.3, 0.5, 0.7, 0.9)
    assert config.roar.seeds == (0, 1, 2) and config.roar.epochs == 20
    assert config.data.source == "cifar10" and config.data.n_train == 0  # all 50,000
    assert config.metrics[: len(PAPER_METRICS)] == PAPER_METRICS
    assert "rectgrad" in config.methods and "random" in config.methods


def test_unknown_keys_and_wrong_types_are_rejected_with_their_names() -> None:
    text = get_preset("smoke").to_toml()
    with pytest.raises(ValueError, match="unknown keys in config: \\['epoch'\\]"):
        RunConfig.from_toml("epoch = 3\n" + text)
    with pytest.raises(ValueError, match="config.roar.seeds must be an array"):
        RunConfig.from_toml(text.replace("seeds = [\n    0,\n]", "seeds = 0"))
    with pytest.raises(ValueError, match="config.data.source must be one of"):
        RunConfig.from_toml(text.replace('source = "synthetic"', 'source = "imagenet"'))
    with pytest.raises(ValueError, match="not valid TOML"):
        RunConfig.from_toml("preset = ")


def test_overrides_drop_none_and_reject_unknown_fields() -> None:
    config = RunConfig(preset="x")
    assert config.with_overrides(seed=None, device="cuda").device == "cuda"
    assert config.with_overrides(seed=None).seed == 0
    with pytest.raises(ValueError, match="unknown RunConfig fields"):
        config.with_overrides(sead=1)


def test_config_hash_changes_with_any_field() -> None:
    base = RunConfig(preset="x")
    variants = [
        base.with_overrides(seed=1),
        base.with_overrides(data=DataConfig(n_train=5)),
        base.with_overrides(roar=RoarConfig(seeds=(0,))),
    ]
    hashes = {config_hash(v) for v in variants} | {config_hash(base)}
    assert len(hashes) == 4
