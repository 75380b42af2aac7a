"""The metric registry: every metric by name, with its inputs, direction and one-line doc.

Per-image metrics (``kind="per_image"``) are computed by ``spec.compute(inputs) -> Tensor (N,)``.
Retraining metrics (``kind="retraining"``: ``roar_auc``, ``kar_aoc``) are listed for their
direction and doc, but produced by :func:`metrics.roar_kar.roar_kar`, which the runner drives.
ROAD (``road_morf``, ``road_lerf``: :mod:`metrics.road`, noisy linear imputation on RGB inputs,
no retraining) is ROAR's retraining-free companion; it replaces Quantus' ROAD, whose 0.6.0 release
raises ``IndexError`` on RGB images.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import torch

from common.registry import Registry
from metrics.class_sensitivity import class_sensitivity
from metrics.inputs import MetricInputs
from metrics.map_scores import PAPER_PATCH_BOX, background_mass, patch_attribution, total_variation
from metrics.quantus_adapter import QUANTUS_SETTINGS, quantus_scores
from metrics.road import road_curves, road_scores

__all__ = [
    "METRICS",
    "MetricSpec",
    "MetricKind",
    "ImageSetName",
    "MapProcessing",
    "metric_spec",
    "available_metrics",
    "resolve_metric",
    "UNIFORM_SUFFIX",
]

MetricKind = Literal["per_image", "retraining"]
ImageSetName = Literal["test", "masked", "patch", "retraining"]
MapProcessing = Literal["paper", "plain", "uniform"]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric and what a runner needs to know to compute it.

    The runner reads these fields instead of matching names, so a metric registered from outside
    the project (``METRICS.register(name, MetricSpec(...))``) runs through every stage unchanged.

    Attributes:
        name: Registry name (Quantus metrics as ``quantus.<Class>``).
        compute: ``compute(inputs: MetricInputs) -> Tensor (N,)`` for ``kind="per_image"``.
        requires: The ``MetricInputs`` fields it reads.
        higher_is_better: The metric's direction.
        description: One line, including why that direction.
        kind: ``"per_image"`` or ``"retraining"`` (produced by ROAR/KAR, see ``retraining_mode``).
        label: Display name in tables and figures.
        image_set: Which images it scores: ``"test"`` (the run's evaluation images), ``"masked"``
            (the images with object masks; a metric that does not read ``foreground`` falls back
            to the test images when the run has no masks), ``"patch"`` (the random-patch model's
            test images, paper Fig. 7) or ``"retraining"`` (ROAR/KAR's occluded training sets).
        scale_dependent: The value scales with the map (sums of |map|): skipped for methods whose
            maps have no meaningful scale (``MethodSpec.meaningful_scale``).
        map_processing: ``"paper"``: maps post-processed with the method's ``map_percentile``
            (the paper's final threshold, PROTOCOL.md); ``"plain"``: the channel-summed map only
            (as a Quantus user would pass it); ``"uniform"``: every method's map final-thresholded
            at the same percentile (the run's ``evaluation.uniform_percentile``; the entries
            ``"<metric>@uniform"`` of :func:`resolve_metric`).
        expensive: Computed on a seeded, class-stratified subset of ``evaluation.n_quantus``
            images of its image set (model-based metrics that explain again or perturb).
        retraining_mode: ``"roar"`` or ``"kar"`` for retraining metrics, else None.
        concept: What the metric measures, for the headline table: ``"patch"``, ``"background"``,
            ``"noise"``, ``"roar"``, ``"kar"``, or None (a companion metric).
        headline: The metric that represents its ``concept`` in the overall rank.
        aggregates: Statistics stored per method besides the median (always) and the mean
            (always): ``"total"``, the sum over images (the paper's Figure 8 top reports
            background mass as a total over its 100 masked images).
        version: The version of the metric's code: bump it when a change alters its values, so
            that stored scores are recomputed (their provenance keys include it).
        derived_from: The metric this entry is derived from (``"background_mass"`` for
            ``"background_mass@uniform"``, registered on first use by :func:`resolve_metric`), or
            None. Derived entries are not listed by :func:`available_metrics`; a run's
            ``evaluation.image_sets`` entry of the base metric applies to them too.
    """

    name: str
    compute: Callable[[MetricInputs], torch.Tensor]
    requires: tuple[str, ...]
    higher_is_better: bool
    description: str
    kind: MetricKind
    label: str = ""
    image_set: ImageSetName = "test"
    scale_dependent: bool = False
    map_processing: MapProcessing = "paper"
    expensive: bool = False
    retraining_mode: str | None = None
    concept: str | None = None
    headline: bool = False
    aggregates: tuple[str, ...] = ()
    version: int = 1
    derived_from: str | None = None

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.kind not in ("per_image", "retraining"):
            raise ValueError(f"kind must be 'per_image' or 'retraining', got {self.kind!r}")
        if self.image_set not in ("test", "masked", "patch", "retraining"):
            raise ValueError(
                f"image_set must be 'test', 'masked', 'patch' or 'retraining', got {self.image_set!r}"
            )
        if (self.kind == "retraining") != (self.retraining_mode is not None):
            raise ValueError("retraining metrics, and only they, name a retraining_mode")


