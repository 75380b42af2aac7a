"""Stage ``gallery``: display maps of the first ``evaluation.gallery`` images for the report."""

from __future__ import annotations

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
    for method in ctx.config.methods:
        if ctx.store.has_gallery(ctx.run_id, method):
            continue
        raw = maps.get(method, shown_set.name)[:n]
        shown = to_map(raw.unsqueeze(1), clip_percentiles=(0.5, 99.5))
        masks = None if shown_set.masks is None else shown_set.masks[:n].numpy()
        indices = shown_set.indices[:n].tolist() if shown_set.indices is not None else list(range(n))
        ctx.store.put_gallery(ctx.run_id, method, indices, shown_set.labels[:n].tolist(),
                              shown.numpy(), shown_set.images[:n].numpy(), masks)
