"""Stages ``feature_occlusion`` and ``noise_accumulation``: the paper's Figures 3 and 6 as curves.

Both run on the ``masked`` images (correctly classified, with object masks) when
``RunConfig.experiments`` names them, and store their curves in the ``curves`` table (one row per
(experiment, method, series, x)), with a note of what was run (``notes``, kind
``curve:<experiment>``, shown under the figure). Each is skipped when its stored provenance key
(model, images, settings, code version) is unchanged.

- ``feature_occlusion`` (:func:`metrics.feature_occlusion`): a growing random share of the chosen
  layer's object (or background) units is zeroed (``evaluation.occlusion_*``: by default the
  output of the first conv block, 50 orders per image, 11 shares, 20 class-balanced masked
  images: ``2 * 20 * 50 * 11`` forward passes of the layers above it); series ``object`` and
  ``background``, x = share zeroed, value = mean margin ``logit[class] - max(other logits)`` over
  images (each image's mean over its orders), low/high = 95 % bootstrap interval of that mean
  over images, n = images.
- ``noise_accumulation`` (:func:`metrics.noise_accumulation`): for Saliency (the plain gradient)
  and every RectGrad method of the run (``rectgrad`` when the run has none), the share of
  ``|z * dy/dz|`` off the object at the input (x = 0) and at each ReLU layer's input (x = 1, 2,
  ..., ``x_label`` = the layer's name); value = median over images with its bootstrap interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.data import class_balanced_order
from bench.experiment_settings import default_occlusion_layer
from bench.pipeline import RunContext
from bench.provenance import provenance_key
from bench.stages.images import EvalSet, ImageSets
from methods import RectGrad, create_method
from metrics import feature_occlusion, noise_accumulation, summarize

__all__ = ["run_feature_occlusion", "run_noise_accumulation", "store_curve", "mean_interval",
           "EXPERIMENTS_VERSION"]

#: Bump when the way these curves are computed changes, so stored ones are recomputed.
EXPERIMENTS_VERSION = 1

#: Occluded copies per forward pass (memory bound).
_OCCLUSION_BATCH = 1024


def mean_interval(values: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Mean over rows of (N, S) values and its 95 % percentile-bootstrap interval (rows
    resampled with replacement, seeded), each (S,); NaN rows are dropped first."""
    rows = values[~np.isnan(values).any(axis=1)]
    if len(rows) == 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan, nan
    generator = np.random.default_rng(seed)
    index = generator.integers(0, len(rows), size=(n_boot, len(rows)))
    replicates = rows[index].mean(axis=1)  # (n_boot, S)
    low, high = np.percentile(replicates, [2.5, 97.5], axis=0)
    return rows.mean(axis=0), low, high


def store_curve(ctx: RunContext, experiment: str, rows: list[dict[str, Any]], key: str,
                note: str) -> None:
    """Replace the experiment's curve rows and its note, and record its provenance key."""
    ctx.store.put_rows("curves", ctx.run_id, rows, replace_where={"experiment": experiment})
    ctx.store.put_rows("notes", ctx.run_id, [dict(kind=f"curve:{experiment}", position=0,
                                                   text=note)],
                       replace_where={"kind": f"curve:{experiment}"})
    ctx.store.set_artifact_key(ctx.run_id, "curves", experiment, key)


def _masked(ctx: RunContext, images: ImageSets, experiment: str) -> EvalSet | None:
    masked = images.sets.get("masked")
    if masked is None or masked.masks is None:
        ctx.echo(f"{experiment}: skipped, the run has no masked images")
        return None
    return masked


