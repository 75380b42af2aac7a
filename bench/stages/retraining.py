"""Stage ``retraining``: ROAR/KAR cells (occlude, retrain a fresh model, measure accuracy).

Every (method, mode, fraction, seed) cell is stored as soon as it finishes, with the per-image
correctness of its retrained model (:mod:`bench.roar_store`); a rerun skips the stored ones. A
method's cells carry a provenance key (its maps, the model architecture, the retraining recipe,
the fill values, bf16, the software): when it changes, the method's cells are discarded and
recomputed.

Cells go through the run's executor (in-process by default, Ray with ``--executor ray``). The
engine (``roar.engine``) trains them one at a time (:func:`bench.cells.make_cell_trainer`) or, on
CUDA, in groups as one vectorised ensemble (:func:`bench.ensemble.make_ensemble_train_and_evaluate`)
whose occluded data are built on the GPU, group by group, so that host memory stays bounded.
Cells are paired across methods: at one (fraction, seed) every method's model starts from the
same weights and sees the same batches (:mod:`bench.cells`).

Before the methods' cells, one *clean* cell per seed (the same recipe on the unoccluded images)
measures the scale's ceiling; its accuracy is stored in ``models`` as role ``roar_clean:<seed>``
(the comparisons call a protocol whose clean accuracy is below 0.55 "not resolved at this scale").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import torch

from bench.cells import make_cell_trainer
from bench.config import RoarConfig
from bench.ensemble import make_ensemble_train_and_evaluate
from bench.pipeline import RunContext
from bench.provenance import provenance_key
from bench.roar_store import put_cell
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from bench.training import TRAINING_VERSION
from methods import METHODS
from metrics import roar_kar

__all__ = ["retrain", "retraining_modes", "resolve_engine", "clean_accuracies", "ENGINES",
           "CLEAN_ROLE", "check_roar_settings"]

#: ``models`` role of the clean cell of a seed: ``f"{CLEAN_ROLE}{seed}"``.
CLEAN_ROLE = "roar_clean:"

ENGINES: tuple[str, ...] = ("auto", "sequential", "ensemble")


def retraining_modes(ctx: RunContext) -> tuple[str, ...]:
    """The configured ROAR/KAR modes that a requested metric needs, in the configured order."""
    wanted = {spec.retraining_mode for spec in ctx.metrics if spec.kind == "retraining"}
    return tuple(mode for mode in ctx.config.roar.modes if mode in wanted)


def check_roar_settings(roar: RoarConfig) -> None:
    """Check the engine, grouping, leakage and calibration settings of ``roar``.

    Raises:
        ValueError: A setting out of range, naming it and what is expected.
    """
    if roar.engine not in ENGINES:
        raise ValueError(f"roar.engine must be one of {ENGINES}, got {roar.engine!r}")
    for name in ("group_size", "leakage_seeds"):
        value = getattr(roar, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"roar.{name} must be an integer >= 0, got {value!r}")
    if not isinstance(roar.bf16, bool):
        raise ValueError(f"roar.bf16 must be true or false, got {roar.bf16!r}")
    if isinstance(roar.seed_sd, bool) or not isinstance(roar.seed_sd, (int, float)) or not (
        0 <= roar.seed_sd < 1
    ):
        raise ValueError(f"roar.seed_sd must be a number in [0, 1) (0: unknown), got "
                         f"{roar.seed_sd!r}")


def resolve_engine(engine: str, device: torch.device) -> str:
    """``"sequential"`` or ``"ensemble"``: ``"auto"`` is the ensemble on CUDA only.

    Raises:
        ValueError: ``engine`` is not one of :data:`ENGINES`.
    """
    if engine not in ENGINES:
        raise ValueError(f"roar.engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        return "ensemble" if device.type == "cuda" else "sequential"
    return engine


def retrain(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    roar = ctx.config.roar
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    modes = retraining_modes(ctx)
    trainers = _trainers(ctx, num_classes=len(train.classes), image_size=train.images.shape[-1])
    _note_engine(ctx, trainers["engine"])
    _clean_cells(ctx, trainers, images)
    wanted = {(m, float(f), int(s)) for m in modes for f in roar.fractions for s in roar.seeds}
    for method in ctx.bar(ctx.methods, desc="roar/kar methods"):
        _discard_stale_cells(ctx, method.name, _cells_key(ctx, images, maps, method.name))
        done = ctx.store.roar_cells(ctx.run_id, method.name)
        if wanted <= set(done):
            continue
        if method.random_ranking:
            train_maps = test_maps = None
        else:
            train_maps = maps.get(method.name, train.name)
            test_maps = maps.get(method.name, test.name)
        bar = ctx.bar(total=len(wanted), initial=len(wanted & set(done)),
                      desc=f"{method.name} cells", leave=False)
        writer = _CellWriter(ctx, method.name, bar)
        roar_kar(
            trainers["single"], train.images, train.labels, test.images, test.labels,
            train_maps, test_maps, images.fill, fractions=roar.fractions, seeds=roar.seeds,
            modes=modes, done={k: v for k, v in done.items() if k in wanted},
            on_cell=writer, on_correct=writer.correct, executor=ctx.executor,
            batch_train_and_evaluate=trainers["batch"], group_size=roar.group_size,
            device=ctx.device,
        )
        bar.close()


def _trainers(ctx: RunContext, *, num_classes: int, image_size: int) -> dict[str, Any]:
    """The engine's trainer: ``single`` (one cell per call) or ``batch`` (an ensemble)."""
    roar = ctx.config.roar
    recipe = replace(ctx.config.train, epochs=roar.epochs)
    engine = resolve_engine(roar.engine, ctx.device)
    if engine == "sequential":
        single = make_cell_trainer(ctx.config.model, recipe, num_classes, image_size, ctx.device)
        return {"engine": engine, "single": single, "batch": None}
    batch = make_ensemble_train_and_evaluate(
        ctx.config.model, recipe, num_classes, image_size, ctx.device,
        autocast_bf16=roar.bf16, per_image=True,
    )  # fmt: skip
    return {"engine": engine, "single": None, "batch": batch}


