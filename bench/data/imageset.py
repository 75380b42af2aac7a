"""The in-memory image set every data source returns, and the paper's input scaling.

Images stay ``uint8`` (N, C, H, W) in memory (4x smaller than float32, and exact); models see
``to_model_input(images)`` = ``images / 127.5 - 1`` in [-1, 1], computed batch by batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

__all__ = ["ImageSet", "to_model_input", "class_balanced_order", "CIFAR10_CLASSES"]

#: CIFAR-10 class names in label order (0 = airplane ... 9 = truck).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """The paper's input scaling: ``uint8`` images -> ``float32`` in [-1, 1].

    Args:
        images: ``uint8`` tensor of any shape (usually (N, C, H, W)), values 0..255.

    Returns:
        ``float32`` tensor of the same shape and device, ``images / 127.5 - 1``.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 tensor (values 0..255), got {got}")
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def class_balanced_order(
    labels: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A permutation of 0..N-1 in which the classes take turns: the first image of each class (in
    class order), then the second of each, and so on, so that every prefix is as balanced as the
    classes allow. Within a class, images keep their order, or a random one drawn from
    ``generator``.

    Args:
        labels: ``int64`` (N,) class labels in ``0..num_classes-1``.
        num_classes: Number of classes.
        generator: Seeded generator for the order within each class; None keeps the set order.

    Returns:
        ``int64`` (N,) positions.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if generator is not None:
        shuffle = torch.randperm(len(labels), generator=generator)
        return shuffle[class_balanced_order(labels[shuffle], num_classes)]
    onehot = torch.nn.functional.one_hot(labels, num_classes)
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1  # 0 for a class's first image, 1 for its second
    return torch.argsort(rank * num_classes + labels, stable=True)


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Labelled images held as ``uint8`` tensors, with optional exact foreground masks.

    Attributes:
        images: ``uint8`` (N, C, H, W), values 0..255, RGB channel order for colour images.
        labels: ``int64`` (N,), values in ``0 .. len(classes) - 1``.
        classes: Class names in label order.
        masks: ``bool`` (N, H, W) foreground masks (True = object), or None.
        names: Optional per-image identifiers (N,) such as ``"cat_12"``; None when the images have
            no names of their own.

    The set is immutable; ``subset`` and ``shuffled`` return new sets. Data sources may return
    images grouped by class (the CIFAR-10 JPEG tree does): call ``shuffled(seed)`` before taking a
    prefix with ``subset``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    masks: torch.Tensor | None = None
    names: tuple[str, ...] | None = None
    _fingerprint: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        images, labels, masks = self.images, self.labels, self.masks
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                "images must be a uint8 tensor of shape (N, C, H, W), got "
                f"{_describe(images)}; convert with (x * 255).round().to(torch.uint8) if needed"
            )
        n = images.shape[0]
        if (
            not isinstance(labels, torch.Tensor)
            or labels.dtype != torch.int64
            or labels.shape != (n,)
        ):
            raise ValueError(
                f"labels must be an int64 tensor of shape ({n},) to match images, got {_describe(labels)}"
            )
        if not isinstance(self.classes, tuple) or not self.classes:
            raise ValueError(f"classes must be a non-empty tuple of names, got {self.classes!r}")
        if not all(isinstance(c, str) for c in self.classes):
            raise ValueError(f"classes must hold strings, got {self.classes!r}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= len(self.classes)):
            raise ValueError(
                f"labels must lie in 0..{len(self.classes) - 1} (one per class name), "
                f"got values {int(labels.min())}..{int(labels.max())}"
            )
        if masks is not None:
            expected = (n, images.shape[2], images.shape[3])
            if (
                not isinstance(masks, torch.Tensor)
                or masks.dtype != torch.bool
                or masks.shape != expected
            ):
                raise ValueError(
                    f"masks must be a bool tensor of shape {expected} (N, H, W) or None, "
                    f"got {_describe(masks)}"
                )
        if self.names is not None and (not isinstance(self.names, tuple) or len(self.names) != n):
            raise ValueError(
                f"names must be a tuple of {n} strings or None, got {type(self.names).__name__}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(classes)``)."""
        return len(self.classes)

    @property
    def image_size(self) -> int:
        """Image height (= width for square images), in pixels."""
        return int(self.images.shape[2])

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageSet:
        """The images at ``indices`` (1-D integers, any order, repeats allowed), as a new set."""
        index = torch.as_tensor(indices, dtype=torch.int64)
        if index.dim() != 1:
            raise ValueError(f"indices must be 1-D integers, got shape {tuple(index.shape)}")
        n = len(self)
        if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
            raise ValueError(
                f"indices must lie in 0..{n - 1}, got {int(index.min())}..{int(index.max())}"
            )
        names = None if self.names is None else tuple(self.names[i] for i in index.tolist())
        return replace(
            self,
            images=self.images[index],
            labels=self.labels[index],
            masks=None if self.masks is None else self.masks[index],
            names=names,
        )

    def shuffled(self, seed: int) -> ImageSet:
        """All images in a seeded random order (``torch.randperm`` with its own generator)."""
        generator = torch.Generator().manual_seed(int(seed))
        return self.subset(torch.randperm(len(self), generator=generator))

    def head(self, n: int, *, seed: int | None = None) -> ImageSet:
        """The first ``n`` images (all of them when ``n`` is 0 or >= N), after ``shuffled(seed)``
        when ``seed`` is given. Use a seed on class-ordered sources such as the CIFAR-10 JPEG tree."""
        if n < 0:
            raise ValueError(f"n must be >= 0 (0 = all), got {n}")
        source = self if seed is None else self.shuffled(seed)
        if n == 0 or n >= len(source):
            return source
        return source.subset(torch.arange(n))

    def stratified(self, n: int, seed: int) -> ImageSet:
        """``n`` images (all when ``n`` is 0 or >= N) in a seeded class-balanced order
        (:func:`class_balanced_order`): a random subset with the classes as equal as they allow,
        whose every prefix is balanced too. Use it on class-ordered sources."""
        if n < 0:
            raise ValueError(f"n must be >= 0 (0 = all), got {n}")
        generator = torch.Generator().manual_seed(int(seed))
        order = class_balanced_order(self.labels, self.num_classes, generator)
        return self.subset(order if n == 0 or n >= len(self) else order[:n])

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the content: shapes, class names, image, label and mask bytes.

        Computed once and cached (the set is immutable). Used as the data part of cache keys.
        """
        if not self._fingerprint:
            digest = hashlib.sha256()
            header = f"{tuple(self.images.shape)}|{self.classes}|masks={self.masks is not None}"
            digest.update(header.encode())
            for tensor in (self.images, self.labels, self.masks):
                if tensor is not None:
                    digest.update(memoryview(tensor.detach().cpu().contiguous().numpy()).cast("B"))
            self._fingerprint.append(digest.hexdigest())
        return self._fingerprint[0]


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
