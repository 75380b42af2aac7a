"""Stage ``retraining``: ROAR/KAR cells (occlude, retrain a fresh model, measure accuracy).

Every (method, mode, fraction, seed) cell is stored as soon as it finishes; a rerun skips the
stored ones. A method's cells carry a provenance key (its maps, the model architecture, the
retraining recipe, the fill values, the software): when it changes, the method's cells are
discarded and recomputed. Cells go through the run's executor (in-process by default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bench.pipeline import RunContext
from bench.provenance import provenance_key
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from bench.training import TRAINING_VERSION, make_train_and_evaluate
from methods import METHODS
from metrics import roar_kar

__all__ = ["retrain", "retraining_modes"]


def retraining_modes(ctx: RunContext) -> tuple[str, ...]:
    """The configured ROAR/KAR modes that a requested metric needs, in the configured order."""
    wanted = {spec.retraining_mode for spec in ctx.metrics if spec.kind == "retraining"}
    return tuple(mode for mode in ctx.config.roar.modes if mode in wanted)


def retrain(ctx: RunContext, images: ImageSets, maps: MapSource) -> None:
    roar = ctx.config.roar
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    modes = retraining_modes(ctx)
    recipe = replace(ctx.config.train, epochs=roar.epochs)
    train_and_evaluate = make_train_and_evaluate(
        ctx.config.model, recipe, num_classes=len(train.classes),
        image_size=train.images.shape[-1], device=ctx.device,
    )
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
        roar_kar(
            train_and_evaluate, train.images, train.labels, test.images, test.labels,
            train_maps, test_maps, images.fill, fractions=roar.fractions, seeds=roar.seeds,
            modes=modes, done={k: v for k, v in done.items() if k in wanted},
            on_cell=_CellWriter(ctx, method.name, bar), executor=ctx.executor,
        )
        bar.close()


def _cells_key(ctx: RunContext, images: ImageSets, maps: MapSource, method: str) -> str:
    train, test = images.sets["roar_train"], images.sets["roar_test"]
    if METHODS.get(method).random_ranking:
        ranking: object = ["random", train.digest, test.digest]
    else:
        ranking = [maps.key(method, train), maps.key(method, test)]
    recipe = replace(ctx.config.train, epochs=ctx.config.roar.epochs).to_dict()
    fill = [float(v) for v in images.fill] if images.fill is not None else None
    return provenance_key("roar_cells", ranking, ctx.config.model, recipe, TRAINING_VERSION, fill)


def _discard_stale_cells(ctx: RunContext, method: str, key: str) -> None:
    """Delete the method's stored cells when they were computed under another key."""
    stored = ctx.store.artifact_key(ctx.run_id, "roar_cells", method)
    if stored == key:
        return
    if stored is not None:
        ctx.echo(f"{method}: ROAR/KAR cells are stale (code, settings or data changed); recomputing")
    ctx.store.delete_rows("roar_cells", ctx.run_id, method=method)
    ctx.store.set_artifact_key(ctx.run_id, "roar_cells", method, key)


@dataclass
class _CellWriter:
    """Stores each finished cell at once, so a killed run loses at most the cell in progress."""

    ctx: RunContext
    method: str
    bar: Any

    def __call__(self, mode: str, fraction: float, seed: int, accuracy: float) -> None:
        self.ctx.store.put_roar_cell(self.ctx.run_id, self.method, mode, fraction, seed, accuracy)
        self.bar.update(1)
