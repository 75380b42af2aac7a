"""Train K same-architecture models at once as one vectorised ensemble (ROAR/KAR cells).

ROAR/KAR retrains a fresh model for every (method, mode, fraction, seed) cell. The cells of one
run share the architecture, the recipe and the labels; only the occluded images and the seed
differ. :func:`train_ensemble` trains K such cells together: one forward and one backward pass per
step for all K members (see :mod:`bench.ensemble_forward`), one Adam step on the stacked
parameters.

Each member k reproduces the sequential path (:func:`bench.training.make_train_and_evaluate`):

- initialisation: ``torch.manual_seed(seed_k)`` then ``create_model(name, classes, size)``;
- shuffle: ``torch.Generator().manual_seed(seed_k)``, ``torch.randperm(N)`` every epoch, batches
  ``order.split(batch_size)`` (the last one may be smaller; every member has the same N);
- loss: mean cross-entropy over its own batch; the ensemble minimises the sum of the K losses,
  whose gradient w.r.t. member k's parameters is exactly member k's gradient;
- Adam (betas (0.9, 0.999), eps 1e-8, no weight decay, ``recipe.lr``): ``torch.optim.Adam`` on the
  stacked (K, ...) parameters. Adam is element-wise and the K members step together, so this *is*
  K independent Adams; torch picks the same implementation (for-loop on the CPU, ``foreach`` on
  CUDA) as for the sequential path on the same device, so the update arithmetic is identical.

Results equal the sequential path up to float rounding of the batched convolutions and matrix
products (float64: weights within ~1e-12 relative after hundreds of steps; see the tests).
Random layers (dropout) are not reproduced member by member; PaperCNN has none.

Data: every member's ``uint8`` train and test images are copied once to ``device`` as
(K, N, H, W, C) (channels-last), each batch converted on the fly with the paper's scaling.
Members are trained in chunks of at most ``chunk_size`` (auto on CUDA: what fits in ~60 % of the
free memory).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bench.data import to_model_input
from bench.ensemble_checks import check_members, same_tensor
from bench.ensemble_chunks import cuda_chunk_size
from bench.ensemble_forward import EnsembleForward, make_forward, stack_models
from bench.models import create_model
from bench.progress import progress_bar
from bench.training import TrainRecipe

__all__ = [
    "EnsembleMember",
    "EnsembleResult",
    "train_ensemble",
    "make_ensemble_train_and_evaluate",
    "BatchTrainAndEvaluate",
    "Cell",
]

#: One ROAR/KAR cell as the sequential callable receives it: ``(train_x, train_y, test_x, test_y,
#: seed)``.
Cell = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]
#: ``cells -> test accuracies``, one per cell, in order; the batched ``TrainAndEvaluate``.
BatchTrainAndEvaluate = Callable[[Sequence[Cell]], list[float]]


@dataclass(frozen=True)
class EnsembleMember:
    """One model of an ensemble: its own (occluded) images and seed; labels are shared.

    Attributes:
        train_images: ``uint8`` (N, C, H, W).
        test_images: ``uint8`` (M, C, H, W).
        seed: Seeds the initialisation and the per-epoch shuffle, as in the sequential path.
    """

    train_images: torch.Tensor
    test_images: torch.Tensor
    seed: int


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns, one entry per member, in the members' order.

    Attributes:
        accuracies: Test accuracy of each member on its own test images, in [0, 1].
        epoch_losses: Per member, the mean training cross-entropy of each epoch.
        state_dicts: Per member, the trained weights (CPU tensors, keys as ``model.state_dict()``).
        backend: The forward backend used ("grouped" or "vmap").
        seconds: Wall time of the whole call (staging, training, evaluation).
        correct: Per member, bool (M,) on the CPU: which test images it classifies correctly.
    """

    accuracies: list[float]
    epoch_losses: list[list[float]]
    state_dicts: list[dict[str, torch.Tensor]]
    backend: str
    seconds: float
    correct: list[torch.Tensor] = field(default_factory=list)