METRICS: Registry[MetricSpec] = Registry("metric")


def metric_spec(name: str) -> MetricSpec:
    """The spec registered as ``name``; ``KeyError`` listing the valid names otherwise."""
    return METRICS.get(name)


def available_metrics(kind: MetricKind | None = None) -> list[str]:
    """Registered names in registration order, optionally only those of one ``kind``."""
    if kind not in (None, "per_image", "retraining"):
        raise ValueError(f"kind must be None, 'per_image' or 'retraining', got {kind!r}")
    return [
        n for n in METRICS.names()
        if (kind is None or METRICS.get(n).kind == kind) and METRICS.get(n).derived_from is None
    ]


#: The name suffix of a metric scored under the uniform rule: ``"<metric>@uniform"``.
UNIFORM_SUFFIX = "@uniform"


def resolve_metric(name: str) -> MetricSpec:
    """The spec of ``name``, registering ``"<metric>@uniform"`` on first use.

    ``"<metric>@uniform"`` is ``<metric>`` (a per-image metric with ``map_processing="paper"``)
    scored on maps that every method, RectGrad included, gets post-processed the same way: the
    final threshold at one percentile for all (``map_processing="uniform"``), instead of the
    paper's asymmetric rule (95 for the baselines, none for RectGrad). Same direction, image set,
    concept and headline flag as the base metric, so a run that scores only under the uniform
    rule ranks by it.

    Raises:
        KeyError: ``name`` is not registered, or names a metric the uniform rule does not apply
            to (retraining metrics and metrics on plain maps); the message lists the valid names.
    """
    if name in METRICS or not name.endswith(UNIFORM_SUFFIX):
        return METRICS.get(name)
    base = METRICS.get(name[: -len(UNIFORM_SUFFIX)])
    if base.kind != "per_image" or base.map_processing != "paper":
        valid = ", ".join(n + UNIFORM_SUFFIX for n in METRICS.names()
                          if METRICS.get(n).kind == "per_image"
                          and METRICS.get(n).map_processing == "paper")
        raise KeyError(f"unknown metric {name!r}: the uniform rule applies to per-image metrics "
                       f"of the paper's post-processed maps; valid names: {valid}")
    spec = replace(
        base, name=name, label=f"{base.label} · uniform", map_processing="uniform",
        description=f"{base.description} (uniform rule: every method's map final-thresholded "
                    "at the same percentile)",
        derived_from=base.name,
    )
    METRICS.register(name, spec)
    return spec


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


#: Images per FGSM step and attribution pass of class sensitivity (a memory bound, not a setting).
_CLASS_SENSITIVITY_CHUNK = 256


def _class_sensitivity(inputs: MetricInputs) -> torch.Tensor:
    """:func:`metrics.class_sensitivity` in chunks, FGSM epsilon 1 % of the model input's range
    [-1, 1]; one warning for all undefined values (images whose class the step did not flip)."""
    _needs(inputs, "class_sensitivity", "model", "images", "attribute")
    assert inputs.model is not None and inputs.images is not None and inputs.attribute is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parts = [
            class_sensitivity(inputs.model, chunk, inputs.attribute, epsilon=0.01,
                              value_range=(-1.0, 1.0))
            for chunk in inputs.images.split(_CLASS_SENSITIVITY_CHUNK)
        ]
    values = torch.cat(parts)
    undefined = int(torch.isnan(values).sum())
    if undefined:
        warnings.warn(f"class_sensitivity: {undefined} of {values.numel()} values are NaN (the "
                      "FGSM step did not change the class, or a map is constant)",
                      RuntimeWarning, stacklevel=2)
    return values


def _from_roar_kar(name: str, inputs: MetricInputs) -> torch.Tensor:
    raise RuntimeError(
        f"{name} is a retraining metric: it is not computed per image but produced by "
        "metrics.roar_kar(...) (RoarKarResult.roar_auc / .kar_aoc), which the runner drives"
    )


#: ROAD's removal levels (share of pixels removed): the ROAR fractions of the paper.
ROAD_FRACTIONS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)


