"""Decoding image files (bytes or paths) into one ``uint8`` (N, C, H, W) tensor with Pillow."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_SUFFIXES", "decode_image", "stack_images"]

#: File name endings read as images (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


def decode_image(source: bytes | Path, name: str, mode: str = "RGB") -> np.ndarray:
    """One image file as a ``uint8`` array: (H, W, 3) for ``mode="RGB"``, (H, W) for ``"L"``.

    Args:
        source: The file's bytes, or its path.
        name: The file's name, for error messages.
        mode: Pillow mode to convert to.

    Raises:
        ValueError: the file is not a readable image (corrupt or foreign), naming it.
    """
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with Image.open(handle) as image:
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"cannot decode image {name}: {exc}. The file is corrupt or not an image; "
            "extract or download the data set again"
        ) from exc


def stack_images(arrays: Iterable[np.ndarray], names: list[str]) -> torch.Tensor:
    """Stack decoded (H, W, C) or (H, W) arrays into ``uint8`` (N, C, H, W).

    Raises:
        ValueError: the images do not all have the same size, naming the first odd one.
    """
    arrays = list(arrays)
    if not arrays:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    first = arrays[0].shape
    for array, name in zip(arrays, names, strict=True):
        if array.shape != first:
            raise ValueError(
                f"image {name} has shape {array.shape}, but {names[0]} has {first}; "
                "all images of a data set must have the same size"
            )
    stacked = torch.from_numpy(np.stack(arrays))
    if stacked.dim() == 3:
        return stacked.unsqueeze(1)
    return stacked.permute(0, 3, 1, 2).contiguous()
