"""Stage ``maps``: every attribution map the later stages read, computed once and cached on disk.

A map is the channel sum of a method's attributions (``methods.to_map``, no post-processing),
float32 (N, H, W), for one (method, image set) pair, keyed by its provenance (the explained model,
the method's settings and code version, the images' content, the batch size, the software
versions: :func:`bench.provenance.provenance_key`). Post-processing (the paper's final threshold)
is the scoring stage's business, so one cached map serves every metric.

Every map set is checked once for silent failures: maps that are exactly zero are counted
(``map_checks`` table) and reported in the log and the report.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.pipeline import RunContext
from bench.provenance import method_provenance, provenance_key
from bench.stages.images import EvalSet, ImageSets
from methods import METHODS, create_method, to_map
from metrics import MetricSpec

__all__ = ["MapSource", "compute_maps", "needed_maps", "skips", "attributor", "MAPS_VERSION"]

#: Bump when the way maps are computed changes (batching, seeding), so cached maps are recomputed.
MAPS_VERSION = 2


def skips(method: str, metric: MetricSpec) -> bool:
    """Whether ``metric`` is left out for ``method``: a scale-dependent metric of a method whose
    maps have no meaningful scale (e.g. Random's noise)."""
    return metric.scale_dependent and not METHODS.get(method).meaningful_scale


def attributor(method: str, model: torch.nn.Module, seed: int) -> object:
    """The registered method for ``model``, with ``seed`` when the method draws random numbers."""
    overrides = {"seed": seed} if METHODS.get(method).seeded else {}
    return create_method(method, model, **overrides)


class MapSource:
    """Maps of (method, image set) pairs, from the run's map cache (computed when missing)."""

    def __init__(self, ctx: RunContext, images: ImageSets) -> None:
        self.ctx = ctx
        self.images = images

    def key(self, method: str, images: EvalSet) -> str:
        """The provenance key of ``method``'s maps of ``images`` (the map cache's file name)."""
        # The set's name is not part of the key: an image's map depends on the image, the model
        # and the method alone (seeded methods draw per-image noise), so sets holding the same
        # images share one file (e.g. the paper's total-variation images and ROAR's).
        return provenance_key(
            "maps", MAPS_VERSION, method_provenance(method), images.model.key, images.digest,
            self.ctx.config.evaluation.batch_size, self.ctx.config.seed,
        )

    def get(self, method: str, set_name: str) -> torch.Tensor:
        """Maps (N, H, W) float32 on the CPU of ``method`` for the image set ``set_name``."""
        images = self.images.sets[set_name]
        return self.ctx.map_cache.get_or_compute(self.key(method, images),
                                                 self._compute(method, images))

    def ensure(self, method: str, set_name: str) -> None:
        """Compute and cache the maps unless they are cached already, and record how many of
        them are all zero (once per key)."""
        images = self.images.sets[set_name]
        key = self.key(method, images)
        store, run_id = self.ctx.store, self.ctx.run_id
        if self.ctx.map_cache.path(key).is_file() and (
            store.artifact_key(run_id, "map_check", f"{method}|{set_name}") == key
        ):
            return
        maps = self.ctx.map_cache.get_or_compute(key, self._compute(method, images))
        zero = int((maps.flatten(1).abs().amax(dim=1) == 0).sum())
        store.put_rows("map_checks", run_id, [dict(method=method, image_set=set_name,
                                                   n_images=len(maps), n_zero=zero)])
        store.set_artifact_key(run_id, "map_check", f"{method}|{set_name}", key)
        if zero:
            self.ctx.echo(f"warning: {method} gave {zero} all-zero map(s) of {len(maps)} on the "
                          f"{set_name} images")

    def _compute(self, method: str, images: EvalSet) -> Callable[[], torch.Tensor]:
        ctx = self.ctx

        def compute() -> torch.Tensor:
            seed = ctx.job_seed(method)
            torch.manual_seed(seed)
            explain = attributor(method, images.model.model, seed)
            batch = ctx.config.evaluation.batch_size
            chunks = []
            starts = range(0, len(images.images), batch)
            for start in ctx.bar(starts, desc=f"{method}/{images.name}", leave=False):
                x = ctx.input_transform(images.images[start:start + batch]).to(ctx.device)
                t = images.targets[start:start + batch].to(ctx.device)
                chunks.append(to_map(explain.attribute(x, target=t).detach()).cpu())  # type: ignore[attr-defined]
            return torch.cat(chunks)

        return compute


def needed_maps(ctx: RunContext, images: ImageSets) -> list[tuple[str, str]]:
    """The (method, image set) pairs the run's metrics and gallery read, in a stable order."""
    pairs: dict[tuple[str, str], None] = {}
    retraining = any(spec.kind == "retraining" for spec in ctx.metrics)
    for method in ctx.methods:
        for spec in ctx.metrics:
            chosen = images.for_metric(spec)
            if chosen is not None and not skips(method.name, spec):
                pairs[(method.name, chosen.name)] = None
        if ctx.config.evaluation.gallery > 0:
            pairs[(method.name, images.gallery_set().name)] = None
        if retraining and not method.random_ranking:
            pairs[(method.name, "roar_train")] = None
            pairs[(method.name, "roar_test")] = None
    return list(pairs)


def compute_maps(ctx: RunContext, images: ImageSets) -> MapSource:
    source = MapSource(ctx, images)
    for method, set_name in ctx.bar(needed_maps(ctx, images), desc="maps"):
        source.ensure(method, set_name)
    return source
