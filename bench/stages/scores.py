"""Stage ``scores``: every per-image metric of every method, stored one (method, metric) at a time.

Maps come from the ``maps`` stage; each metric gets them post-processed as its spec says
(``map_processing``: the paper's final threshold of the method, one threshold for every method
under the uniform rule (:mod:`bench.map_rules`), or the plain channel sum) and the images its spec
names (``image_set``). A (method, metric) already stored under the same
provenance key (its maps' key and the metric's code version and settings) is skipped, so a rerun
resumes where a killed run stopped and recomputes exactly what an upgrade or a changed setting
made stale.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from bench.map_rules import map_percentile
from bench.pipeline import RunContext
from bench.provenance import metric_provenance, provenance_key
from bench.stages.images import EvalSet, ImageSets
from bench.stages.maps import MapSource, attributor, skips
from methods import to_map
from metrics import Attribute, MetricInputs, MetricSpec

__all__ = ["score_images", "score_maps"]


def score_images(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    per_image = [spec for spec in ctx.metrics if spec.kind == "per_image"]
    if not per_image:
        return
    for method in ctx.bar(ctx.config.methods, desc="scores"):
        for spec in per_image:
            chosen = images.for_metric(spec)
            if chosen is None or skips(method, spec):
                continue
            percentile = map_percentile(ctx.config, method, spec)
            key = provenance_key("scores", metric_provenance(spec.name), maps.key(method, chosen),
                                 chosen.patch_box, *([percentile] if spec.map_processing ==
                                                     "uniform" else []))
            name = f"{method}|{spec.name}"
            if ctx.store.artifact_key(ctx.run_id, "image_scores", name) == key:
                continue
            values = _score(ctx, method, spec, chosen, maps.get(method, chosen.name))
            ctx.store.put_image_scores(ctx.run_id, method, spec.name, values.tolist())
            ctx.store.set_artifact_key(ctx.run_id, "image_scores", name, key)


def _score(
    ctx: RunContext, method: str, spec: MetricSpec, images: EvalSet, raw: torch.Tensor
) -> torch.Tensor:
    percentile = map_percentile(ctx.config, method, spec)
    maps = to_map(raw.unsqueeze(1), final_threshold_percentile=percentile)
    return score_maps(ctx, spec, images, maps, _attribute_fn(ctx, method, images.model.model))


def score_maps(
    ctx: RunContext, spec: MetricSpec, images: EvalSet, maps: torch.Tensor, attribute: Attribute
) -> torch.Tensor:
    """``spec``'s per-image values (N,) float64 on the CPU of post-processed ``maps`` (N, H, W)
    of ``images``; ``attribute`` explains again for metrics that need it."""
    inputs = MetricInputs(
        maps=maps.to(ctx.device),
        model=images.model.model,
        images=ctx.input_transform(images.images).to(ctx.device),
        labels=images.labels.to(ctx.device),
        targets=images.targets.to(ctx.device),
        foreground=None if images.masks is None else images.masks.to(ctx.device),
        patch_box=images.patch_box,
        attribute=attribute,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        values = spec.compute(inputs)
    return values.detach().cpu().double()


def _attribute_fn(
    ctx: RunContext, method: str, model: torch.nn.Module
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The method as ``(inputs, target) -> attributions`` for metrics that explain again."""

    def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seed = ctx.job_seed(method)
        torch.manual_seed(seed)
        explain = attributor(method, model, seed)
        return explain.attribute(  # type: ignore[attr-defined]
            inputs.to(ctx.device), target=target.to(ctx.device)
        ).detach()

    return attribute