def train_ensemble(
    model_name: str,
    num_classes: int,
    image_size: int,
    members: Sequence[EnsembleMember],
    train_labels: torch.Tensor,
    test_labels: torch.Tensor,
    recipe: TrainRecipe,
    *,
    device: str | torch.device = "cpu",
    autocast_bf16: bool = False,
    dtype: torch.dtype = torch.float32,
    backend: str = "auto",
    chunk_size: int | None = None,
    eval_batch_size: int = 1000,
    progress: bool = False,
    build: Callable[[], nn.Module] | None = None,
) -> EnsembleResult:
    """Train one fresh ``create_model(model_name, ...)`` per member, together, and test each.

    Args:
        model_name: A registered model (``bench.models.available_models()``).
        num_classes, image_size: Passed to ``create_model``; images must be ``image_size`` square.
        members: At least one; all with the same train and test shapes.
        train_labels, test_labels: ``int64`` (N,) and (M,), shared by all members.
        recipe: Epochs, batch size, learning rate; each member is seeded by its own ``seed``,
            as ``make_train_and_evaluate`` does.
        device: Where to train.
        autocast_bf16: Run forward passes under ``torch.autocast(bfloat16)`` (parameters and Adam
            stay in ``dtype``). Off by default: the sequential path has no autocast.
        dtype: Parameter and input dtype (float64 for the equality tests).
        backend: "auto" (grouped convolutions for PaperCNN, vmap otherwise), "grouped" or "vmap".
        chunk_size: Members trained at once; None: all on the CPU, what fits on CUDA.
        eval_batch_size: Test images per member per evaluation step.
        progress: One progress bar per chunk.
        build: Builds one member's model (called after seeding, as ``create_model`` is); None:
            ``create_model(model_name, num_classes, image_size)``. E.g. a one-channel
            ``PaperCNN`` for the leakage control's masks.

    Returns:
        :class:`EnsembleResult`.
    """
    start = time.perf_counter()
    members = list(members)
    check_members(members, train_labels, test_labels, image_size)
    if eval_batch_size < 1:
        raise ValueError(f"eval_batch_size must be >= 1, got {eval_batch_size}")
    device = torch.device(device)
    if build is None:
        build = functools.partial(create_model, model_name, num_classes, image_size)
    size = chunk_size
    if size is None and device.type != "cuda":
        size = len(members)
    elif size is None:
        template = build()
        first = members[0]
        shapes = (first.train_images.shape, first.test_images.shape)
        size = min(len(members), cuda_chunk_size(template, *shapes, recipe.batch_size, device))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
    setup = _Setup(build, recipe, device, dtype, autocast_bf16)
    correct: list[torch.Tensor] = []
    losses: list[list[float]] = []
    states: list[dict[str, torch.Tensor]] = []
    resolved = ""
    for first in range(0, len(members), size):
        chunk = members[first : first + size]
        out = _train_chunk(
            setup, chunk, train_labels, test_labels, backend, eval_batch_size, progress
        )
        correct += out[0]
        losses += out[1]
        states += out[2]
        resolved = out[3]
    accuracies = [float(c.double().mean()) for c in correct]
    return EnsembleResult(
        accuracies, losses, states, resolved, time.perf_counter() - start, correct
    )


def make_ensemble_train_and_evaluate(
    model_name: str,
    recipe: TrainRecipe,
    num_classes: int,
    image_size: int,
    device: str | torch.device = "cpu",
    *,
    autocast_bf16: bool = False,
    backend: str = "auto",
    chunk_size: int | None = None,
    per_image: bool = False,
    dtype: torch.dtype = torch.float32,
    build: Callable[[], nn.Module] | None = None,
) -> BatchTrainAndEvaluate:
    """The batched counterpart of :func:`bench.training.make_train_and_evaluate`.

    The returned callable takes cells ``(train_x, train_y, test_x, test_y, seed)`` that share
    their labels (as the cells of one ROAR/KAR grid do) and returns their test accuracies in the
    cells' order (``per_image``: their bool (M,) per-test-image correctness instead, as
    :func:`bench.cells.make_cell_trainer` does), training them with :func:`train_ensemble`
    (``dtype``, ``build``: as there).
    """
    create_model(model_name, num_classes, image_size)  # fail now on an unknown name, not per batch

    def train_and_evaluate_many(cells: Sequence[Cell]) -> list[float] | list[torch.Tensor]:
        cells = list(cells)
        if not cells:
            return []
        train_y, test_y = cells[0][1], cells[0][3]
        for index, cell in enumerate(cells):
            if not (same_tensor(cell[1], train_y) and same_tensor(cell[3], test_y)):
                raise ValueError(
                    f"cells must share their labels; cell {index} has other train_y or test_y"
                )
        members = [EnsembleMember(c[0], c[2], int(c[4])) for c in cells]
        result = train_ensemble(
            model_name, num_classes, image_size, members, train_y, test_y, recipe,
            device=device, autocast_bf16=autocast_bf16, backend=backend, chunk_size=chunk_size,
            dtype=dtype, build=build,
        )  # fmt: skip
        return result.correct if per_image else result.accuracies

    return train_and_evaluate_many


# --- one chunk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    build: Callable[[], nn.Module]
    recipe: TrainRecipe
    device: torch.device
    dtype: torch.dtype
    autocast_bf16: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.autocast_bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)


