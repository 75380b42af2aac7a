"""Stage ``images``: which images each metric scores, with the model that explains them.

Image sets (``EvalSet``), by name (the name also tags the maps' random seeds):

- ``eval``: the first ``evaluation.n_images`` test images (metrics with ``image_set="test"``);
- ``masked``: images with object masks, selected by the authors' rule (first
  ``evaluation.masked_per_class`` correctly classified per class); the authors' mask tar for
  CIFAR-10, the exact masks of the synthetic set;
- ``patch``: the ``eval`` images with the paper's random patch, explained by the patch model;
- ``train``: the run's training images, for metrics that ``evaluation.image_sets`` sends there
  (the paper computes total variation over the training images);
- ``<base>_q<n>``: ``evaluation.n_quantus`` images of ``masked`` (or ``eval``), for expensive
  metrics: a seeded, class-balanced subset;
- ``roar_train`` / ``roar_test``: the images ROAR/KAR occludes and retrains on.

Attribution targets are the explaining model's predicted classes (the paper's target). Every
set's images are recorded in the store (``image_sets``: source index and class per position).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from bench.data import ImageSet, class_balanced_order, load_object_masks, select_masked
from bench.hashing import tensor_digest
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

    @functools.cached_property
    def digest(self) -> str:
        """Content digest of the images, targets and masks (computed once)."""
        tensors = [self.images, self.targets] + ([self.masks] if self.masks is not None else [])
        return tensor_digest(*tensors)

    def take(self, positions: torch.Tensor, name: str) -> EvalSet:
        """The images at ``positions`` as a set called ``name`` (source indices carried over)."""
        masks = None if self.masks is None else self.masks[positions]
        indices = positions if self.indices is None else self.indices[positions]
        return EvalSet(name, self.model, self.images[positions], self.labels[positions],
                       self.targets[positions], self.classes, masks, self.patch_box, indices)

    def source_indices(self) -> torch.Tensor:
        """Positions of the images in the set they were taken from (0..N-1 when the set is
        itself a source)."""
        return self.indices if self.indices is not None else torch.arange(len(self.images))


@dataclass(frozen=True)
class ImageSets:
    """The run's image sets by name, the expensive-metric subset size, and ROAR/KAR's fill value
    (the per-channel mean of ``roar_train``, in pixel units; None without retraining metrics)."""

    sets: dict[str, EvalSet]
    n_expensive: int
    fill: torch.Tensor | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def for_metric(self, spec: MetricSpec) -> EvalSet | None:
        """The set ``spec`` scores in this run, or None when the run cannot compute it."""
        if spec.kind != "per_image":
            return None
        image_set = self.overrides.get(
            spec.name, self.overrides.get(spec.derived_from or "", spec.image_set))
        if image_set in ("patch", "train"):
            return self.sets.get(image_set)
        base = self.sets["eval"]
        if image_set == "masked":
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
    overrides = dict(cfg.image_sets)
    wanted = {ctx.image_set_of(spec) for spec in ctx.metrics}
    if "train" in wanted:
        sets["train"] = _explained("train", clean, data.train, ctx)
    if "masked" in wanted:
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
                generator = torch.Generator().manual_seed(ctx.job_seed("subset", base.name))
                order = class_balanced_order(base.labels, len(base.classes), generator)[:n]
                sets[f"{base.name}_q{n}"] = base.take(order, f"{base.name}_q{n}")
    fill = None
    if any(spec.kind == "retraining" for spec in ctx.metrics):
        roar = ctx.config.roar
        train, test = data.train.head(roar.n_train), data.test.head(roar.n_test)
        sets["roar_train"] = _explained("roar_train", clean, train, ctx)
        sets["roar_test"] = _explained("roar_test", clean, test, ctx)
        fill = train.images.double().mean(dim=(0, 2, 3))  # per-channel mean of the training images
    for chosen in sets.values():
        _record(ctx, chosen)
    return ImageSets(sets, n, fill, overrides)


def _record(ctx: RunContext, chosen: EvalSet) -> None:
    """Store which images the set holds (once per content)."""
    if ctx.store.artifact_key(ctx.run_id, "image_set", chosen.name) == chosen.digest:
        return
    pairs = zip(chosen.source_indices().tolist(), chosen.labels.tolist(), strict=True)
    rows = [dict(image_set=chosen.name, position=i, source_index=s, label=c)
            for i, (s, c) in enumerate(pairs)]
    ctx.store.put_rows("image_sets", ctx.run_id, rows, replace_where={"image_set": chosen.name})
    ctx.store.set_artifact_key(ctx.run_id, "image_set", chosen.name, chosen.digest)


def _explained(
    name: str, model: TrainedModel, images: ImageSet, ctx: RunContext, *,
    indices: torch.Tensor | None = None, box: tuple[int, int, int, int] | None = None,
) -> EvalSet:
    targets = predict(model.model, images.images, device=ctx.device,
                      transform=ctx.input_transform).cpu()
    return EvalSet(name, model, images.images, images.labels, targets, images.classes,
                   images.masks, box, indices)


def _masked(ctx: RunContext, data: DataSets, clean: TrainedModel) -> EvalSet | None:
    cfg = ctx.config
    if cfg.data.source == "synthetic":
        n = cfg.evaluation.n_images or len(data.test)
        count = min(len(data.test), max(n, 50 * cfg.data.synthetic_classes))
        source = data.test.subset(torch.arange(count))
    elif data.masked is not None:  # [byo] an ImageFolder's masks (PNG tree or authors' format)
        source = data.masked
    elif cfg.data.masks:
        source = load_object_masks(cfg.data.masks)
    else:
        ctx.echo("no --masks given: background metrics are skipped (they need object masks)")
        return None
    predicted = predict(clean.model, source.images, device=ctx.device,
                        transform=ctx.input_transform).cpu()
    chosen = torch.as_tensor(
        select_masked(source, predicted, per_class=cfg.evaluation.masked_per_class)
    )
    ctx.echo(f"masked images: {len(chosen)} correctly classified of {len(source)}")
    if len(chosen) == 0:  # [byo] e.g. given weights whose outputs are not the data's classes
        raise ValueError(f"the model classifies none of the {len(source)} masked images "
                         f"correctly (test accuracy {clean.accuracy:.3f}), so the background "
                         "metrics have no image; check that the model's outputs are the data's "
                         "classes in label order (ImageFolder: the sorted class folder names)")
    chosen_set = source.subset(chosen)
    return EvalSet("masked", clean, chosen_set.images, chosen_set.labels, predicted[chosen],
                   source.classes, chosen_set.masks, None, chosen)