def _clean_cells(ctx: RunContext, trainers: dict[str, Any], images: ImageSets) -> None:
    """Train the missing clean cells (unoccluded images, one per seed) and store their accuracy."""
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    recipe = replace(ctx.config.train, epochs=ctx.config.roar.epochs).to_dict()
    key = provenance_key("roar_clean", train.digest, test.digest, ctx.config.model, recipe,
                         TRAINING_VERSION, "bf16" if ctx.config.roar.bf16 else "float32")
    stored = {row[1]: row[2] for row in ctx.store.table("models", ctx.run_id)}
    todo = [s for s in ctx.config.roar.seeds if stored.get(f"{CLEAN_ROLE}{s}") != key]
    if not todo:
        return
    cells = [(train.images, train.labels, test.images, test.labels, int(s)) for s in todo]
    if trainers["batch"] is not None:  # one ensemble, through the executor (e.g. a GPU worker)
        outcomes = list(next(iter(ctx.executor.map(trainers["batch"], [cells]))))
    else:
        outcomes = list(ctx.executor.map(functools.partial(_apply, trainers["single"]), cells))
    for seed, correct in zip(todo, outcomes, strict=True):
        accuracy = float(torch.as_tensor(correct).double().mean())
        ctx.store.put_model(ctx.run_id, f"{CLEAN_ROLE}{seed}", key, accuracy)
    ctx.echo("clean retrained accuracy: " + ", ".join(
        f"seed {s} {a:.4f}" for s, a in sorted(clean_accuracies(ctx).items())))


def _apply(trainer: Any, cell: tuple) -> Any:
    return trainer(*cell)


def clean_accuracies(ctx: RunContext) -> dict[int, float]:
    """The stored clean-cell accuracies of the run's seeds, by seed."""
    by_role = {row[1]: row[3] for row in ctx.store.table("models", ctx.run_id)}
    return {int(s): float(by_role[f"{CLEAN_ROLE}{s}"]) for s in ctx.config.roar.seeds
            if f"{CLEAN_ROLE}{s}" in by_role}


def _note_engine(ctx: RunContext, engine: str) -> None:
    """A ``notes`` row (kind ``engine``) the report shows: how the cells were trained."""
    roar = ctx.config.roar
    text = (f"ROAR/KAR cells trained by the {engine} engine on {ctx.device.type}"
            + (", forward passes under bf16 autocast (the paper: float32)" if roar.bf16
               and engine == "ensemble" else ", float32"))
    ctx.store.put_rows("notes", ctx.run_id, [dict(kind="engine", position=0, text=text)],
                       replace_where={"kind": "engine"})


def retraining_inputs(
    ctx: RunContext, images: ImageSets, maps: MapSource, method: str
) -> tuple[object, dict[str, Any], str]:
    """What every model retrained for ``method`` depends on, for provenance keys (cells and the
    leakage control): its ranking of both ROAR sets (its maps' keys; the images' digests for a
    random ranking, drawn from the seed), the retraining recipe and the precision."""
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    if METHODS.get(method).random_ranking:
        ranking: object = ["random", train.digest, test.digest]
    else:
        ranking = [maps.key(method, train), maps.key(method, test)]
    recipe = replace(ctx.config.train, epochs=ctx.config.roar.epochs).to_dict()
    return ranking, recipe, "bf16" if ctx.config.roar.bf16 else "float32"


def _cells_key(ctx: RunContext, images: ImageSets, maps: MapSource, method: str) -> str:
    ranking, recipe, precision = retraining_inputs(ctx, images, maps, method)
    fill = [float(v) for v in images.fill] if images.fill is not None else None
    return provenance_key("roar_cells", ranking, ctx.config.model, recipe, TRAINING_VERSION, fill,
                          precision)


def _discard_stale_cells(ctx: RunContext, method: str, key: str) -> None:
    """Delete the method's stored cells when they were computed under another key."""
    stored = ctx.store.artifact_key(ctx.run_id, "roar_cells", method)
    if stored == key:
        return
    if stored is not None:
        ctx.echo(f"{method}: ROAR/KAR cells are stale (code, settings or data changed); recomputing")
    ctx.store.delete_rows("roar_cells", ctx.run_id, method=method)
    ctx.store.delete_rows("roar_correct", ctx.run_id, method=method)
    ctx.store.set_artifact_key(ctx.run_id, "roar_cells", method, key)


@dataclass
class _CellWriter:
    """Stores each finished cell at once, so a killed run loses at most the cells in progress."""

    ctx: RunContext
    method: str
    bar: Any
    pending: dict[tuple[str, float, int], torch.Tensor] | None = None

    def correct(self, mode: str, fraction: float, seed: int, correct: torch.Tensor) -> None:
        self.pending = {(mode, fraction, seed): correct}

    def __call__(self, mode: str, fraction: float, seed: int, accuracy: float) -> None:
        cell = (mode, fraction, seed)
        correct = (self.pending or {}).get(cell)
        put_cell(self.ctx.store, self.ctx.run_id, self.method, cell, accuracy, correct)
        self.pending = None
        self.bar.update(1)
