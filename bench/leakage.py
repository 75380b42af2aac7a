"""Class leakage of ROAR/KAR occlusion masks: how well the *positions* of the removed pixels
alone predict the class.

ROAR retrains on occluded images, and a retrained model can read the class from the shape of what
was removed instead of from what is left (Rong et al., "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022, section 3; their ``experiments/cifar10/
mask_leakage.py``). PROTOCOL.md measured, at f = 0.5 on CIFAR-10: 0.63 test accuracy from
Deconvolution's masks, 0.30 from Gradient * Input's, 0.10 (chance) from Random's. A method whose
masks leak can score well in ROAR/KAR without its maps being faithful.

The control trains the paper's CNN, with one input channel, on the binary removal mask of each
image (no pixel values), with the ROAR/KAR recipe and the class labels, and reports its test
accuracy. Lower is better (chance = 1 / classes): the mask carries no class information.
The mask enters as ``uint8`` 0 (kept) / 255 (removed), so that the recipe's own input scaling
(``x / 127.5 - 1``) feeds the model -1 / +1.
"""

from __future__ import annotations

import torch

from bench.models import PaperCNN
from bench.training import TrainRecipe, evaluate_accuracy, train_tensors
from metrics.occlusion import top_fraction_mask
from metrics.roar_kar import cell_generator

__all__ = ["mask_leakage_accuracy", "occlusion_masks", "leakage_accuracy"]


def mask_leakage_accuracy(
    train_removed: torch.Tensor,
    train_labels: torch.Tensor,
    test_removed: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    num_classes: int,
    recipe: TrainRecipe,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> float:
    """Test accuracy of a fresh ``PaperCNN(num_classes, in_channels=1)`` trained on masks alone.

    Args:
        train_removed, test_removed: bool (N, S, S), True where a pixel is removed; S divisible
            by 4.
        train_labels, test_labels: int64 (N,) class of each image.
        num_classes: Output classes (chance accuracy is about ``1 / num_classes``).
        recipe: The ROAR/KAR retraining recipe.
        seed: Seeds the initialisation (``torch.manual_seed``; the caller's RNG state is
            restored) and the shuffle, as :func:`bench.training.make_train_and_evaluate` does.
        device: Where to train.
        progress: Show the training progress bar.

    Returns:
        Accuracy in [0, 1] on the test masks; lower is better (less leakage).
    """
    size = _check_masks(train_removed, "train_removed")
    if _check_masks(test_removed, "test_removed") != size:
        raise ValueError(
            f"test_removed must have the train masks' size {size}x{size}, "
            f"got {tuple(test_removed.shape[1:])}"
        )
    if size % 4:
        raise ValueError(f"masks must be S x S with S divisible by 4 (PaperCNN), got S = {size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = PaperCNN(num_classes=num_classes, in_channels=1, image_size=size)
    train_tensors(
        model, _as_images(train_removed), train_labels, recipe, int(seed), device=device,
        progress=progress,
    )
    return evaluate_accuracy(model, _as_images(test_removed), test_labels, device=device)


def occlusion_masks(
    maps: torch.Tensor | None,
    fraction: float,
    seed: int,
    split: str,
    *,
    keep: bool = False,
    shape: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    """The removed pixels of a ROAR/KAR cell, exactly as ``metrics.roar_kar`` occludes them.

    Args:
        maps: float (N, H, W) ranking maps, or None for the Random baseline (then ``shape``).
        fraction: The cell's fraction in [0, 1].
        seed: The cell's seed; with ``fraction`` and ``split`` it seeds the tie-break
            (``metrics.roar_kar.cell_generator``).
        split: "train" or "test".
        keep: False for ROAR (the top ``fraction`` is removed), True for KAR (the rest is).
        shape: (N, H, W), needed when ``maps`` is None.

    Returns:
        bool (N, H, W), True where the cell's occlusion replaces the pixel.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if maps is None:
        if shape is None or len(shape) != 3:
            raise ValueError("shape (N, H, W) is needed when maps is None (the Random baseline)")
        # random_occlude ranks all-zero scores with the same tie-break: the same pixels.
        maps = torch.zeros(shape)
    top = top_fraction_mask(maps, fraction, cell_generator(fraction, seed, split))
    return ~top if keep else top


def leakage_accuracy(
    train_maps: torch.Tensor | None,
    train_labels: torch.Tensor,
    test_maps: torch.Tensor | None,
    test_labels: torch.Tensor,
    fraction: float,
    *,
    num_classes: int,
    recipe: TrainRecipe,
    seed: int,
    keep: bool = False,
    image_size: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> float:
    """Mask-only accuracy of one method at one ROAR (``keep=False``) or KAR fraction.

    The masks are those of the ROAR/KAR cell (``fraction``, ``seed``): :func:`occlusion_masks`.
    For the Random baseline pass ``train_maps = test_maps = None`` and ``image_size``.
    Lower is better (chance = 1 / num_classes). See :func:`mask_leakage_accuracy`.
    """
    if (train_maps is None) != (test_maps is None):
        raise ValueError("train_maps and test_maps must both be tensors, or both None (Random)")
    shapes: list[tuple[int, int, int] | None] = [None, None]
    if train_maps is None:
        if image_size is None:
            raise ValueError("image_size is needed when the maps are None (the Random baseline)")
        shapes = [
            (train_labels.shape[0], image_size, image_size),
            (test_labels.shape[0], image_size, image_size),
        ]
    train_removed = occlusion_masks(train_maps, fraction, seed, "train", keep=keep, shape=shapes[0])
    test_removed = occlusion_masks(test_maps, fraction, seed, "test", keep=keep, shape=shapes[1])
    return mask_leakage_accuracy(
        train_removed, train_labels, test_removed, test_labels,
        num_classes=num_classes, recipe=recipe, seed=seed, device=device, progress=progress,
    )  # fmt: skip


def _check_masks(masks: object, name: str) -> int:
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool or masks.dim() != 3:
        raise ValueError(f"{name} must be a bool tensor of shape (N, S, S)")
    if masks.shape[0] == 0 or masks.shape[1] != masks.shape[2]:
        raise ValueError(f"{name} must be non-empty and square, got {tuple(masks.shape)}")
    return int(masks.shape[1])


def _as_images(removed: torch.Tensor) -> torch.Tensor:
    """bool (N, H, W) -> uint8 (N, 1, H, W): 255 where removed, 0 where kept."""
    return removed.unsqueeze(1).to(torch.uint8) * 255