def run_feature_occlusion(ctx: RunContext, images: ImageSets) -> None:
    masked = _masked(ctx, images, "feature_occlusion")
    if masked is None:
        return
    ev = ctx.config.evaluation
    model = masked.model.model
    layer_name = ev.occlusion_layer or default_occlusion_layer(model)
    modules = dict(model.named_modules())
    if layer_name not in modules:
        raise ValueError(f"evaluation.occlusion_layer: the model has no module {layer_name!r}; "
                         f"its modules: {', '.join(n for n in modules if n)}")
    seed = ctx.job_seed("feature_occlusion")
    if 0 < ev.occlusion_images < len(masked.images):
        generator = torch.Generator().manual_seed(seed)
        order = class_balanced_order(masked.labels, len(masked.classes), generator)
        masked = masked.take(order[: ev.occlusion_images], "masked_occlusion")
    key = provenance_key("feature_occlusion", EXPERIMENTS_VERSION, masked.model.key,
                         masked.digest, layer_name, ev.occlusion_trials, ev.occlusion_steps, seed)
    if ctx.store.artifact_key(ctx.run_id, "curves", "feature_occlusion") == key:
        return
    curves = feature_occlusion(
        model, ctx.input_transform(masked.images).to(ctx.device), masked.labels.to(ctx.device),
        masked.masks, modules[layer_name], trials=ev.occlusion_trials,
        steps=ev.occlusion_steps, seed=seed, batch_size=_OCCLUSION_BATCH,
    )
    fractions = curves.fractions.double().numpy()
    rows = []
    for series, margins in (("object", curves.object_margins),
                            ("background", curves.background_margins)):
        per_image = margins.double().mean(dim=1).numpy()  # (N, S): each image's mean over orders
        mean, low, high = mean_interval(per_image, seed=seed)
        n = int((~np.isnan(per_image).any(axis=1)).sum())
        rows += [dict(experiment="feature_occlusion", method="", series=series, x=float(x),
                      value=float(v), low=float(lo), high=float(hi), n=n, x_label=None)
                 for x, v, lo, hi in zip(fractions, mean, low, high, strict=True)]
    note = (f"Layer {layer_name} of the explained model, {ev.occlusion_trials} random orders per "
            f"image and region, {len(masked.images)} masked images (class-balanced); bands: 95 % "
            "bootstrap interval of the mean over images.")
    store_curve(ctx, "feature_occlusion", rows, key, note)


def _noise_methods(ctx: RunContext, model: torch.nn.Module) -> dict[str, RectGrad | None]:
    """Saliency (None: plain gradients) and the run's RectGrad methods (``rectgrad`` without)."""
    chosen: dict[str, RectGrad | None] = {"saliency": None}
    for name in ctx.config.methods:
        method = create_method(name, model)
        if isinstance(method, RectGrad):
            chosen[name] = method
    if len(chosen) == 1:
        chosen["rectgrad"] = create_method("rectgrad", model)  # type: ignore[assignment]
    return chosen


def run_noise_accumulation(ctx: RunContext, images: ImageSets) -> None:
    masked = _masked(ctx, images, "noise_accumulation")
    if masked is None:
        return
    model = masked.model.model
    methods = _noise_methods(ctx, model)
    settings = {name: (None if m is None else [m.rule, m.padding_trick, m.prr])
                for name, m in methods.items()}
    key = provenance_key("noise_accumulation", EXPERIMENTS_VERSION, masked.model.key,
                         masked.digest, settings)
    if ctx.store.artifact_key(ctx.run_id, "curves", "noise_accumulation") == key:
        return
    x = ctx.input_transform(masked.images).to(ctx.device)
    targets, masks = masked.targets.to(ctx.device), masked.masks.to(ctx.device)
    rows = []
    for name, method in methods.items():
        result = noise_accumulation(model, x, targets, masks, method=method)
        for position, layer in enumerate(result.layers):
            s = summarize(result.background_share[:, position].detach().cpu())
            rows.append(dict(experiment="noise_accumulation", method=name,
                             series="background share", x=float(position), value=s.median,
                             low=s.ci_low, high=s.ci_high, n=s.n, x_label=layer))
    note = (f"{len(masked.images)} masked images; lines: the median share over images, bands: "
            "its 95 % bootstrap interval; layer 0 is the input (the method's own map without "
            "the final threshold), then the input of each ReLU layer with a spatial map.")
    store_curve(ctx, "noise_accumulation", rows, key, note)
