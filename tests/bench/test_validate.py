"""The whole configuration is checked before any work (issue 11, cases 2 and 5): every value, name,
file and device, and that every requested metric can be produced."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.config import RunConfig
from bench.data import CIFAR10_CLASSES
from bench.presets import get_preset
from bench.validate import ConfigError, validate


def _with(config: RunConfig, section: str | None, **values: Any) -> RunConfig:
    if section is None:
        return replace(config, **values)
    return replace(config, **{section: replace(getattr(config, section), **values)})


BAD_VALUES = [
    (None, {"seed": 10**19}, "seed", "0..4294967295"),
    (None, {"seed": -1}, "seed", "0..4294967295"),
    (None, {"methods": ()}, "methods", "is empty"),
    (None, {"methods": ("saliency", "saliency")}, "methods", "more than once"),
    (None, {"metrics": ("tv",)}, "metrics", "unknown metric 'tv'; valid names: "),
    (None, {"model": "vgg"}, "model", "unknown model 'vgg'"),
    ("evaluation", {"n_images": -5}, "evaluation.n_images", ">= 0"),
    ("evaluation", {"batch_size": 0}, "evaluation.batch_size", ">= 1"),
    ("evaluation", {"masked_per_class": 0}, "evaluation.masked_per_class", ">= 1"),
    ("evaluation", {"gallery": -1}, "evaluation.gallery", ">= 0"),
    ("data", {"n_train": -1}, "data.n_train", ">= 0"),
    ("data", {"image_size": 8}, "data.image_size", ">= 12"),
    ("data", {"synthetic_classes": 9}, "data.synthetic_classes", "2..6"),
    ("data", {"patch_size": 40}, "data.patch_size", "3..16"),
    ("data", {"masks": "/anything"}, "data.masks", "only CIFAR-10 runs"),
    ("roar", {"fractions": ()}, "roar.fractions", "at least two"),
    ("roar", {"fractions": (0.5,)}, "roar.fractions", "at least two"),
    ("roar", {"fractions": (0.0, 0.5)}, "roar.fractions", "strictly between 0 and 1"),
    ("roar", {"fractions": (0.5, 1.0)}, "roar.fractions", "strictly between 0 and 1"),
    ("roar", {"fractions": (0.7, 0.3)}, "roar.fractions", "distinct and increasing"),
    ("roar", {"fractions": (0.3, 0.3)}, "roar.fractions", "distinct and increasing"),
    ("roar", {"modes": ("roar", "foo")}, "roar.modes", "non-empty list of distinct modes"),
    ("roar", {"modes": ()}, "roar.modes", "non-empty list"),
    ("roar", {"seeds": ()}, "roar.seeds", "non-empty list of distinct seeds"),
    ("roar", {"seeds": (0, 0)}, "roar.seeds", "distinct"),
    ("roar", {"seeds": (2**32,)}, "roar.seeds", "0..4294967295"),
    ("roar", {"epochs": 0}, "roar.epochs", ">= 1"),
    ("roar", {"n_test": -2}, "roar.n_test", ">= 0"),
]


@pytest.mark.parametrize(("section", "values", "setting", "text"), BAD_VALUES,
                         ids=[f"{s}-{list(v)[0]}-{v[list(v)[0]]}" for s, v, _, _ in BAD_VALUES])
def test_every_bad_value_is_refused_naming_its_setting(
    small_run: RunConfig, section: str | None, values: dict[str, Any], setting: str, text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate(_with(small_run, section, **values))
    assert info.value.setting == setting
    assert text in str(info.value) and info.value.fix


def test_the_presets_and_the_small_run_are_valid(small_run: RunConfig) -> None:
    validate(small_run)
    validate(get_preset("smoke"))


def test_unknown_names_stay_key_errors_listing_the_valid_names(small_run: RunConfig) -> None:
    with pytest.raises(KeyError, match="valid names: saliency") as info:
        validate(replace(small_run, methods=("salency",)))
    assert str(info.value).startswith("methods: unknown method 'salency'")  # not KeyError's quotes


def test_a_retraining_metric_needs_its_mode(small_run: RunConfig) -> None:
    config = _with(replace(small_run, metrics=("roar_auc", "kar_aoc")), "roar", modes=("roar",))
    with pytest.raises(ConfigError, match="lacks 'kar', which metric kar_aoc needs"):
        validate(config)
    validate(_with(replace(small_run, metrics=("roar_auc",)), "roar", modes=("roar",)))


def test_expensive_metrics_need_images(small_run: RunConfig) -> None:
    config = replace(small_run, metrics=("total_variation", "quantus.Sparseness"))
    with pytest.raises(ConfigError, match="n_quantus: is 0, but metrics quantus.Sparseness"):
        validate(config)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_device_is_refused(small_run: RunConfig) -> None:
    with pytest.raises(ConfigError, match="device: device 'cuda' requested but CUDA is not available"):
        validate(replace(small_run, device="cuda"))


def test_cifar10_data_and_masks_are_opened_before_any_work(small_run: RunConfig, tmp_path: Path) -> None:
    cifar = _with(small_run, "data", source="cifar10", path=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="data.path: no CIFAR-10"):
        validate(cifar)
    tree = tmp_path / "tree"
    (tree / "train").mkdir(parents=True)
    (tree / "test").mkdir()
    with pytest.raises(ConfigError, match="data.path: .*train is not a CIFAR-10 ImageFolder split"):
        validate(_with(cifar, "data", path=str(tree)))
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (tree / split / name).mkdir()
    fake_tar = tmp_path / "CIFAR10_mask.tar"
    fake_tar.write_bytes(b"not a tar archive")
    with pytest.raises(ConfigError, match="data.masks: cannot read .* as a tar archive"):
        validate(_with(cifar, "data", path=str(tree), masks=str(fake_tar)))
    background = replace(cifar, metrics=("total_variation", "background_fraction"))
    with pytest.raises(ConfigError, match="metrics background_fraction need object masks"):
        validate(_with(background, "data", path=str(tree)))


@pytest.mark.data
def test_the_quick_preset_on_the_shared_data_is_valid(shared_data: Path) -> None:
    quick = get_preset("quick")
    validate(_with(quick, "data", path=str(shared_data / "cifar10-jpeg.tar.gz"),
                   masks=str(shared_data / "CIFAR10_mask.tar")))
