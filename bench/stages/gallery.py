"""Stage ``gallery``: display maps of ``evaluation.gallery`` images for the report, stratified by
class (one image of each class in turn, in the set's order), with their class names."""

from __future__ import annotations

import torch

from bench.pipeline import RunContext
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from methods import to_map

__all__ = ["store_gallery"]


def store_gallery(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    n = ctx.config.evaluation.gallery
    if n <= 0:
        return
    shown_set = images.gallery_set()
    chosen = stratified_order(shown_set.labels, len(shown_set.classes))[:n]
    labels = shown_set.labels[chosen]
    source = shown_set.indices[chosen] if shown_set.indices is not None else chosen
    names = [shown_set.classes[int(label)] for label in labels]
    masks = None if shown_set.masks is None else shown_set.masks[chosen].numpy()
    for method in ctx.config.methods:
        if ctx.store.has_gallery(ctx.run_id, method):
            continue
        raw = maps.get(method, shown_set.name)[chosen]
        shown = to_map(raw.unsqueeze(1), clip_percentiles=(0.5, 99.5))
        ctx.store.put_gallery(ctx.run_id, method, source.tolist(), labels.tolist(), shown.numpy(),
                              shown_set.images[chosen].numpy(), masks, class_names=names)


def stratified_order(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Positions of ``labels`` (N,) ordered so that classes take turns: the first image of each
    class (in class order), then the second of each, ... (int64, a permutation of 0..N-1)."""
    onehot = torch.nn.functional.one_hot(labels, num_classes)
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1  # 0 for a class's first image, 1 for its second
    return torch.argsort(rank * num_classes + labels, stable=True)
