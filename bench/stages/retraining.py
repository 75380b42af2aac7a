"""Stage ``retraining``: ROAR/KAR cells (occlude, retrain a fresh model, measure accuracy).

Every (method, mode, fraction, seed) cell is stored as soon as it finishes; a rerun skips the
stored ones. Cells go through the run's executor (in-process by default).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bench.pipeline import RunContext
from bench.stages.images import ImageSets
from bench.stages.maps import MapSource
from bench.training import make_train_and_evaluate
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


@dataclass
class _CellWriter:
    """Stores each finished cell at once, so a killed run loses at most the cell in progress."""

    ctx: RunContext
    method: str
    bar: Any

    def __call__(self, mode: str, fraction: float, seed: int, accuracy: float) -> None:
        self.ctx.store.put_roar_cell(self.ctx.run_id, self.method, mode, fraction, seed, accuracy)
        self.bar.update(1)
