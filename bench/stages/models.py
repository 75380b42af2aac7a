"""Stage ``models``: the classifiers the maps explain, trained once and cached.

``clean``: trained on the run's training images. ``patch``: trained on the same images with the
paper's random patch pasted at the top-left (Figure 7), only when a metric scores the patch set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch

from bench.data import add_patch, make_patch
from bench.pipeline import RunContext
from bench.stages.data import DataSets
from bench.training import evaluate_accuracy, train_or_load
from bench.weights import pretrained_model

__all__ = ["TrainedModel", "Models", "train_models"]


@dataclass(frozen=True)
class TrainedModel:
    """A trained classifier (eval mode, on the run's device), its cache key and test accuracy."""

    role: str
    model: torch.nn.Module
    key: str
    accuracy: float


@dataclass(frozen=True)
class Models:
    """The run's models, and the patch data set they need (None without a patch model)."""

    clean: TrainedModel
    patch: TrainedModel | None
    patched: DataSets | None


def train_models(ctx: RunContext, data: DataSets) -> Models:
    clean = _train(ctx, "clean", data)
    ctx.store.update_run(ctx.run_id, model_accuracy=clean.accuracy)
    ctx.echo(f"model test accuracy: {clean.accuracy:.4f}")
    if not any(ctx.image_set_of(spec) == "patch" for spec in ctx.metrics):
        return Models(clean, None, None)
    cfg = ctx.config.data
    patch = make_patch(cfg.patch_seed, size=cfg.patch_size)
    patched = DataSets(
        replace(data.train, images=add_patch(data.train.images, patch)),
        replace(data.test, images=add_patch(data.test.images, patch)),
    )
    return Models(clean, _train(ctx, "patch", patched), patched)


def _train(ctx: RunContext, role: str, data: DataSets) -> TrainedModel:
    if role == "clean" and ctx.config.weights:
        return _load(ctx, role, data)
    model, info = train_or_load(
        ctx.model_cache, ctx.config.model, data.train.images, data.train.labels,
        data.test.images, data.test.labels, ctx.config.train, ctx.config.seed,
        num_classes=data.train.num_classes, device=ctx.device, progress=ctx.progress,
    )
    key, accuracy = str(info["cache_key"]), float(info["test_accuracy"])
    ctx.store.put_model(ctx.run_id, role, key, accuracy)
    ctx.echo(f"{role} model {key[:12]}: test accuracy {accuracy:.4f}")
    return TrainedModel(role, model.to(ctx.device).eval(), key, accuracy)


# [byo] --weights: the explained model is loaded (checked against its architecture), not trained.
def _load(ctx: RunContext, role: str, data: DataSets) -> TrainedModel:
    test = data.test
    model, sha = pretrained_model(ctx.config.model, ctx.config.weights, test.num_classes,
                                  int(test.images.shape[-1]))
    model = model.to(ctx.device).eval()
    accuracy = evaluate_accuracy(model, test.images, test.labels, device=ctx.device,
                                 transform=ctx.input_transform)
    key = hashlib.sha256(f"weights|{ctx.config.model}|{sha}".encode()).hexdigest()
    ctx.store.put_model(ctx.run_id, role, key, accuracy)
    ctx.echo(f"{role} model loaded from {ctx.config.weights} (sha256 {sha[:12]}), not trained: "
             f"test accuracy {accuracy:.4f}")
    return TrainedModel(role, model, key, accuracy)
