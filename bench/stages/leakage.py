"""Stage ``leakage``: ROAR/KAR's leakage control, a classifier of the removal masks alone.

For every method and fraction (and the first ``roar.leakage_seeds`` seeds) a fresh paper CNN with
one input channel is trained on the binary removal masks of the ROAR cell (no pixel values) with
the retraining recipe, and its test accuracy is stored in ``leakage`` (Rong et al. 2022; see
:mod:`bench.leakage`). Lower is better: chance (1 / classes) means the shape of what is removed
says nothing about the class. When a method's leakage accuracy exceeds the accuracy of its
retrained model at the same (mode, fraction) and lies above chance by more than two binomial
standard errors (the mask really carries class information), its ROAR/KAR score may measure the
mask's shape rather than the remaining pixels: the console says so (the report marks every cell
whose leakage accuracy exceeds the retrained one from the stored table, ``reports.checks``).

The masks are made by :func:`metrics.roar_kar` itself: blank one-channel images (all 0) occluded
with fill 255 are exactly the removal masks as ``uint8`` 0/255 (:func:`bench.leakage.occlusion_masks`),
so the leakage cells reuse the engine, executor and grouping of the retraining cells. A KAR mask is
the complement of the ROAR mask at the same (fraction, seed): the same information (a model of
the complement is the model of the mask with its first layer's weights negated, and Adam's
trajectory maps over exactly), so one classifier per (fraction, seed) serves both modes and its
accuracy is stored for each.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from bench.cells import make_cell_trainer, mask_model_builder
from bench.ensemble import make_ensemble_train_and_evaluate
from bench.pipeline import RunContext
from bench.provenance import provenance_key
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from bench.stages.retraining import resolve_engine, retraining_inputs, retraining_modes
from bench.training import TRAINING_VERSION
from metrics import roar_kar

__all__ = ["control_leakage", "leakage_warnings"]


def control_leakage(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    roar = ctx.config.roar
    seeds = tuple(roar.seeds[: roar.leakage_seeds])
    modes = retraining_modes(ctx)
    if not seeds or not modes:
        return
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    n, _, height, width = train.images.shape
    blank_train = torch.zeros(n, 1, height, width, dtype=torch.uint8)
    blank_test = torch.zeros(test.images.shape[0], 1, height, width, dtype=torch.uint8)
    trainers = _trainers(ctx, len(train.classes), height)
    wanted = {(float(f), int(s)) for f in roar.fractions for s in seeds}
    for method in ctx.bar(ctx.methods, desc="leakage"):
        _discard_stale(ctx, method.name, _leakage_key(ctx, images, maps, method.name, seeds))
        done = _stored(ctx, method.name, modes[0])
        if wanted <= set(done):
            continue
        if method.random_ranking:
            train_maps = test_maps = None
        else:
            train_maps, test_maps = maps.get(method.name, train.name), maps.get(method.name, test.name)

        def store(mode: str, fraction: float, seed: int, accuracy: float, name: str = method.name) -> None:
            rows = [dict(method=name, mode=m, fraction=float(fraction), seed=int(seed),
                         accuracy=float(accuracy)) for m in modes]
            ctx.store.put_rows("leakage", ctx.run_id, rows)

        roar_kar(
            trainers["single"], blank_train, train.labels, blank_test, test.labels, train_maps,
            test_maps, [255], fractions=roar.fractions, seeds=seeds, modes=("roar",),
            done={("roar", f, s): a for (f, s), a in done.items() if (f, s) in wanted},
            on_cell=store, executor=ctx.executor, batch_train_and_evaluate=trainers["batch"],
            group_size=roar.group_size, device=ctx.device,
        )  # fmt: skip
    _warn(ctx, len(train.classes), test.images.shape[0])


def _trainers(ctx: RunContext, num_classes: int, image_size: int) -> dict[str, Any]:
    roar = ctx.config.roar
    recipe = replace(ctx.config.train, epochs=roar.epochs)
    build = mask_model_builder(num_classes, image_size)
    if resolve_engine(roar.engine, ctx.device) == "sequential":
        single = make_cell_trainer(ctx.config.model, recipe, num_classes, image_size, ctx.device,
                                   build=build)
        return {"single": single, "batch": None}
    batch = make_ensemble_train_and_evaluate(
        ctx.config.model, recipe, num_classes, image_size, ctx.device,
        autocast_bf16=roar.bf16, build=build,
    )  # fmt: skip
    return {"single": None, "batch": batch}


def _stored(ctx: RunContext, method: str, mode: str) -> dict[tuple[float, int], float]:
    rows = ctx.store.table("leakage", ctx.run_id)
    return {(f, s): a for _, m, md, f, s, a in rows if m == method and md == mode and a is not None}


def _leakage_key(
    ctx: RunContext, images: ImageSets, maps: MapSource, method: str, seeds: tuple[int, ...]
) -> str:
    ranking, recipe, precision = retraining_inputs(ctx, images, maps, method)
    return provenance_key("leakage", ranking, "paper_cnn/1-channel", recipe, TRAINING_VERSION,
                          precision)


def _discard_stale(ctx: RunContext, method: str, key: str) -> None:
    if ctx.store.artifact_key(ctx.run_id, "leakage", method) == key:
        return
    ctx.store.delete_rows("leakage", ctx.run_id, method=method)
    ctx.store.set_artifact_key(ctx.run_id, "leakage", method, key)


def leakage_warnings(
    leakage: list[tuple[str, str, float, float]],
    retrained: dict[tuple[str, str, float], float],
    *,
    num_classes: int,
    n_test: int,
) -> list[str]:
    """One sentence per (method, mode, fraction) whose mean leakage accuracy exceeds the mean
    accuracy of its retrained models and chance (``1 / num_classes``) by more than two binomial
    standard errors over ``n_test`` images. ``leakage`` rows are ``(method, mode, fraction,
    accuracy)``, ``retrained`` maps ``(method, mode, fraction)`` to the mean over seeds."""
    chance = 1.0 / num_classes
    above_chance = chance + 2 * (chance * (1 - chance) / max(n_test, 1)) ** 0.5
    sums: dict[tuple[str, str, float], list[float]] = {}
    for method, mode, fraction, accuracy in leakage:
        sums.setdefault((method, mode, round(fraction, 6)), []).append(accuracy)
    lines = []
    for (method, mode, fraction), values in sums.items():
        leak = sum(values) / len(values)
        accuracy = retrained.get((method, mode, fraction))
        if accuracy is not None and leak > accuracy and leak > above_chance:
            lines.append(
                f"leakage: {method} {mode.upper()} at fraction {fraction:g}: a classifier of the "
                f"removal masks alone reaches {leak:.3f}, the retrained model {accuracy:.3f}; this "
                "cell may measure the shape of what is removed, not the pixels left"
            )
    return lines


def _warn(ctx: RunContext, num_classes: int, n_test: int) -> None:
    """Print the leakage warnings. They are not stored as notes: the report flags the same cells
    from the ``leakage`` table itself (``reports.checks.leakage_flags``), and a second copy of each
    made the report's list of failed checks twice as long. Notes of earlier runs are removed."""
    for _, kind, position, text in ctx.store.table("notes", ctx.run_id):
        if kind == "warning" and str(text).startswith("leakage:"):
            ctx.store.delete_rows("notes", ctx.run_id, kind="warning", position=position)
    rows = [(m, md, f, a) for _, m, md, f, _, a in ctx.store.table("leakage", ctx.run_id)
            if a is not None]
    sums: dict[tuple[str, str, float], list[float]] = {}
    for _, method, mode, fraction, _, accuracy in ctx.store.table("roar_cells", ctx.run_id):
        sums.setdefault((method, mode, round(fraction, 6)), []).append(accuracy)
    retrained = {key: sum(v) / len(v) for key, v in sums.items()}
    for line in leakage_warnings(rows, retrained, num_classes=num_classes, n_test=n_test):
        ctx.echo(f"warning: {line}")