def _road(order: str, inputs: MetricInputs) -> torch.Tensor:
    """ROAD (Rong et al. 2022) per image on the model input in [-1, 1] (value range 2: the noise
    std is 0.01 * 2, the authors' 0.01 on [0, 1] images); tie-breaks and noise seeded."""
    _needs(inputs, f"road_{order}", "maps", "model", "images", "targets")
    assert inputs.model is not None and inputs.images is not None and inputs.targets is not None
    curves = road_curves(
        inputs.model, inputs.images, inputs.maps, inputs.targets, ROAD_FRACTIONS, order=order,
        value_range=2.0, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    return road_scores(curves)


def _register_builtin() -> None:
    lower = False
    entries = [
        MetricSpec(
            "patch_attribution", _patch_attribution, ("maps",), lower,
            "Sum of |map| in the pasted patch's top-left 8x8 (paper Fig. 7); lower is better, "
            "the patch carries no class information",
            "per_image", label="Patch attribution", image_set="patch", scale_dependent=True,
            concept="patch", headline=True,
        ),
        MetricSpec(
            "background_mass", functools.partial(_background, normalize=False),
            ("maps", "foreground"), lower,
            "Sum of |map| off the object mask (paper Fig. 8 top); lower is better",
            "per_image", label="Background mass", image_set="masked", scale_dependent=True,
            concept="background", aggregates=("total",),
        ),
        MetricSpec(
            "background_fraction", functools.partial(_background, normalize=True),
            ("maps", "foreground"), lower,
            "Share of |map| off the object mask (= 1 - Relevance Mass Accuracy); lower is better",
            "per_image", label="Background fraction", image_set="masked", concept="background",
            headline=True,
        ),
        MetricSpec(
            "total_variation", functools.partial(_total_variation, normalize=False), ("maps",),
            lower,
            "Total variation of the map (tf.image.total_variation, paper Fig. 8 bottom); lower "
            "is better, noise raises it",
            "per_image", label="Total variation", scale_dependent=True, concept="noise",
            headline=True,
        ),
        MetricSpec(
            "total_variation_normalized", functools.partial(_total_variation, normalize=True),
            ("maps",), lower, "Total variation divided by sum |map| (scale-free); lower is better",
            "per_image", label="Normalised TV", concept="noise",
        ),
        MetricSpec(
            "roar_auc", functools.partial(_from_roar_kar, "roar_auc"),
            ("model", "images", "labels", "maps"), lower,
            "Mean height of the retrained accuracy vs removed-fraction curve (ROAR, paper "
            "Table 1); lower is better, removing relevant pixels should hurt",
            "retraining", label="ROAR AUC", image_set="retraining", retraining_mode="roar",
            concept="roar", headline=True,
        ),
        MetricSpec(
            "kar_aoc", functools.partial(_from_roar_kar, "kar_aoc"),
            ("model", "images", "labels", "maps"), lower,
            "1 - mean height of the retrained accuracy vs kept-fraction curve (KAR, paper "
            "Table 1); lower is better, keeping relevant pixels should preserve accuracy",
            "retraining", label="KAR AOC", image_set="retraining", retraining_mode="kar",
            concept="kar", headline=True,
        ),
        MetricSpec(
            "road_morf", functools.partial(_road, "morf"), ("maps", "model", "images", "targets"),
            lower,
            "ROAD MoRF (Rong et al. 2022): share of removal levels 10..90 % (most relevant pixels "
            "first, noisy linear imputation, no retraining) at which the model still predicts the "
            "target; lower is better, removing relevant pixels should change the prediction",
            "per_image", label="ROAD MoRF", map_processing="plain", expensive=True,
        ),
        MetricSpec(
            "road_lerf", functools.partial(_road, "lerf"), ("maps", "model", "images", "targets"),
            True,
            "ROAD LeRF (Rong et al. 2022): share of removal levels 10..90 % (least relevant pixels "
            "first, noisy linear imputation) at which the model still predicts the target; higher "
            "is better, removing irrelevant pixels should leave the prediction standing",
            "per_image", label="ROAD LeRF", map_processing="plain", expensive=True,
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
                label=f"{setting.class_name} (Quantus)",
                image_set="masked",
                map_processing="plain",
                expensive=True,
                concept="background" if "foreground" in setting.requires else None,
            )
        )
    entries.append(
        MetricSpec(
            "class_sensitivity", _class_sensitivity, ("model", "images", "attribute"), True,
            "1 - Spearman correlation of the maps of the original and of the new class on the "
            "FGSM image (epsilon 1 % of the pixel range; paper Fig. 5b); higher is better, the "
            "map follows the decision; NaN where the step does not flip the class",
            "per_image", label="Class sensitivity", map_processing="plain",
        )
    )
    for spec in entries:
        METRICS.register(spec.name, spec)


_register_builtin()
