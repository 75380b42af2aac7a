"""Input checks of the ensemble trainer (:mod:`bench.ensemble`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from bench.ensemble import EnsembleMember

__all__ = ["check_members", "same_tensor"]


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two label tensors are the same object or hold the same values."""
    return a is b or (a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu())))


def check_members(
    members: list[EnsembleMember],
    train_labels: torch.Tensor,
    test_labels: torch.Tensor,
    image_size: int,
) -> None:
    if not members:
        raise ValueError("members must hold at least one EnsembleMember")
    first = members[0]
    for name in ("train_images", "test_images"):
        shape = getattr(first, name).shape
        for index, member in enumerate(members):
            images = getattr(member, name)
            if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
                raise ValueError(f"members[{index}].{name} must be a uint8 tensor (N, C, H, W)")
            if images.dim() != 4 or images.shape != shape or images.shape[0] == 0:
                raise ValueError(
                    f"members[{index}].{name} must be non-empty and shaped like members[0]'s "
                    f"{tuple(shape)}, got {tuple(images.shape)}"
                )
        if tuple(shape[2:]) != (image_size, image_size):
            raise ValueError(f"{name} must be {image_size}x{image_size}, got {tuple(shape[2:])}")
    for name, labels, count in (
        ("train_labels", train_labels, first.train_images.shape[0]),
        ("test_labels", test_labels, first.test_images.shape[0]),
    ):
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 tensor of shape ({count},)")
        if tuple(labels.shape) != (count,):
            raise ValueError(f"{name} must have shape ({count},), got {tuple(labels.shape)}")
    for index, member in enumerate(members):
        if isinstance(member.seed, bool) or not isinstance(member.seed, int) or member.seed < 0:
            raise ValueError(f"members[{index}].seed must be an integer >= 0, got {member.seed!r}")
