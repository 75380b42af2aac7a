"""A user's data set as an ImageFolder tree, with optional object masks.

Layout (torchvision's ImageFolder): ``<root>/test/<class>/<image>`` and, for training or
retraining, ``<root>/train/<class>/<image>``; any image size and format Pillow reads
(:data:`~bench.data.decode.IMAGE_SUFFIXES`). Classes are the test split's folder names, sorted
(torchvision's order; an empty class folder still counts), and ``train/`` must have the same.
``resize`` / ``crop`` (torchvision's ``Resize(int)`` + ``CenterCrop``) bring images of any size to
one; without them every image must have the same size.

Masks (optional): a PNG tree parallel to ``test/`` (:mod:`bench.data.mask_tree`), or a tar or
folder in the RectGrad authors' format (``<class>_<n>.jpg`` + ``<class>_<n>_mask.jpg``,
:func:`~bench.data.masks.load_object_masks`), whose images must have the data's size.

Decoded tensors are cached under ``$RECTBENCH_CACHE/imagefolder`` (checksummed, keyed by every
file's path, size and modification time and by the settings). :func:`folder_digest` identifies
the data by content (the leaderboard tells users' data sets apart by ``<folder>@<digest>``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.data.cache import default_cache_dir, load_cached, save_atomic, source_key
from bench.data.decode import IMAGE_SUFFIXES, decode_image, stack_images
from bench.data.imageset import ImageSet
from bench.data.mask_tree import decode_masks, is_mask_tree, pair_mask_tree
from bench.data.masks import load_object_masks
from bench.progress import progress_bar

__all__ = [
    "FolderData",
    "folder_classes",
    "folder_digest",
    "folder_name",
    "is_image_folder",
    "load_image_folder",
    "read_split",
    "split_files",
    "subfolders",
]


@dataclass(frozen=True)
class FolderData:
    """An ImageFolder data set in memory.

    Attributes:
        train: The ``train/`` images (an empty set when they were not asked for).
        test: The ``test/`` images, in class order then file name order, ``names`` =
            ``"<class>/<file>"``.
        masked: Images with object masks (the test images that have a PNG mask, or the authors'
            masked images), or None without masks.
    """

    train: ImageSet
    test: ImageSet
    masked: ImageSet | None


def subfolders(folder: Path) -> list[str]:
    """Names of the visible subfolders of ``folder``, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_files(split_dir: Path, classes: Sequence[str]) -> list[tuple[int, Path]]:
    """``(label, file)`` for every image of one split folder, in class order then file name."""
    return [
        (label, file)
        for label, name in enumerate(classes)
        if (split_dir / name).is_dir()
        for file in sorted((split_dir / name).iterdir())
        if file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith(".")
    ]


def is_image_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with a ``test/`` split of class folders."""
    test = path / "test"
    return path.is_dir() and test.is_dir() and bool(subfolders(test))


def folder_classes(root: Path) -> tuple[str, ...]:
    """The class names of the tree at ``root`` (its ``test/`` folders, sorted); ``train/``, when
    present, must have the same.

    Raises:
        FileNotFoundError: ``root`` or ``root/test`` is missing.
        ValueError: no class folder, or ``train/`` with other classes.
    """
    test = root / "test"
    if not test.is_dir():
        raise FileNotFoundError(f"{root} is not an ImageFolder tree: {test} is missing (expected "
                                "test/<class>/<image> and, to train, train/<class>/<image>)")
    classes = tuple(subfolders(test))
    if not classes:
        raise ValueError(f"{test} holds no class folders; expected test/<class>/<image>")
    train = root / "train"
    if train.is_dir() and tuple(subfolders(train)) != classes:
        found = set(subfolders(train))
        raise ValueError(f"{train} and {test} must have the same class folders; train/ lacks "
                         f"{sorted(set(classes) - found) or 'none'}, has extra "
                         f"{sorted(found - set(classes)) or 'none'}")
    return classes


def folder_name(root: Path) -> str:
    """The tree's folder name (``.`` resolved)."""
    return Path(root).expanduser().resolve().name or "data"


