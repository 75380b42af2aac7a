"""Stage ``gallery``: display maps of ``evaluation.gallery`` images for the report, stratified by
class (one image of each class in turn, in the set's order), with their class names."""

from __future__ import annotations

from bench.data import class_balanced_order
from bench.pipeline import RunContext
from bench.provenance import provenance_key
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from methods import to_map

__all__ = ["store_gallery"]


def store_gallery(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    n = ctx.config.evaluation.gallery
    if n <= 0:
        return
    shown_set = images.gallery_set()
    chosen = class_balanced_order(shown_set.labels, len(shown_set.classes))[:n]
    labels = shown_set.labels[chosen]
    source = shown_set.indices[chosen] if shown_set.indices is not None else chosen
    names = [shown_set.classes[int(label)] for label in labels]
    masks = None if shown_set.masks is None else shown_set.masks[chosen].numpy()
    for method in ctx.config.methods:
        key = provenance_key("gallery", maps.key(method, shown_set), chosen.tolist())
        if ctx.store.artifact_key(ctx.run_id, "gallery", method) == key:
            continue
        raw = maps.get(method, shown_set.name)[chosen]
        shown = to_map(raw.unsqueeze(1), clip_percentiles=(0.5, 99.5))
        ctx.store.put_gallery(ctx.run_id, method, source.tolist(), labels.tolist(), shown.numpy(),
                              shown_set.images[chosen].numpy(), masks, class_names=names)
        ctx.store.set_artifact_key(ctx.run_id, "gallery", method, key)

