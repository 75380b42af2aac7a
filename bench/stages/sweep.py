"""Stage ``threshold_sweep``: a method re-scored along one of its settings (paper Figure 4).

For every sweep of ``RunConfig.sweeps`` (:func:`bench.experiment_settings.parse_sweep`; default
RectGrad's percentile q in {0, 50, 80, 90, 95, 98, 99, 99.5} and the constant tau = 0), the method
is run at each point, every other setting at its default, and scored on every retraining-free
metric of the run (the paper's rule; not the ``@uniform`` copies) on that metric's images. Stored
in ``curves``: experiment ``sweep:<method>.<setting>``, method, series = metric, x = the value
(``x_label`` for a labelled endpoint such as ``tau=0``), value = median over images, low/high =
its bootstrap interval, n = images.

What the RectGrad points are: q = 0 thresholds each layer at the minimum of ``a * R`` (every unit
but the minimal ones passes, nearly the plain gradient); tau = 0 keeps the units with
``a * R > 0``, which is Guided Backprop (the paper's Claim 2: RectGrad with tau = 0 and the final
zero threshold equals Guided Backprop x input, without the padding trick).

Maps of a point are cached like the run's (key: the method's provenance plus the point's
settings); the point equal to the method's defaults reuses the run's maps. Each (point, metric)
is stored as it finishes and skipped on a rerun while its provenance key is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from bench.experiment_settings import Sweep, SweepPoint, parse_sweep
from bench.map_rules import map_percentile
from bench.pipeline import RunContext
from bench.provenance import method_provenance, metric_provenance, provenance_key
from bench.stages.images import EvalSet, ImageSets
from bench.stages.maps import MAPS_VERSION, MapSource, skips
from bench.stages.scores import score_maps
from methods import METHODS, create_method, to_map
from metrics import MetricSpec, summarize

__all__ = ["run_sweeps", "sweep_settings"]


def sweep_settings(method: str, point: SweepPoint, seed: int) -> dict[str, Any]:
    """The settings ``method`` runs with at ``point`` (its defaults, the point's values, and
    ``seed`` for a seeded method)."""
    spec = METHODS.get(method)
    settings = {**spec.defaults, **point.overrides}
    if spec.seeded:
        settings["seed"] = seed
    return settings


def run_sweeps(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    for text in ctx.config.sweeps:
        _run_sweep(ctx, images, maps, parse_sweep(text))


def _run_sweep(ctx: RunContext, images: ImageSets, maps: MapSource, sweep: Sweep) -> None:
    metrics = [s for s in ctx.metrics if s.kind == "per_image" and s.derived_from is None
               and not skips(sweep.method, s) and images.for_metric(s) is not None]
    wanted = {(p.x, s.name) for p in sweep.points for s in metrics}
    stored = {(row[4], row[3]) for row in ctx.store.table("curves", ctx.run_id)
              if row[1] == sweep.experiment}
    for x, series in stored - wanted:  # points or metrics no longer swept
        ctx.store.delete_rows("curves", ctx.run_id, experiment=sweep.experiment, x=x,
                              series=series)
    for point in ctx.bar(sweep.points, desc=sweep.experiment):
        for spec in metrics:
            _score_point(ctx, images, maps, sweep, point, spec)


def _score_point(ctx: RunContext, images: ImageSets, maps: MapSource, sweep: Sweep,
                 point: SweepPoint, spec: MetricSpec) -> None:
    chosen = images.for_metric(spec)
    assert chosen is not None
    method = sweep.method
    seed = ctx.job_seed(method, chosen.name)
    settings = sweep_settings(method, point, seed)
    maps_key = _maps_key(ctx, maps, method, point, chosen)
    percentile = map_percentile(ctx.config, method, spec)
    key = provenance_key("sweep", metric_provenance(spec.name), maps_key, chosen.patch_box,
                         percentile)
    name = f"{sweep.experiment}|{point.x!r}|{spec.name}"
    if ctx.store.artifact_key(ctx.run_id, "curves", name) == key:
        return
    if _is_default(method, point):
        raw = maps.get(method, chosen.name)
    else:
        raw = ctx.map_cache.get_or_compute(maps_key, _compute(ctx, method, settings, chosen))
    post = to_map(raw.unsqueeze(1), final_threshold_percentile=percentile)
    attribute = _attribute_fn(ctx, method, point, chosen.model.model)
    s = summarize(score_maps(ctx, spec, chosen, post, attribute))
    row = dict(experiment=sweep.experiment, method=method, series=spec.name, x=point.x,
               value=s.median, low=s.ci_low, high=s.ci_high, n=s.n, x_label=point.label)
    ctx.store.put_rows("curves", ctx.run_id, [row])
    ctx.store.set_artifact_key(ctx.run_id, "curves", name, key)


def _is_default(method: str, point: SweepPoint) -> bool:
    defaults = METHODS.get(method).defaults
    return all(defaults.get(k) == v for k, v in point.overrides.items())


def _maps_key(ctx: RunContext, maps: MapSource, method: str, point: SweepPoint,
              images: EvalSet) -> str:
    if _is_default(method, point):
        return maps.key(method, images)
    return provenance_key("sweep_maps", MAPS_VERSION, method_provenance(method),
                          dict(point.overrides), images.model.key, images.digest, images.name,
                          ctx.config.evaluation.batch_size, ctx.config.seed)


def _compute(ctx: RunContext, method: str, settings: Mapping[str, Any],
             images: EvalSet) -> Callable[[], torch.Tensor]:
    def compute() -> torch.Tensor:
        torch.manual_seed(int(settings.get("seed", ctx.job_seed(method, images.name))))
        explain = create_method(method, images.model.model, **settings)
        batch = ctx.config.evaluation.batch_size
        chunks = []
        for start in range(0, len(images.images), batch):
            x = ctx.input_transform(images.images[start:start + batch]).to(ctx.device)
            t = images.targets[start:start + batch].to(ctx.device)
            chunks.append(to_map(explain.attribute(x, target=t).detach()).cpu())  # type: ignore[attr-defined]
        return torch.cat(chunks)

    return compute


def _attribute_fn(ctx: RunContext, method: str, point: SweepPoint,
                  model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The method at ``point`` as ``(inputs, target) -> attributions`` (metrics that explain
    again), seeded as the scoring stage seeds the method."""

    def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seed = ctx.job_seed(method, "quantus")
        torch.manual_seed(seed)
        explain = create_method(method, model, **sweep_settings(method, point, seed))
        return explain.attribute(  # type: ignore[attr-defined]
            inputs.to(ctx.device), target=target.to(ctx.device)
        ).detach()

    return attribute
