"""ROAR / KAR: retrain on occluded data and score the accuracy-vs-fraction curves.

Hooker et al. 2019 ("A Benchmark for Interpretability Methods in Deep Neural Networks"), as the
RectGrad paper ran it (Table 1, appendix G): for every mode (ROAR removes the top fraction of
pixels, KAR keeps it), fraction and seed, occlude the train and test sets, train a fresh model
and record its test accuracy. Training is a callable passed in, so this module never imports the
runner; each (mode, fraction, seed) cell is independent, resumable and can be fanned out, one
at a time (``train_and_evaluate``) or in groups trained together (``batch_train_and_evaluate``, e.g.
a vectorised ensemble on a GPU).

Pairing: a cell's seed is the only source of randomness of its training (initialisation and batch
order are seeded by it alone), so the cells of every method at one (fraction, seed) start from the
same weights and see the same batches; differences between methods at a cell are paired.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from metrics._checks import check_fraction, check_images, check_maps
from metrics.curves import curve_area
from metrics.roar_cells import (
    BatchTrainAndEvaluate,
    Cell,
    CellData,
    Executor,
    GridData,
    Outcome,
    SequentialExecutor,
    TrainAndEvaluate,
    cell_generator,
    cell_outcomes,
    occlude_cell,
    outcome_accuracy,
)

__all__ = [
    "score_cells",
    "roar_kar",
    "RoarKarResult",
    "SequentialExecutor",
    "Executor",
    "TrainAndEvaluate",
    "cell_generator",
    "occlude_cell",
    "BatchTrainAndEvaluate",
    "CellData",
    "Outcome",
    "MODES",
]

MODES: tuple[str, str] = ("roar", "kar")


@dataclass(frozen=True)
class RoarKarResult:
    """Cells and scores of one ROAR/KAR run.

    Attributes:
        cells: Tidy DataFrame, one row per cell, columns ``mode, fraction, seed, accuracy``,
            ordered by mode (as requested), fraction, seed.
        roar_auc: ``curve_area`` of the mean-over-seeds ROAR curve; lower is better. None when
            "roar" was not among the modes.
        kar_aoc: ``1 - curve_area`` of the mean-over-seeds KAR curve; lower is better. None when
            "kar" was not among the modes.
        seed_scores: DataFrame with one row per seed, columns ``seed, roar_auc, kar_aoc`` (the
            scores of each seed's own curves; their mean equals the scores above, since the area
            is linear), for intervals over seeds.
    """

    cells: pd.DataFrame
    roar_auc: float | None
    kar_aoc: float | None
    seed_scores: pd.DataFrame

    def score(self, mode: str) -> float | None:
        """``roar_auc`` for ``mode="roar"``, ``kar_aoc`` for ``mode="kar"``."""
        return {"roar": self.roar_auc, "kar": self.kar_aoc}[_check_modes([mode])[0]]

    def seed_score(self, mode: str) -> pd.Series:
        """The per-seed scores of ``mode`` (one value per seed, in seed order)."""
        return self.seed_scores[{"roar": "roar_auc", "kar": "kar_aoc"}[_check_modes([mode])[0]]]


def roar_kar(
    train_and_evaluate: TrainAndEvaluate | None,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    train_maps: torch.Tensor | None,
    test_maps: torch.Tensor | None,
    fill: torch.Tensor | Sequence[float],
    fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    seeds: Sequence[int] = (0, 1, 2),
    modes: Sequence[str] = MODES,
    done: Mapping[Cell, float] | None = None,
    *,
    on_cell: Callable[[str, float, int, float], None] | None = None,
    on_correct: Callable[[str, float, int, torch.Tensor], None] | None = None,
    executor: Executor | None = None,
    batch_train_and_evaluate: BatchTrainAndEvaluate | None = None,
    group_size: int = 0,
    device: str | torch.device | None = None,
) -> RoarKarResult:
    """Run the ROAR / KAR grid and score it.

    For each (mode, fraction, seed) cell not in ``done``: occlude the train and test images
    (:func:`occlude_cell`), train a fresh model on them and record its test accuracy. Scores:
    ROAR AUC = ``curve_area`` of the mean-over-seeds ROAR curve, KAR AOC = 1 - that of the KAR
    curve; lower is better for both (see :func:`metrics.curves.curve_area`).

    Two ways to train, with the same cells: one cell per call,
    ``train_and_evaluate(train_x, train_y, test_x, test_y, seed)`` (the executor maps over
    cells), or ``group_size`` cells per call, ``batch_train_and_evaluate(cells)`` (the executor
    maps over groups). Occluded data exist only while their cell or group trains, on ``device``.

    Args:
        train_and_evaluate: Trains a fresh model and returns its :data:`Outcome` (accuracy in
            [0, 1], or per-test-image correctness). May be None when ``batch_train_and_evaluate``
            is given.
        train_images, test_images: (N, C, H, W), uint8 (0..255) or float; passed occluded, same dtype.
        train_labels, test_labels: int64 (N,).
        train_maps, test_maps: Float (N, H, W) ranking maps of the matching images, or both None
            for the Random baseline.
        fill: Per-channel replacement values in the images' units (paper: the training set's
            per-channel mean).
        fractions: Distinct fractions in [0, 1], at least two (the curve's support).
        seeds: Distinct training seeds; accuracies are averaged over them.
        modes: A non-empty subset of ("roar", "kar").
        done: Accuracies of cells already finished, keyed ``(mode, fraction, seed)``; they are not
            rerun (fractions are matched to 1e-6).
        on_cell: Called as ``on_cell(mode, fraction, seed, accuracy)`` after each new cell, in the
            caller's process, so a runner can persist it before the next one finishes.
        on_correct: Called as ``on_correct(mode, fraction, seed, correct)`` just before
            ``on_cell`` when the trainer returned per-image correctness (bool (M,) on the CPU).
        executor: Object with ``map(fn, items)`` to fan cells (or groups) out; default
            in-process, sequential.
        batch_train_and_evaluate: Trains several cells at once (see :data:`BatchTrainAndEvaluate`).
        group_size: Cells per group for ``batch_train_and_evaluate``; 0: all missing cells in one.
        device: Where the cells are occluded (the images and maps are moved there, e.g. the
            GPU the cells train on); None: where the images are.

    Returns:
        :class:`RoarKarResult` with the tidy cells table and the two scores.
    """
    train_images = check_images(train_images, "train_images")
    test_images = check_images(test_images, "test_images")
    _check_labels(train_labels, train_images, "train_labels")
    _check_labels(test_labels, test_images, "test_labels")
    if (train_maps is None) != (test_maps is None):
        raise ValueError("train_maps and test_maps must both be tensors, or both None (Random)")
    if train_maps is not None and test_maps is not None:
        _check_matching_maps(train_maps, train_images, "train_maps")
        _check_matching_maps(test_maps, test_images, "test_maps")
    grid_fractions = _check_fractions(fractions)
    grid_seeds = _check_seeds(seeds)
    grid_modes = _check_modes(modes)
    finished = _check_done(done)
    trainer = batch_train_and_evaluate if batch_train_and_evaluate is not None else train_and_evaluate
    if not callable(trainer):
        raise ValueError("train_and_evaluate (or batch_train_and_evaluate) must be callable")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 0:
        raise ValueError(f"group_size must be an integer >= 0, got {group_size!r}")

    cells = [(m, f, s) for m in grid_modes for f in grid_fractions for s in grid_seeds]
    accuracy: dict[Cell, float] = {}
    todo: list[Cell] = []
    for cell in cells:
        key = _key(cell)
        if key in finished:
            accuracy[cell] = finished[key]
        else:
            todo.append(cell)

    data = GridData(train_images, train_labels, test_images, test_labels, train_maps,
                    test_maps, fill)
    for cell, outcome in cell_outcomes(data, todo, executor or SequentialExecutor(),
                                       train_and_evaluate, batch_train_and_evaluate, group_size,
                                       device):
        value, correct = outcome_accuracy(outcome, cell, test_labels.shape[0])
        accuracy[cell] = value
        if on_correct is not None and correct is not None:
            on_correct(*cell, correct)
        if on_cell is not None:
            on_cell(*cell, value)

    table = pd.DataFrame(
        [(m, f, s, accuracy[(m, f, s)]) for (m, f, s) in cells],
        columns=["mode", "fraction", "seed", "accuracy"],
    )
    return score_cells(table, grid_fractions, grid_seeds, grid_modes)


def score_cells(
    table: pd.DataFrame, fractions: Sequence[float], seeds: Sequence[int], modes: Sequence[str]
) -> RoarKarResult:
    """The ROAR/KAR scores of a complete grid of finished cells (e.g. read back from a store).

    Args:
        table: One row per (mode, fraction, seed) cell, columns ``mode, fraction, seed, accuracy``.
        fractions, seeds, modes: The grid; every cell of it must be in ``table``.

    Returns:
        :class:`RoarKarResult`, as :func:`roar_kar` returns it.
    """
    fractions, seeds, modes = list(fractions), list(seeds), list(modes)
    def area(mode: str, frame: pd.DataFrame) -> float:
        curve = frame[frame["mode"] == mode].groupby("fraction")["accuracy"].mean()
        height = curve_area(fractions, [float(curve[f]) for f in fractions])
        return height if mode == "roar" else 1.0 - height

    roar = area("roar", table) if "roar" in modes else None
    kar = area("kar", table) if "kar" in modes else None
    per_seed = pd.DataFrame(
        {
            "seed": seeds,
            "roar_auc": [
                area("roar", table[table["seed"] == s]) if "roar" in modes else math.nan
                for s in seeds
            ],
            "kar_aoc": [
                area("kar", table[table["seed"] == s]) if "kar" in modes else math.nan
                for s in seeds
            ],
        }
    )
    return RoarKarResult(cells=table, roar_auc=roar, kar_aoc=kar, seed_scores=per_seed)


def _key(cell: Cell) -> tuple[str, int, int]:
    mode, fraction, seed = cell
    return (mode, round(fraction * 1_000_000), seed)


def _check_labels(labels: object, images: torch.Tensor, name: str) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise ValueError(f"{name} must be an int64 tensor of shape (N,)")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{name} has {labels.shape[0]} labels for {images.shape[0]} images")


def _check_matching_maps(maps: torch.Tensor, images: torch.Tensor, name: str) -> None:
    check_maps(maps, name)
    expected = (images.shape[0], images.shape[2], images.shape[3])
    if tuple(maps.shape) != expected:
        raise ValueError(
            f"{name} must have shape {expected} to match the images, got {tuple(maps.shape)}"
        )


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    values = sorted(check_fraction(f, "fractions") for f in fractions)
    if len(values) < 2 or len({round(v * 1_000_000) for v in values}) != len(values):
        raise ValueError(
            f"fractions must hold at least two distinct values, got {list(fractions)!r}"
        )
    return values


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    values = list(seeds)
    if not values or len(set(values)) != len(values):
        raise ValueError(f"seeds must be distinct and non-empty, got {values!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
        raise ValueError(f"seeds must be ints, got {values!r}")
    return values


def _check_modes(modes: Sequence[str]) -> list[str]:
    values = list(modes)
    if not values or len(set(values)) != len(values) or not set(values) <= set(MODES):
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {values!r}")
    return values


def _check_done(done: Mapping[Cell, float] | None) -> dict[tuple[str, int, int], float]:
    finished: dict[tuple[str, int, int], float] = {}
    for cell, value in (done or {}).items():
        if not (isinstance(cell, tuple) and len(cell) == 3 and cell[0] in MODES):
            raise ValueError(f"done keys must be (mode, fraction, seed), got {cell!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"done holds a non-finite accuracy {value!r} for cell {cell!r}")
        finished[_key((cell[0], float(cell[1]), int(cell[2])))] = float(value)
    return finished
