"""Object masks as a tree of PNG files parallel to an ImageFolder's ``test/`` split.

Layout: ``<masks>/<class>/<name>.png`` is the mask of ``test/<class>/<name>.<any image suffix>``;
a pixel is object where the mask is non-zero (any mode; converted to gray first). A mask has its
image's size (before ``data.resize`` / ``data.crop``, which are applied to both, the mask with
nearest-neighbour sampling). Test images without a mask are simply not in the masked set; a mask
without its image, or of another size, is an error naming both files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bench.data.decode import decode_image, image_size, stack_images

__all__ = ["is_mask_tree", "pair_mask_tree", "decode_masks"]


def is_mask_tree(path: Path) -> bool:
    """Whether ``path`` is a folder of class folders (a PNG mask tree), not the authors' format."""
    return path.is_dir() and any(
        p.is_dir() and not p.name.startswith(".") for p in path.iterdir()
    )


def pair_mask_tree(
    mask_root: Path, test_files: Sequence[tuple[int, Path]], classes: Sequence[str]
) -> list[tuple[int, Path]]:
    """The test images that have a mask: ``(position in test_files, mask file)``, in test order.

    Args:
        mask_root: The mask tree's root (``<class>/<name>.png`` below it).
        test_files: ``(label, image file)`` of the test split, in the loader's order.
        classes: Class names in label order.

    Raises:
        FileNotFoundError: ``mask_root`` is not a folder.
        ValueError: a class folder that the test split lacks, a mask without its image, two
            images of one name, a mask whose size differs from its image's, or no mask at all.
    """
    if not mask_root.is_dir():
        raise FileNotFoundError(f"mask tree {mask_root} is not a folder; give a folder of "
                                "<class>/<name>.png masks")
    by_name: dict[tuple[str, str], int] = {}
    for position, (label, file) in enumerate(test_files):
        key = (classes[label], file.stem)
        if key in by_name:
            other = test_files[by_name[key]][1]
            raise ValueError(f"test images {other} and {file} share the name {file.stem!r}, so a "
                             "mask cannot tell them apart; rename one")
        by_name[key] = position
    pairs: list[tuple[int, Path]] = []
    for folder in sorted(p for p in mask_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in classes:
            raise ValueError(f"mask folder {folder} names no class of the test split "
                             f"({', '.join(classes[:5])}{' ...' if len(classes) > 5 else ''})")
        for mask in sorted(folder.glob("*.png")):
            position = by_name.get((folder.name, mask.stem))
            if position is None:
                raise ValueError(f"mask {mask} has no image test/{folder.name}/{mask.stem}.*; "
                                 "remove it or add the image")
            _check_size(mask, test_files[position][1])
            pairs.append((position, mask))
    if not pairs:
        raise ValueError(f"no <class>/<name>.png masks under {mask_root}")
    return sorted(pairs)


def _check_size(mask: Path, image: Path) -> None:
    mask_size, image_size_ = image_size(mask), image_size(image)
    if mask_size != image_size_:
        raise ValueError(f"mask {mask} is {mask_size[0]}x{mask_size[1]} px but its image {image} "
                         f"is {image_size_[0]}x{image_size_[1]} px; a mask must have its image's size")


def decode_masks(masks: Sequence[Path], *, resize: int = 0, crop: int = 0) -> torch.Tensor:
    """``bool`` (M, H, W) object masks (True where the file is non-zero), resized and cropped as
    the images are (nearest-neighbour)."""
    names = [str(m) for m in masks]
    gray = stack_images(
        (decode_image(m, str(m), mode="L", resize=resize, crop=crop, nearest=True) for m in masks),
        names,
    )
    return gray[:, 0] > 0
