"""The metric registry: every metric by name, with its inputs, direction and one-line doc.

Per-image metrics (``kind="per_image"``) are computed by ``spec.compute(inputs) -> Tensor (N,)``.
Retraining metrics (``kind="retraining"``: ``roar_auc``, ``kar_aoc``) are listed for their
direction and doc, but produced by :func:`metrics.roar_kar.roar_kar`, which the runner drives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from methods.registry import Registry
from metrics.inputs import MetricInputs
from metrics.map_scores import PAPER_PATCH_BOX, background_mass, patch_attribution, total_variation
from metrics.quantus_adapter import QUANTUS_SETTINGS, quantus_scores

__all__ = ["METRICS", "MetricSpec", "MetricKind", "create_metric", "available_metrics"]

MetricKind = Literal["per_image", "retraining"]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: Registry name (Quantus metrics as ``quantus.<Class>``).
        compute: ``compute(inputs: MetricInputs) -> Tensor (N,)`` for ``kind="per_image"``.
        requires: The ``MetricInputs`` fields it reads.
        higher_is_better: The metric's direction.
        description: One line, including why that direction.
        kind: ``"per_image"`` or ``"retraining"``.
    """

    name: str
    compute: Callable[[MetricInputs], torch.Tensor]
    requires: tuple[str, ...]
    higher_is_better: bool
    description: str
    kind: MetricKind


METRICS: Registry[MetricSpec] = Registry("metric")


def create_metric(name: str) -> MetricSpec:
    """The metric registered as ``name``; ``KeyError`` listing the valid names otherwise."""
    return METRICS.get(name)


def available_metrics(kind: MetricKind | None = None) -> list[str]:
    """Registered names in registration order, optionally only those of one ``kind``."""
    if kind not in (None, "per_image", "retraining"):
        raise ValueError(f"kind must be None, 'per_image' or 'retraining', got {kind!r}")
    return [n for n in METRICS.names() if kind is None or METRICS.get(n).kind == kind]


def _needs(inputs: MetricInputs, name: str, *fields: str) -> None:
    if not isinstance(inputs, MetricInputs):
        raise ValueError(f"{name} needs a MetricInputs, got {type(inputs).__name__}")
    for field_name in fields:
        if getattr(inputs, field_name) is None:
            raise ValueError(f"{name} needs inputs.{field_name}, got None")


def _patch_attribution(inputs: MetricInputs) -> torch.Tensor:
    _needs(inputs, "patch_attribution", "maps")
    return patch_attribution(inputs.maps, inputs.patch_box or PAPER_PATCH_BOX)


def _background(inputs: MetricInputs, *, normalize: bool) -> torch.Tensor:
    _needs(inputs, "background_mass", "maps", "foreground")
    assert inputs.foreground is not None
    return background_mass(inputs.maps, inputs.foreground, normalize=normalize)


def _total_variation(inputs: MetricInputs, *, normalize: bool) -> torch.Tensor:
    _needs(inputs, "total_variation", "maps")
    return total_variation(inputs.maps, normalize=normalize)


def _from_roar_kar(name: str, inputs: MetricInputs) -> torch.Tensor:
    raise RuntimeError(
        f"{name} is a retraining metric: it is not computed per image but produced by "
        "metrics.roar_kar(...) (RoarKarResult.roar_auc / .kar_aoc), which the runner drives"
    )


def _register_builtin() -> None:
    lower = False
    entries = [
        MetricSpec(
            "patch_attribution",
            _patch_attribution,
            ("maps",),
            lower,
            "Sum of |map| in the pasted patch's top-left 8x8 (paper Fig. 7); lower is better, "
            "the patch carries no class information",
            "per_image",
        ),
        MetricSpec(
            "background_mass",
            functools.partial(_background, normalize=False),
            ("maps", "foreground"),
            lower,
            "Sum of |map| off the object mask (paper Fig. 8 top); lower is better",
            "per_image",
        ),
        MetricSpec(
            "background_fraction",
            functools.partial(_background, normalize=True),
            ("maps", "foreground"),
            lower,
            "Share of |map| off the object mask (= 1 - Relevance Mass Accuracy); lower is better",
            "per_image",
        ),
        MetricSpec(
            "total_variation",
            functools.partial(_total_variation, normalize=False),
            ("maps",),
            lower,
            "Total variation of the map (tf.image.total_variation, paper Fig. 8 bottom); lower "
            "is better, noise raises it",
            "per_image",
        ),
        MetricSpec(
            "total_variation_normalized",
            functools.partial(_total_variation, normalize=True),
            ("maps",),
            lower,
            "Total variation divided by sum |map| (scale-free); lower is better",
            "per_image",
        ),
        MetricSpec(
            "roar_auc",
            functools.partial(_from_roar_kar, "roar_auc"),
            ("model", "images", "labels", "maps"),
            lower,
            "Mean height of the retrained accuracy vs removed-fraction curve (ROAR, paper "
            "Table 1); lower is better, removing relevant pixels should hurt",
            "retraining",
        ),
        MetricSpec(
            "kar_aoc",
            functools.partial(_from_roar_kar, "kar_aoc"),
            ("model", "images", "labels", "maps"),
            lower,
            "1 - mean height of the retrained accuracy vs kept-fraction curve (KAR, paper "
            "Table 1); lower is better, keeping relevant pixels should preserve accuracy",
            "retraining",
        ),
    ]
    for setting in QUANTUS_SETTINGS:
        entries.append(
            MetricSpec(
                f"quantus.{setting.class_name}",
                functools.partial(quantus_scores, setting),
                setting.requires,
                setting.higher_is_better,
                setting.description,
                "per_image",
            )
        )
    for spec in entries:
        METRICS.register(spec.name, spec)


_register_builtin()
