"""Trainers of ROAR/KAR cells that report which test images the retrained model gets right.

:func:`make_cell_trainer` is the sequential path, one cell per call; its batched counterpart is
:func:`bench.ensemble.make_ensemble_train_and_evaluate` with ``per_image=True`` (K cells as one
vectorised ensemble, equal to K calls of this one with the same seeds). Both return per cell a bool
(M,) tensor of per-test-image correctness (its mean is the cell's accuracy), which the paired
comparisons of ROAR/KAR with Random bootstrap over test images.

Pairing (common random numbers): a cell's model depends on its data and its seed only. The seed
fixes the initialisation (``torch.manual_seed(seed)`` right before the model is built, the
caller's RNG state restored afterwards) and the per-epoch shuffle
(``torch.Generator().manual_seed(seed)``), exactly as :func:`bench.training.train_or_load` does.
So the cells of all methods at one (fraction, seed) start from identical weights and see the same
images in the same batches; only the occlusion differs (``tests/bench/test_roar_pairing.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from bench.models import PaperCNN, create_model
from bench.training import TrainRecipe, predict, train_tensors
from metrics.roar_kar import TrainAndEvaluate

__all__ = ["make_cell_trainer", "fresh_model", "mask_model_builder", "ModelBuilder"]

#: Builds one fresh model (called right after seeding).
ModelBuilder = Callable[[], nn.Module]


def fresh_model(build: ModelBuilder, seed: int) -> nn.Module:
    """``build()`` under ``torch.manual_seed(seed)``; the caller's global RNG state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def mask_model_builder(num_classes: int, image_size: int) -> ModelBuilder:
    """The leakage control's model: the paper's CNN on one-channel removal masks
    (:mod:`bench.leakage`). Picklable, so cells can travel to other processes."""
    return functools.partial(PaperCNN, num_classes, 1, image_size)


def make_cell_trainer(
    model_name: str,
    recipe: TrainRecipe,
    num_classes: int,
    image_size: int,
    device: str | torch.device = "cpu",
    *,
    dtype: torch.dtype = torch.float32,
    build: ModelBuilder | None = None,
    progress: bool = False,
) -> TrainAndEvaluate:
    """A retraining callable for ROAR/KAR: ``(train_x, train_y, test_x, test_y, seed) -> correct``.

    Each call trains a fresh ``create_model(model_name, num_classes, image_size)`` (or ``build()``)
    seeded by ``seed`` with ``recipe`` (:func:`bench.training.train_tensors`) on the ``uint8``
    tensors and returns a bool (M,) CPU tensor: the prediction on each test image equals its
    label. ``dtype`` float64 trains in double precision (the equality tests); the inputs are scaled
    in float32 first, as the ensemble does.
    """
    if build is None:
        create_model(model_name, num_classes, image_size)  # fail now on an unknown name
        build = functools.partial(create_model, model_name, num_classes, image_size)
    return functools.partial(_train_cell, build, recipe, torch.device(device), dtype, progress)


def _train_cell(
    build: ModelBuilder,
    recipe: TrainRecipe,
    device: torch.device,
    dtype: torch.dtype,
    progress: bool,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    seed: int,
) -> torch.Tensor:
    model = fresh_model(build, seed)
    net = model if dtype == torch.float32 else nn.Sequential(_Cast(dtype), model.to(dtype))
    train_tensors(net, train_x, train_y, recipe, int(seed), device=device, progress=progress)
    return predict(net, test_x, device=device) == test_y.cpu()


class _Cast(nn.Module):
    """Casts the float32 model input to ``dtype`` (for a model trained in another precision)."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype)