def read_split(
    pairs: Sequence[tuple[int, Path]], desc: str, *, resize: int = 0, crop: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``(label, file)`` pairs into ``uint8`` (N, 3, H, W) images and ``int64`` labels.

    Raises:
        ValueError: an unreadable image, or images of different sizes (naming the first odd one).
    """
    bar = progress_bar(pairs, enabled=progress, echo=print, desc=desc, leave=False)
    names = [str(f) for _, f in pairs]
    images = stack_images((decode_image(f, str(f), resize=resize, crop=crop) for _, f in bar), names)
    return images, torch.tensor([label for label, _ in pairs], dtype=torch.int64)


def load_image_folder(
    path: str | Path,
    *,
    resize: int = 0,
    crop: int = 0,
    masks: str | Path = "",
    need_train: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> FolderData:
    """Load the ImageFolder tree at ``path`` (see the module docstring).

    Args:
        path: The tree's root (holding ``test/`` and, when ``need_train``, ``train/``).
        resize, crop: See :func:`bench.data.decode.fit_image` (0 = keep the size).
        masks: A PNG mask tree, or the authors' mask tar / folder; empty: no masks.
        need_train: Read ``train/`` (it must exist); False: ``train`` is an empty set.
        cache_dir: Root of the decoded-tensor cache (default ``$RECTBENCH_CACHE``).
        progress: Show progress bars while decoding.

    Raises:
        FileNotFoundError: the tree, its ``test/`` (or ``train/`` when needed) or the masks are
            missing.
        ValueError: an unreadable image, images of different sizes, or masks that do not fit.
    """
    root = Path(path).expanduser().resolve()
    classes = folder_classes(root)
    test_files = split_files(root / "test", classes)
    if not test_files:
        raise ValueError(f"{root / 'test'} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    train_files: list[tuple[int, Path]] = []
    if need_train:
        if not (root / "train").is_dir():
            raise FileNotFoundError(f"{root / 'train'} is missing; training needs train/<class>/")
        train_files = split_files(root / "train", classes)
    mask_root = Path(masks).expanduser().resolve() if masks else None
    tree = mask_root is not None and is_mask_tree(mask_root)
    mask_pairs = pair_mask_tree(mask_root, test_files, classes) if tree and mask_root else []
    files = [f for _, f in test_files + train_files] + [m for _, m in mask_pairs]
    settings = f"imagefolder|resize={resize}|crop={crop}|train={need_train}|masks={mask_root}"
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_file = cache_root / "imagefolder" / f"{source_key(settings, root, files)}.pt"
    entry = load_cached(cache_file)
    if not isinstance(entry, dict) or "test_images" not in entry:
        entry = _decode(test_files, train_files, mask_pairs, resize, crop, progress)
        entry["classes"] = list(classes)
        save_atomic(entry, cache_file)
    test = ImageSet(entry["test_images"], entry["test_labels"], classes,
                    names=tuple(f"{classes[label]}/{f.name}" for label, f in test_files))
    train = ImageSet(entry["train_images"], entry["train_labels"], classes)
    if not need_train:
        train = _empty_like(test)
    masked = None
    if tree:
        positions = entry["mask_positions"]
        masked = _with_masks(test.subset(positions), entry["masks"])
    elif mask_root is not None:
        masked = _authors_masks(mask_root, classes, test)
    return FolderData(train, test, masked)


def _with_masks(images: ImageSet, masks: torch.Tensor) -> ImageSet:
    """``images`` with ``masks`` (bool (N, H, W)) as its object masks."""
    return ImageSet(images.images, images.labels, images.classes, masks=masks, names=images.names)


def _decode(
    test_files: list[tuple[int, Path]], train_files: list[tuple[int, Path]],
    mask_pairs: list[tuple[int, Path]], resize: int, crop: int, progress: bool,
) -> dict[str, Any]:
    try:
        test_images, test_labels = read_split(test_files, "decode test", resize=resize,
                                              crop=crop, progress=progress)
        if train_files:
            train_images, train_labels = read_split(train_files, "decode train", resize=resize,
                                                    crop=crop, progress=progress)
    except ValueError as exc:
        if "same size" in str(exc) and not crop:
            raise ValueError(f"{exc}: set data.crop (and data.resize) to bring them to one size, "
                             "e.g. resize = 256, crop = 224") from exc
        raise
    if not train_files:
        train_images = torch.empty((0, *test_images.shape[1:]), dtype=torch.uint8)
        train_labels = torch.empty(0, dtype=torch.int64)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(f"train images are {tuple(train_images.shape[2:])} px but test images "
                         f"{tuple(test_images.shape[2:])}; set data.crop to bring them to one size")
    masks = decode_masks([m for _, m in mask_pairs], resize=resize, crop=crop) if mask_pairs \
        else torch.empty((0, *test_images.shape[2:]), dtype=torch.bool)
    return {"test_images": test_images, "test_labels": test_labels,
            "train_images": train_images, "train_labels": train_labels,
            "mask_positions": torch.tensor([p for p, _ in mask_pairs], dtype=torch.int64),
            "masks": masks}


def _empty_like(images: ImageSet) -> ImageSet:
    return ImageSet(images.images[:0], images.labels[:0], images.classes)


def _authors_masks(mask_root: Path, classes: tuple[str, ...], test: ImageSet) -> ImageSet:
    masked = load_object_masks(mask_root, classes=classes)
    if masked.images.shape[1:] != test.images.shape[1:]:
        raise ValueError(f"the masked images in {mask_root} are {tuple(masked.images.shape[2:])} "
                         f"px but the data's are {tuple(test.images.shape[2:])}; use masks of "
                         "the data's size (or data.resize / data.crop that match them)")
    return masked


def folder_digest(path: str | Path, masks: str | Path = "", cache_dir: str | Path | None = None) -> str:
    """SHA-256 hex digest identifying the data: the class names, the bytes of every test image
    and mask file, and the names and sizes of the training files (their bytes would take minutes
    on a large ``train/``). Cached by every file's path, size and modification time.

    Raises:
        FileNotFoundError, ValueError: as :func:`folder_classes`.
    """
    root = Path(path).expanduser().resolve()
    classes = folder_classes(root)
    content = [(f"test/{f.relative_to(root / 'test').as_posix()}", f)
               for _, f in split_files(root / "test", classes)]
    if masks:
        mask_root = Path(masks).expanduser().resolve()
        found = sorted(p for p in mask_root.rglob("*") if p.is_file()) if mask_root.is_dir() \
            else [mask_root]
        content += [(f"masks/{p.relative_to(mask_root.parent).as_posix()}", p) for p in found]
    listed = [f for _, f in split_files(root / "train", classes)] if (root / "train").is_dir() else []
    key = source_key("imagefolder-digest", root, [f for _, f in content] + listed)
    cached = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) \
        / "imagefolder" / f"{key}.digest"
    if cached.is_file() and len(text := cached.read_text().strip()) == 64:
        return text
    digest = hashlib.sha256("|".join(classes).encode())
    for name, file in content:
        digest.update(f"|{name}|".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    for file in listed:
        digest.update(f"|train/{file.relative_to(root / 'train').as_posix()}|"
                      f"{file.stat().st_size}".encode())
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.tmp")
    tmp.write_text(digest.hexdigest() + "\n")
    tmp.replace(cached)
    return digest.hexdigest()
