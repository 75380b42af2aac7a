"""The metric registry: names, directions, inputs checks, retraining entries."""

from __future__ import annotations

import pytest
import torch

from metrics import (
    METRICS,
    MetricInputs,
    MetricSpec,
    available_metrics,
    background_mass,
    metric_spec,
    total_variation,
)

PAPER = [
    "patch_attribution",
    "background_mass",
    "background_fraction",
    "total_variation",
    "total_variation_normalized",
    "roar_auc",
    "kar_aoc",
]
QUANTUS = [
    "quantus.ROAD",
    "quantus.Sparseness",
    "quantus.Complexity",
    "quantus.RelevanceMassAccuracy",
    "quantus.PointingGame",
    "quantus.FaithfulnessCorrelation",
    "quantus.RandomLogit",
    "quantus.EfficientMPRT",
]


def _inputs(**overrides: object) -> MetricInputs:
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(3, 10, 10, generator=g)
    fg = torch.rand(3, 10, 10, generator=g) > 0.5
    fields = {"maps": maps, "model": None, "images": None, "labels": None, "targets": None}
    fields.update({"foreground": fg}, **overrides)
    return MetricInputs(**fields)  # type: ignore[arg-type]


def test_names_in_a_stable_order() -> None:
    assert available_metrics() == PAPER + QUANTUS + ["class_sensitivity"]
    assert available_metrics("retraining") == ["roar_auc", "kar_aoc"]
    assert available_metrics("per_image") == [
        n for n in PAPER + QUANTUS + ["class_sensitivity"] if n not in ("roar_auc", "kar_aoc")
    ]


def test_paper_metrics_are_lower_is_better_and_documented() -> None:
    for name in PAPER:
        spec = metric_spec(name)
        assert isinstance(spec, MetricSpec) and spec.name == name
        assert spec.higher_is_better is False and "lower is better" in spec.description.lower()


def test_quantus_directions_agree_with_quantus() -> None:
    quantus = pytest.importorskip("quantus")
    from quantus.helpers.enums import ScoreDirection

    for name in QUANTUS:
        cls = getattr(quantus, name.removeprefix("quantus."))
        assert metric_spec(name).higher_is_better == (
            cls.score_direction == ScoreDirection.HIGHER
        ), name


def test_per_image_entries_compute_the_functions() -> None:
    inputs = _inputs(patch_box=(1, 2, 3, 4))
    assert torch.equal(
        metric_spec("patch_attribution").compute(inputs),
        inputs.maps[:, 1:4, 2:6].abs().sum((1, 2)),
    )
    assert torch.equal(
        metric_spec("patch_attribution").compute(_inputs(maps=inputs.maps)),
        inputs.maps[:, :8, :8].abs().sum((1, 2)),
    )
    assert torch.equal(
        metric_spec("background_mass").compute(inputs),
        background_mass(inputs.maps, inputs.foreground),
    )
    assert torch.equal(
        metric_spec("background_fraction").compute(inputs),
        background_mass(inputs.maps, inputs.foreground, normalize=True),
    )
    assert torch.equal(
        metric_spec("total_variation_normalized").compute(inputs),
        total_variation(inputs.maps, normalize=True),
    )


def test_missing_inputs_raise_naming_the_field() -> None:
    with pytest.raises(ValueError, match="inputs.foreground"):
        metric_spec("background_mass").compute(_inputs(foreground=None))
    with pytest.raises(ValueError, match="inputs.model"):
        metric_spec("quantus.ROAD").compute(_inputs())


def test_retraining_metrics_say_where_they_come_from() -> None:
    for name in ("roar_auc", "kar_aoc"):
        assert metric_spec(name).kind == "retraining"
        with pytest.raises(RuntimeError, match="roar_kar"):
            metric_spec(name).compute(_inputs())


def test_unknown_and_duplicate_names() -> None:
    with pytest.raises(KeyError, match="valid names: patch_attribution"):
        metric_spec("nope")
    with pytest.raises(ValueError, match="already registered"):
        METRICS.register("total_variation", metric_spec("total_variation"))
    with pytest.raises(ValueError, match="kind"):
        available_metrics("other")  # type: ignore[arg-type]


def test_metric_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        metric_spec("total_variation").higher_is_better = True  # type: ignore[misc]
