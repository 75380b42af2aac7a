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
ROAD = ["road_morf", "road_lerf"]
QUANTUS = [
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
    assert available_metrics() == PAPER + ROAD + QUANTUS + ["class_sensitivity"]
    assert available_metrics("retraining") == ["roar_auc", "kar_aoc"]
    assert available_metrics("per_image") == [
        n for n in PAPER + ROAD + QUANTUS + ["class_sensitivity"] if n not in ("roar_auc", "kar_aoc")
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
        metric_spec("road_morf").compute(_inputs())


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


def test_road_entries_are_the_road_module_on_the_model_input() -> None:
    """road_morf / road_lerf = metrics.road on inputs in [-1, 1] (value range 2), ROAR's fractions,
    seeded: a model that answers class 0 exactly when the top-left pixel is bright."""
    from metrics.road import road_curves, road_scores

    class TopLeft(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bright = x[:, 0, 0, 0]
            return torch.stack([bright, -bright], dim=1)

    images = -torch.ones(2, 3, 6, 6)
    images[:, :, 0, 0] = 1.0  # everything dark except the pixel the model reads
    maps = torch.zeros(2, 6, 6)
    maps[:, 0, 0] = 5.0  # a faithful map: that pixel first
    inputs = _inputs(maps=maps, model=TopLeft(), images=images,
                     targets=torch.zeros(2, dtype=torch.int64))
    morf, lerf = (metric_spec(n).compute(inputs) for n in ("road_morf", "road_lerf"))
    # MoRF removes the bright pixel at every level and imputes it from dark neighbours (-1, noise
    # 0.02): the prediction flips at all 5 levels. LeRF keeps it below 35/36 removed: all kept.
    assert morf.tolist() == [0.0, 0.0] and lerf.tolist() == [1.0, 1.0]
    curves = road_curves(TopLeft(), images, maps, inputs.targets, (0.1, 0.3, 0.5, 0.7, 0.9),
                         value_range=2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(morf, road_scores(curves))
    assert metric_spec("road_morf").higher_is_better is False
    assert metric_spec("road_lerf").higher_is_better is True
    assert metric_spec("road_morf").map_processing == "plain" and metric_spec("road_lerf").expensive
