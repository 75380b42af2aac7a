"""Decoding image files (bytes or paths) into one ``uint8`` (N, C, H, W) tensor with Pillow, with
torchvision's ``Resize(int)`` and ``CenterCrop`` geometry on the way (:func:`fit_image`)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_SUFFIXES", "decode_image", "fit_image", "fitted_size", "image_size",
           "stack_images"]

#: File name endings read as images (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


def decode_image(
    source: bytes | Path, name: str, mode: str = "RGB", *, resize: int = 0, crop: int = 0,
    nearest: bool = False,
) -> np.ndarray:
    """One image file as a ``uint8`` array: (H, W, 3) for ``mode="RGB"``, (H, W) for ``"L"``.

    Args:
        source: The file's bytes, or its path.
        name: The file's name, for error messages.
        mode: Pillow mode to convert to.
        resize, crop: See :func:`fit_image` (0 = keep the size).
        nearest: Resize with nearest-neighbour sampling (masks) instead of bilinear.

    Raises:
        ValueError: the file is not a readable image (corrupt or foreign), or smaller than
            ``crop`` after resizing, naming it.
    """
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        with Image.open(handle) as image:
            converted = image.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"cannot decode image {name}: {exc}. The file is corrupt or not an image; "
            "extract or download the data set again"
        ) from exc
    return np.asarray(fit_image(converted, name, resize, crop, nearest), dtype=np.uint8)


def fit_image(
    image: Image.Image, name: str, resize: int = 0, crop: int = 0, nearest: bool = False
) -> Image.Image:
    """torchvision's ``Resize(resize)`` then ``CenterCrop(crop)`` on a Pillow image.

    ``resize``: scale so that the shorter side has ``resize`` pixels (the longer side
    ``int(resize * long / short)``), bilinear with Pillow's antialiasing, or nearest-neighbour.
    ``crop``: the centred ``crop`` x ``crop`` square (top ``round((H - crop) / 2)``). 0 skips a step.

    Raises:
        ValueError: the image is smaller than ``crop`` (after resizing), naming it.
    """
    if resize:
        size = fitted_size(image.size, resize)
        if size != image.size:
            image = image.resize(size, Image.Resampling.NEAREST if nearest
                                 else Image.Resampling.BILINEAR)
    if crop:
        w, h = image.size
        if crop > w or crop > h:
            raise ValueError(f"image {name} is {w}x{h} px, smaller than data.crop = {crop}; set "
                             f"data.resize >= {crop} or a smaller crop")
        left, top = int(round((w - crop) / 2.0)), int(round((h - crop) / 2.0))
        image = image.crop((left, top, left + crop, top + crop))
    return image


def fitted_size(size: tuple[int, int], resize: int = 0, crop: int = 0) -> tuple[int, int]:
    """``(width, height)`` of an image of ``size`` after :func:`fit_image` (crop assumed to fit)."""
    if crop:
        return crop, crop
    if not resize:
        return size
    w, h = size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(resize * long / short)
    return (resize, new_long) if w <= h else (new_long, resize)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file, from its header only.

    Raises:
        ValueError: the file is not a readable image, naming it.
    """
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}. The file is corrupt or not an "
                         "image") from exc


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
