"""The registered class-sensitivity metric and the ``<metric>@uniform`` entries."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch
from captum.attr import Saliency

from methods import SobelAttribution
from metrics import METRICS, MetricInputs, available_metrics, resolve_metric


@pytest.fixture
def derived_cleanup() -> Iterator[None]:
    before = set(METRICS.names())
    yield
    for name in set(METRICS.names()) - before:
        METRICS.unregister(name)


def _inputs(case, attribute) -> MetricInputs:
    maps = torch.zeros(case.images.shape[0], *case.images.shape[2:])
    return MetricInputs(maps=maps, model=case.model, images=case.images, labels=None,
                        targets=case.predictions, attribute=attribute)


def _saliency(model):
    explain = Saliency(model)

    def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return explain.attribute(inputs, target=target, abs=False)

    return attribute


def test_class_sensitivity_entry_on_the_shipped_case(shapes16_case) -> None:
    spec = METRICS.get("class_sensitivity")
    assert spec.higher_is_better and spec.kind == "per_image" and spec.image_set == "test"
    assert spec.map_processing == "plain" and set(spec.requires) == {"model", "images",
                                                                     "attribute"}
    with pytest.warns(RuntimeWarning, match=r"class_sensitivity: \d+ of 64 values are NaN") as rec:
        sobel = spec.compute(_inputs(shapes16_case, lambda x, t: SobelAttribution().attribute(x)))
    assert len(rec) == 1  # one warning for the whole call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        saliency = spec.compute(_inputs(shapes16_case, _saliency(shapes16_case.model)))
    flipped = ~torch.isnan(sobel)
    # FGSM at 1 % of the range flips few images (4 of 64 on the reference machine)
    assert 2 <= int(flipped.sum()) <= 20
    assert torch.equal(flipped, ~torch.isnan(saliency))  # the flips are the model's, not the map's
    assert sobel[flipped].abs().max().item() < 1e-12  # blind to the class: exactly 0
    assert saliency[flipped].min().item() > 1.0  # follows the decision (1.49-1.69 here)


def test_uniform_entries_are_derived_from_the_paper_metrics(derived_cleanup: None) -> None:
    base = METRICS.get("total_variation")
    spec = resolve_metric("total_variation@uniform")
    assert spec.map_processing == "uniform" and spec.derived_from == "total_variation"
    assert spec.compute is base.compute and spec.higher_is_better == base.higher_is_better
    assert (spec.image_set, spec.concept, spec.headline, spec.scale_dependent) == (
        base.image_set, base.concept, base.headline, base.scale_dependent)
    assert spec.label == "Total variation · uniform"
    assert resolve_metric("total_variation@uniform") is spec
    assert "total_variation@uniform" not in available_metrics()


@pytest.mark.parametrize("name", ["roar_auc@uniform", "quantus.Sparseness@uniform",
                                  "class_sensitivity@uniform", "tv@uniform"])
def test_the_uniform_rule_applies_to_paper_map_metrics_only(name: str) -> None:
    with pytest.raises(KeyError, match="valid names: .*background_mass"):
        resolve_metric(name)
