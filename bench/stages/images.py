"""Stage ``images``: which images each metric scores, with the model that explains them.

Image sets (``EvalSet``), by name (the name also tags the maps' random seeds):

- ``eval``: the first ``evaluation.n_images`` test images (metrics with ``image_set="test"``);
- ``masked``: images with object masks, selected by the authors' rule (first
  ``evaluation.masked_per_class`` correctly classified per class); the authors' mask tar for
  CIFAR-10, the exact masks of the synthetic set;
- ``patch``: the ``eval`` images with the paper's random patch, explained by the patch model;
- ``<base>_q<n>``: the first ``evaluation.n_quantus`` images of ``masked`` (or ``eval``), for
  expensive metrics;
- ``roar_train`` / ``roar_test``: the images ROAR/KAR occludes and retrains on.

Attribution targets are the explaining model's predicted classes (the paper's target).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.data import ImageSet, load_object_masks, select_masked
from bench.pipeline import RunContext
from bench.stages.data import DataSets
from bench.stages.models import Models, TrainedModel
from bench.training import predict
from metrics import MetricSpec, scored_patch_box

__all__ = ["EvalSet", "ImageSets", "build_image_sets"]


@dataclass(frozen=True)
class EvalSet:
    """Images a set of metrics is computed on, with the model that explains them.

    Attributes:
        name: The set's name (see the module docstring).
        model: The explained model.
        images: ``uint8`` (N, C, H, W).
        labels: ``int64`` (N,) true classes.
        targets: ``int64`` (N,) the model's predicted classes (the explained outputs).
        classes: Class names in label order.
        masks: ``bool`` (N, H, W) object masks, or None.
        patch_box: ``(top, left, height, width)`` scored by patch attribution, or None.
        indices: Positions in the source set (for the gallery), or None.
    """

    name: str
    model: TrainedModel
    images: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor
    classes: tuple[str, ...]
    masks: torch.Tensor | None = None
    patch_box: tuple[int, int, int, int] | None = None
    indices: torch.Tensor | None = None

    def head(self, n: int, name: str) -> EvalSet:
        """The first ``n`` images as a set called ``name``."""
        masks = None if self.masks is None else self.masks[:n]
        return EvalSet(name, self.model, self.images[:n], self.labels[:n], self.targets[:n],
                       self.classes, masks, self.patch_box, None)


@dataclass(frozen=True)
class ImageSets:
    """The run's image sets by name, the expensive-metric subset size, and ROAR/KAR's fill value
    (the per-channel mean of ``roar_train``, in pixel units; None without retraining metrics)."""

    sets: dict[str, EvalSet]
    n_expensive: int
    fill: torch.Tensor | None = None

    def for_metric(self, spec: MetricSpec) -> EvalSet | None:
        """The set ``spec`` scores in this run, or None when the run cannot compute it."""
        if spec.kind != "per_image":
            return None
        if spec.image_set == "patch":
            return self.sets.get("patch")
        base = self.sets["eval"]
        if spec.image_set == "masked":
            base = self.sets.get("masked") or base
        if "foreground" in spec.requires and base.masks is None:
            return None
        if spec.expensive:
            return self.sets.get(f"{base.name}_q{self.n_expensive}")
        return base

    def gallery_set(self) -> EvalSet:
        """The images the report's gallery shows: the masked ones when the run has them."""
        return self.sets.get("masked") or self.sets["eval"]


def build_image_sets(ctx: RunContext, data: DataSets, models: Models) -> ImageSets:
    cfg = ctx.config.evaluation
    clean = models.clean
    idx = torch.arange(min(cfg.n_images or len(data.test), len(data.test)))
    sets = {"eval": _explained("eval", clean, data.test.subset(idx), ctx, indices=idx)}
    if any(spec.image_set == "masked" for spec in ctx.metrics):
        masked = _masked(ctx, data, clean)
        if masked is not None:
            sets["masked"] = masked
    if models.patch is not None and models.patched is not None:
        box = scored_patch_box(ctx.config.data.patch_size)
        patched = models.patched.test.subset(idx)
        sets["patch"] = _explained("patch", models.patch, patched, ctx, indices=idx, box=box)
    n = cfg.n_quantus
    if n > 0 and any(spec.expensive for spec in ctx.metrics):
        for base in (sets["eval"], sets.get("masked")):
            if base is not None:
                sets[f"{base.name}_q{n}"] = base.head(n, f"{base.name}_q{n}")
    fill = None
    if any(spec.kind == "retraining" for spec in ctx.metrics):
        roar = ctx.config.roar
        train, test = data.train.head(roar.n_train), data.test.head(roar.n_test)
        sets["roar_train"] = _explained("roar_train", clean, train, ctx)
        sets["roar_test"] = _explained("roar_test", clean, test, ctx)
        fill = train.images.double().mean(dim=(0, 2, 3))  # per-channel mean of the training images
    return ImageSets(sets, n, fill)


def _explained(
    name: str, model: TrainedModel, images: ImageSet, ctx: RunContext, *,
    indices: torch.Tensor | None = None, box: tuple[int, int, int, int] | None = None,
) -> EvalSet:
    targets = predict(model.model, images.images, device=ctx.device).cpu()
    return EvalSet(name, model, images.images, images.labels, targets, images.classes,
                   images.masks, box, indices)


def _masked(ctx: RunContext, data: DataSets, clean: TrainedModel) -> EvalSet | None:
    cfg = ctx.config
    if cfg.data.source == "synthetic":
        n = cfg.evaluation.n_images or len(data.test)
        count = min(len(data.test), max(n, 50 * cfg.data.synthetic_classes))
        source = data.test.subset(torch.arange(count))
    elif cfg.data.masks:
        source = load_object_masks(cfg.data.masks)
    else:
        ctx.echo("no --masks given: background metrics are skipped (they need object masks)")
        return None
    predicted = predict(clean.model, source.images, device=ctx.device).cpu()
    chosen = torch.as_tensor(
        select_masked(source, predicted, per_class=cfg.evaluation.masked_per_class)
    )
    ctx.echo(f"masked images: {len(chosen)} correctly classified of {len(source)}")
    chosen_set = source.subset(chosen)
    return EvalSet("masked", clean, chosen_set.images, chosen_set.labels, predicted[chosen],
                   source.classes, chosen_set.masks, None, chosen)
