"""How ROAR/KAR cells are occluded and trained: one at a time or in groups, through an executor.

:func:`metrics.roar_kar.roar_kar` drives the grid; this module holds the types of its trainers and
executors and the per-cell work, which an executor may run in another process or on another
machine (everything here is picklable: module-level functions and ``functools.partial``).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch

from metrics.occlusion import occlude, random_occlude

__all__ = [
    "Outcome",
    "TrainAndEvaluate",
    "CellData",
    "BatchTrainAndEvaluate",
    "Cell",
    "Executor",
    "SequentialExecutor",
    "GridData",
    "cell_generator",
    "occlude_cell",
    "cell_outcomes",
    "outcome_accuracy",
]

Outcome = float | torch.Tensor
"""What training one cell returns: its test accuracy in [0, 1], or a bool (M,) tensor saying which
test images the retrained model classifies correctly (its mean is the accuracy)."""

TrainAndEvaluate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int], Outcome]
"""``(train_x, train_y, test_x, test_y, seed) -> Outcome``, a fresh model per call."""

CellData = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]
"""One cell's training input ``(train_x, train_y, test_x, test_y, seed)``, occluded."""

BatchTrainAndEvaluate = Callable[[Sequence[CellData]], Sequence[Outcome]]
"""``cells -> outcomes``, one fresh model per cell, in the cells' order (all cells share labels)."""

Cell = tuple[str, float, int]
_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Executor(Protocol):
    """Anything with ``map(fn, items)`` yielding ``fn(item)`` in the order of ``items``.

    An executor may also offer ``map_unordered(fn, items)`` yielding ``(position, fn(item))`` pairs
    as they finish (e.g. a cluster); :func:`roar_kar` then reports each cell as soon as it exists.
    """

    def map(self, fn: Callable[[_In], _Out], items: Iterable[_In]) -> Iterable[_Out]: ...


class SequentialExecutor:
    """Runs cells one after the other in this process, lazily (each result as soon as it exists)."""

    def map(self, fn: Callable[[_In], _Out], items: Iterable[_In]) -> Iterator[_Out]:
        return map(fn, items)


def cell_generator(fraction: float, seed: int, split: str) -> torch.Generator:
    """The tie-break generator of one cell's train or test split, seeded from the cell alone.

    A resumed cell therefore rebuilds exactly the same occluded data. The mode is left out of the
    key on purpose: ROAR and KAR at the same (fraction, seed) rank pixels identically, so their
    occluded sets are exact complements.
    """
    key = f"{round(fraction * 1_000_000)}:{seed}:{split}".encode()
    return torch.Generator().manual_seed(zlib.crc32(key))


@dataclass(frozen=True)
class GridData:
    """The images, labels, maps and fill of one method's grid (maps None: Random)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_maps: torch.Tensor | None
    test_maps: torch.Tensor | None
    fill: torch.Tensor | Sequence[float]

    def to(self, device: str | torch.device | None) -> GridData:
        if device is None:
            return self
        move = functools.partial(_to, device=torch.device(device))
        return GridData(move(self.train_images), self.train_labels, move(self.test_images),
                         self.test_labels, move(self.train_maps), move(self.test_maps), self.fill)


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


def cell_outcomes(
    data: GridData,
    todo: list[Cell],
    executor: Executor,
    single: TrainAndEvaluate | None,
    batch: BatchTrainAndEvaluate | None,
    group_size: int,
    device: str | torch.device | None,
) -> Iterator[tuple[Cell, Outcome]]:
    """``(cell, outcome)`` of every cell of ``todo``, as the executor delivers them."""
    if batch is None:
        assert single is not None
        run = functools.partial(_run_cell, single, data, device)
        for position, outcome in _stream(executor, run, todo):
            yield todo[position], outcome
        return
    size = group_size or max(1, len(todo))
    groups = [tuple(todo[i : i + size]) for i in range(0, len(todo), size)]
    run_group = functools.partial(_run_group, batch, data, device)
    for position, outcomes in _stream(executor, run_group, groups):
        outcomes = list(outcomes)
        if len(outcomes) != len(groups[position]):
            raise ValueError(
                f"batch_train_and_evaluate returned {len(outcomes)} outcomes for "
                f"{len(groups[position])} cells"
            )
        yield from zip(groups[position], outcomes, strict=True)


def _stream(
    executor: Executor, fn: Callable[[_In], _Out], items: list[_In]
) -> Iterator[tuple[int, _Out]]:
    unordered = getattr(executor, "map_unordered", None)
    if unordered is not None:
        yield from unordered(fn, items)
    else:
        yield from enumerate(executor.map(fn, items))


def occlude_cell(
    cell: Cell,
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    train_maps: torch.Tensor | None,
    test_maps: torch.Tensor | None,
    fill: torch.Tensor | Sequence[float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The occluded ``(train_x, test_x)`` of one ``(mode, fraction, seed)`` cell.

    :func:`occlude` (or :func:`random_occlude` when the maps are None: the Random baseline) on
    each split, tie-breaks drawn from :func:`cell_generator` on the CPU, so the same cell gives
    the same pixels on any device. The results lie where the images lie.
    """
    mode, fraction, seed = cell
    keep = mode == "kar"
    splits = []
    for split, images, maps in (("train", train_images, train_maps),
                                ("test", test_images, test_maps)):
        generator = cell_generator(fraction, seed, split)
        if maps is None:
            splits.append(random_occlude(images, fraction, keep, fill=fill, generator=generator))
        else:
            splits.append(occlude(images, maps, fraction, keep, fill=fill, generator=generator))
    return splits[0], splits[1]


def _run_cell(
    train_and_evaluate: TrainAndEvaluate,
    data: GridData,
    device: str | torch.device | None,
    cell: Cell,
) -> Outcome:
    """Occlude one cell (on ``device``) and train it."""
    placed = data.to(device)
    train_x, test_x = occlude_cell(cell, placed.train_images, placed.test_images,
                                   placed.train_maps, placed.test_maps, placed.fill)
    return train_and_evaluate(train_x, data.train_labels, test_x, data.test_labels, cell[2])


def _run_group(
    batch: BatchTrainAndEvaluate,
    data: GridData,
    device: str | torch.device | None,
    group: tuple[Cell, ...],
) -> list[Outcome]:
    """Occlude the group's cells (on ``device``) and train them together."""
    placed = data.to(device)
    cells = []
    for cell in group:
        train_x, test_x = occlude_cell(cell, placed.train_images, placed.test_images,
                                       placed.train_maps, placed.test_maps, placed.fill)
        cells.append((train_x, data.train_labels, test_x, data.test_labels, cell[2]))
    return list(batch(cells))


def outcome_accuracy(outcome: Outcome, cell: Cell, n_test: int) -> tuple[float, torch.Tensor | None]:
    """The accuracy of an outcome, and its per-image correctness (None for a bare accuracy)."""
    correct = None
    if isinstance(outcome, torch.Tensor) and outcome.dim() == 1:
        if outcome.dtype != torch.bool or outcome.shape[0] != n_test:
            raise ValueError(
                f"a per-image outcome must be a bool tensor of shape ({n_test},), got "
                f"{outcome.dtype} {tuple(outcome.shape)} for cell {cell}"
            )
        correct = outcome.detach().cpu()
        value = float(correct.double().mean())
    else:
        value = float(outcome)
    if not math.isfinite(value):
        raise ValueError(f"train_and_evaluate returned a non-finite accuracy {value} for cell {cell}")
    return value, correct
