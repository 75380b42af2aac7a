"""The paper's random-patch variant (Figure 7, training-data occlusion).

One fixed patch of uniform random integers (seeded once) is pasted at the top-left corner of every
train and test image; a model trained on that data should learn to ignore it, so a good attribution
method puts little mass there.
"""

from __future__ import annotations

import torch

__all__ = ["make_patch", "add_patch"]


def make_patch(seed: int, size: int = 10, channels: int = 3) -> torch.Tensor:
    """A seeded patch of uniform integers 0..255.

    Args:
        seed: Seed of the patch's own ``torch.Generator`` (the global RNG is untouched).
        size: Side in pixels (paper: 10).
        channels: Number of channels (3 for RGB).

    Returns:
        ``uint8`` tensor (channels, size, size).
    """
    if size < 1 or channels < 1:
        raise ValueError(f"size and channels must be >= 1, got size={size}, channels={channels}")
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 256, (channels, size, size), generator=generator, dtype=torch.uint8)


def add_patch(
    images: torch.Tensor, patch: torch.Tensor, top: int = 0, left: int = 0
) -> torch.Tensor:
    """Paste ``patch`` into every image at (``top``, ``left``); the input is left untouched.

    Args:
        images: ``uint8`` (N, C, H, W).
        patch: ``uint8`` (C, h, w) with the same C; must fit inside the images at that position.
        top: Row of the patch's top edge, in pixels (paper: 0).
        left: Column of the patch's left edge, in pixels (paper: 0).

    Returns:
        A new ``uint8`` (N, C, H, W) tensor.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
    if not isinstance(patch, torch.Tensor) or patch.dtype != torch.uint8 or patch.dim() != 3:
        raise ValueError(
            "patch must be a uint8 tensor of shape (C, h, w); make one with make_patch"
        )
    _, channels, height, width = images.shape
    if patch.shape[0] != channels:
        raise ValueError(f"patch has {patch.shape[0]} channels but images have {channels}")
    h, w = patch.shape[1:]
    if top < 0 or left < 0 or top + h > height or left + w > width:
        raise ValueError(
            f"a {h}x{w} patch at top={top}, left={left} does not fit in {height}x{width} images"
        )
    out = images.clone()
    out[:, :, top : top + h, left : left + w] = patch.to(images.device)
    return out
