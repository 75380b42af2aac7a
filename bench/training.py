"""Training and evaluating classifiers with the paper's recipe, and caching trained models.

The recipe (PROTOCOL.md, appendix F.2): Adam (default betas, lr 1e-3), batch 100, 20 epochs,
cross-entropy, inputs ``images / 127.5 - 1`` (the model's declared input scaling:
``bench.models.input_transform``), no augmentation. Images stay ``uint8`` in memory and
each batch is converted on the fly. The data are shuffled every epoch with a seeded
``torch.Generator`` (the paper fed the official release in its file order, which is already random;
the CIFAR-10 JPEG tree is grouped by class, so a shuffle is needed).

Determinism: one seed per trained model fixes its initialisation (``torch.manual_seed(seed)``
before ``create_model``), the per-epoch shuffle and any random layers (dropout); on the CPU two
runs with the same seed give bit-identical weights. :func:`train_or_load` is the one way a model is
built, trained, scored and cached; :func:`make_train_and_evaluate` wraps it for ROAR/KAR.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.config import TrainRecipe
from bench.data import to_model_input
from bench.data.transform import PAPER_INPUT
from bench.hashing import tensor_digest
from bench.model_cache import TRAINING_VERSION, ModelCache
from bench.models import create_model, input_transform
from bench.progress import progress_bar
from metrics.roar_kar import TrainAndEvaluate

__all__ = [
    "TrainRecipe",
    "TrainResult",
    "train_tensors",
    "predict",
    "evaluate_accuracy",
    "make_train_and_evaluate",
    "ModelCache",
    "TRAINING_VERSION",
    "train_or_load",
    "TrainAndEvaluate",
]


#: ``uint8`` images -> model input; the model's own comes from ``bench.models.input_transform``.
Transform = Callable[[torch.Tensor], torch.Tensor]

@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes:
        model: The trained model, in eval mode, on the training device.
        epoch_losses: Mean training cross-entropy of each epoch (per image), length ``epochs``.
        seconds: Wall time of the training loop.
    """

    model: nn.Module
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_tensors(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    recipe: TrainRecipe,
    seed: int,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    autocast_bf16: bool = False,
    transform: Transform = to_model_input,
) -> TrainResult:
    """Train ``model`` in place on ``uint8`` images with Adam and cross-entropy.

    Runs at the rate of a plain loop (benchmarks/training_ratio.py): the model and every batch are
    channels-last, the layout convolutions run fastest in (oneDNN and cuDNN alike); Adam is the
    fused single-kernel one where torch has it; nothing waits for the device per step (the loss
    is summed on the device and read once per epoch, the progress bar moves once per epoch); on
    CUDA, cuDNN may pick its fastest algorithms (``cudnn.benchmark``, restored afterwards).

    Args:
        model: Any classifier taking (B, C, H, W) floats in [-1, 1] and returning logits (B, K).
            Moved to ``device``; handed back in the default (contiguous) memory format.
        images: ``uint8`` (N, C, H, W); kept as ``uint8`` (moved once to ``device``), each batch
            converted with :func:`bench.data.to_model_input`.
        labels: ``int64`` (N,).
        recipe: Epochs, batch size, learning rate.
        seed: Seed of the per-epoch shuffle and of random layers (dropout) during training.
        device: Where to train ("cpu", "cuda", ...).
        progress: Show one progress bar over the epochs (with ETA) and the last epoch's loss.
        autocast_bf16: Run forward and loss under ``torch.autocast`` in bfloat16 (faster on
            GPUs with bfloat16 units; results are no longer float32's). Default: False.
        transform: ``uint8`` batch -> model input (default the paper's scaling).

    Returns:
        :class:`TrainResult` with the model in eval mode. On the CPU, the same seeds give
        bit-identical weights and losses.
    """
    _check_images_labels(images, labels, "images", "labels")
    n = images.shape[0]
    if n == 0:
        raise ValueError("cannot train on an empty set: images has 0 rows")
    device = torch.device(device)
    model.to(device=device, memory_format=torch.channels_last).train()
    x_all = images.to(device).contiguous(memory_format=torch.channels_last)
    y_all = labels.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, fused=_fused_adam(model))
    shuffle = torch.Generator().manual_seed(int(seed))
    losses: list[float] = []
    start = time.perf_counter()
    with (
        _seeded(int(seed), device),
        _cudnn_benchmark(device),
        progress_bar(total=recipe.epochs, enabled=progress, echo=print, desc="train") as bar,
    ):
        for _ in range(recipe.epochs):
            order = torch.randperm(n, generator=shuffle).to(device)
            total = torch.zeros((), device=device)
            for batch in order.split(recipe.batch_size):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast_bf16):
                    logits = model(transform(x_all[batch]))
                    loss = F.cross_entropy(logits, y_all[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * batch.numel()
            losses.append(float(total) / n)  # the one read of the device per epoch
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.to(memory_format=torch.contiguous_format).eval()
    return TrainResult(model=model, epoch_losses=losses, seconds=time.perf_counter() - start)


def _fused_adam(model: nn.Module) -> bool | None:
    """``fused=True`` for Adam when every parameter is a float tensor on a device torch fuses
    Adam for (one kernel per step instead of about ten small ones per parameter), else None."""
    params = list(model.parameters())
    fusable = ("cpu", "cuda")
    return True if params and all(
        p.is_floating_point() and p.device.type in fusable for p in params
    ) else None


@contextmanager
def _cudnn_benchmark(device: torch.device) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark = True`` inside the block on CUDA; restored after."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@torch.no_grad()  # not inference_mode: predictions are used as attribution targets under autograd
def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 500,
    progress: bool = False,
    transform: Transform = to_model_input,
) -> torch.Tensor:
    """Predicted labels (argmax of the logits) of ``uint8`` (N, C, H, W) images, as ``int64`` (N,)
    on the CPU. The model runs in eval mode (its previous mode is restored) on ``device`` and sees
    ``transform(images)`` (default the paper's scaling)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    try:
        out = [
            model(transform(chunk.to(device))).argmax(1).cpu()
            for chunk in progress_bar(images.split(batch_size), enabled=progress, echo=print,
                                      desc="predict", leave=False)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def evaluate_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 500,
    transform: Transform = to_model_input,
) -> float:
    """Fraction of ``uint8`` images whose predicted label equals ``labels``, in [0, 1]."""
    _check_images_labels(images, labels, "images", "labels")
    if images.shape[0] == 0:
        raise ValueError("cannot measure accuracy on an empty set: images has 0 rows")
    predicted = predict(model, images, device=device, batch_size=batch_size, transform=transform)
    return float((predicted == labels.cpu()).double().mean())


def make_train_and_evaluate(
    model_name: str,
    recipe: TrainRecipe,
    num_classes: int,
    image_size: int,
    device: str | torch.device = "cpu",
    *,
    progress: bool = False,
) -> TrainAndEvaluate:
    """A retraining callable for ROAR/KAR: ``(train_x, train_y, test_x, test_y, seed) -> accuracy``.

    Each call is :func:`train_or_load` without a cache: a fresh model seeded by ``seed``, trained
    with ``recipe`` on the ``uint8`` tensors, scored on the test tensors (accuracy in [0, 1]).
    """
    create_model(model_name, num_classes, image_size)  # fail now on an unknown name, not per cell

    def train_and_evaluate(
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        test_x: torch.Tensor,
        test_y: torch.Tensor,
        seed: int,
    ) -> float:
        _, info = train_or_load(
            None, model_name, train_x, train_y, test_x, test_y, recipe, int(seed),
            num_classes=num_classes, device=device, progress=progress,
        )
        return float(info["test_accuracy"])

    return train_and_evaluate


def train_or_load(
    cache: ModelCache | None,
    model_name: str,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    recipe: TrainRecipe,
    seed: int,
    *,
    num_classes: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """A model trained on ``(train_x, train_y)`` and scored on ``(test_x, test_y)``, from
    ``cache`` when it is already there.

    ``seed`` seeds the initialisation (``torch.manual_seed`` before
    ``bench.models.create_model(model_name, num_classes, image_size)``; the global RNG state is
    restored afterwards) and the shuffle. Images are ``uint8`` (N, C, H, W), labels ``int64`` (N,);
    the model sees them through its declared ``bench.models.input_transform(model_name)``.

    Returns:
        ``(model, info)``: the model in eval mode on ``device``; ``info`` with ``epoch_losses``,
        ``seconds``, ``test_accuracy``, ``model``, ``recipe``, ``seed``, ``cached`` (True when
        loaded, not trained) and ``cache_key`` (the model's key in ``cache``; None without a cache),
        which identifies the trained model (e.g. for caching its attribution maps).
    """
    _check_images_labels(train_x, train_y, "train_x", "train_y")
    _check_images_labels(test_x, test_y, "test_x", "test_y")
    image_size = int(train_x.shape[-1])
    model = _fresh_model(model_name, num_classes, image_size, int(seed))
    transform = input_transform(model_name)  # the model's declared input scaling
    key = None
    if cache is not None:
        data = tensor_digest(train_x, train_y, test_x, test_y)
        extra: dict[str, Any] = {"num_classes": int(num_classes), "image_size": image_size}
        if transform != PAPER_INPUT:  # paper-scaled models keep their earlier keys
            extra["input"] = transform.describe()
        key = cache.key(data, model_name, recipe, int(seed), extra=extra)
        info = cache.load(key, model)
        if info is not None and "test_accuracy" in info:
            return model.to(device).eval(), {**info, "cached": True, "cache_key": key}
    result = train_tensors(model, train_x, train_y, recipe, int(seed), device=device,
                           progress=progress, transform=transform)
    accuracy = evaluate_accuracy(result.model, test_x, test_y, device=device, transform=transform)
    info = {
        "epoch_losses": list(result.epoch_losses),
        "seconds": float(result.seconds),
        "test_accuracy": float(accuracy),
        "model": model_name,
        "recipe": recipe.to_dict(),
        "seed": int(seed),
    }
    if cache is not None and key is not None:
        cache.save(key, result.model, info)
    return result.model, {**info, "cached": False, "cache_key": key}


# --- helpers --------------------------------------------------------------------------------------


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (dropout etc.) inside the block; restore the caller's state after."""
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _fresh_model(model_name: str, num_classes: int, image_size: int, seed: int) -> nn.Module:
    with _seeded(seed, torch.device("cpu")):
        return create_model(model_name, num_classes, image_size)


def _check_images_labels(
    images: torch.Tensor, labels: torch.Tensor, images_name: str, labels_name: str
) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"{images_name} must be a uint8 tensor of shape (N, C, H, W)")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dtype != torch.int64
        or labels.shape != images.shape[:1]
    ):
        raise ValueError(
            f"{labels_name} must be an int64 tensor of shape ({images.shape[0]},) matching {images_name}"
        )