def _train_chunk(
    setup: _Setup,
    members: list[EnsembleMember],
    train_labels: torch.Tensor,
    test_labels: torch.Tensor,
    backend: str,
    eval_batch_size: int,
    progress: bool,
) -> tuple[list[torch.Tensor], list[list[float]], list[dict[str, torch.Tensor]], str]:
    models = [_fresh_model(setup, m.seed) for m in members]
    params, buffers = stack_models(models, setup.device, setup.dtype)
    forward, resolved = make_forward(models[0], buffers, backend)
    train_x = _stage([m.train_images for m in members], setup.device)
    losses = _fit(
        setup, forward, params, train_x, train_labels, [m.seed for m in members], progress
    )
    del train_x
    test_x = _stage([m.test_images for m in members], setup.device)
    correct = _evaluate(setup, forward, params, test_x, test_labels, eval_batch_size)
    keys = list(models[0].state_dict().keys())
    states = [
        {key: _member_value(params, buffers, key, k) for key in keys} for k in range(len(members))
    ]
    return correct, losses, states, resolved


def _fit(
    setup: _Setup,
    forward: EnsembleForward,
    params: dict[str, torch.Tensor],
    train_x: torch.Tensor,
    labels: torch.Tensor,
    seeds: list[int],
    progress: bool,
) -> list[list[float]]:
    recipe, device = setup.recipe, setup.device
    k, n = train_x.shape[:2]
    y_all = labels.to(device)
    rows = torch.arange(k, device=device).unsqueeze(1)
    optimizer = torch.optim.Adam(list(params.values()), lr=recipe.lr)
    shuffles = [torch.Generator().manual_seed(seed) for seed in seeds]
    steps = -(-n // recipe.batch_size)
    history: list[torch.Tensor] = []
    with progress_bar(total=recipe.epochs * steps, enabled=progress, echo=print,
                      desc=f"ensemble x{k}", leave=False) as bar:
        for _ in range(recipe.epochs):
            orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(device)
            total = torch.zeros(k, device=device, dtype=torch.float64)
            for batch in orders.split(recipe.batch_size, dim=1):  # (K, B)
                images = _model_input(train_x[rows, batch], setup.dtype)
                with setup.autocast():
                    logits = forward(params, images, True)
                per_member = (
                    F.cross_entropy(logits.flatten(0, 1), y_all[batch].flatten(), reduction="none")
                    .view(k, -1)
                    .mean(1)
                )
                optimizer.zero_grad(set_to_none=True)
                per_member.sum().backward()
                optimizer.step()
                total += per_member.detach().double() * batch.shape[1]
                bar.update()
            history.append(total / n)
    return torch.stack(history, dim=1).cpu().tolist() if history else [[] for _ in seeds]


@torch.no_grad()
def _evaluate(
    setup: _Setup,
    forward: EnsembleForward,
    params: dict[str, torch.Tensor],
    test_x: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
) -> list[torch.Tensor]:
    """Per member, bool (M,) on the CPU: the prediction equals the label."""
    k, m = test_x.shape[:2]
    y_all = labels.to(setup.device)
    correct = torch.zeros(k, m, dtype=torch.bool, device=setup.device)
    for start in range(0, m, batch_size):
        images = _model_input(test_x[:, start : start + batch_size], setup.dtype)
        with setup.autocast():
            logits = forward(params, images, False)
        correct[:, start : start + batch_size] = logits.argmax(-1) == y_all[start : start + batch_size]
    return list(correct.cpu().unbind(0))


# --- helpers --------------------------------------------------------------------------------------


def _fresh_model(setup: _Setup, seed: int) -> nn.Module:
    # The sequential path's initialisation (bench.training._fresh_model), caller's RNG restored.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return setup.build()


def _stage(images: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """``uint8`` (K, N, H, W, C) on ``device`` from K tensors (N, C, H, W)."""
    n, c, h, w = images[0].shape
    out = torch.empty((len(images), n, h, w, c), dtype=torch.uint8, device=device)
    for k, member in enumerate(images):
        out[k].copy_(member.to(device).permute(0, 2, 3, 1))
    return out


def _model_input(batch: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(K, B, H, W, C) ``uint8`` -> (K, B, C, H, W) floats in [-1, 1] (channels-last strides).

    Scaled in float32 first, as ``to_model_input`` does for the sequential path, then cast."""
    x = to_model_input(batch.permute(0, 1, 4, 2, 3))
    return x if dtype == torch.float32 else x.to(dtype)


def _member_value(
    params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], key: str, k: int
) -> torch.Tensor:
    source = params if key in params else buffers
    return source[key][k].detach().cpu().clone()
