"""CIFAR-10 from either source, with the same labels: the official python release or a JPEG tree.

Accepted sources (``path``):

- the official python release: torchvision's ``cifar-10-batches-py`` folder (``data_batch_1..5``,
  ``test_batch``, ``batches.meta``) or the folder holding it;
- an ImageFolder tree ``train/<class>/*`` and ``test/<class>/*`` with the ten CIFAR-10 class names
  as folder names (what ``cifar10-jpeg.tar.gz`` extracts to);
- an archive of either (``cifar10-jpeg.tar.gz``, torchvision's ``cifar-10-python.tar.gz``), read
  as a stream (nothing is extracted to disk), or a folder holding such an archive.

Labels follow the CIFAR-10 order (0 = airplane ... 9 = truck) for every source. Decoded tensors are
cached (see :mod:`bench.data.cache`), so a second load takes a fraction of a second.

Order: the official release keeps its file order (already random); the ImageFolder tree and its
archive come grouped by class (class order, then file name). Shuffle with a seed
(``ImageSet.shuffled(seed)``) before taking any subset.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from bench.data.cache import (
    default_cache_dir,
    default_data_dir,
    load_cached,
    save_atomic,
    source_key,
)
from bench.data.cifar10_release import RELEASE_FILES, check_meta, from_batches, read_batch
from bench.data.decode import IMAGE_SUFFIXES, decode_image, stack_images
from bench.data.imagefolder import read_split, split_files, subfolders
from bench.data.imageset import CIFAR10_CLASSES, ImageSet
from bench.progress import progress_bar

__all__ = ["load_cifar10", "CIFAR10_CLASSES", "Source", "find_source", "source_files"]

_RELEASE_DIR = "cifar-10-batches-py"
_ARCHIVES = ("cifar10-jpeg.tar.gz", "cifar-10-python.tar.gz")
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Source:
    """Where CIFAR-10 was found: ``kind`` is ``"python"`` (the official release's folder),
    ``"folder"`` (an ImageFolder tree) or ``"archive"`` (a tar(.gz) of either), at ``location``."""

    kind: str
    location: Path


def load_cifar10(
    path: str | Path | None = None,
    *,
    download: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[ImageSet, ImageSet]:
    """Load CIFAR-10 as ``(train, test)`` image sets (50,000 and 10,000 images for the full data).

    Args:
        path: A source (see the module docstring). None: ``$RECTBENCH_DATA`` when set, else
            ``~/.cache/rectbench/data``.
        download: When no source is found, let torchvision download the official python release
            into ``path`` (needs internet). Default False.
        cache_dir: Folder for the decoded-tensor cache (files under ``<cache_dir>/cifar10/``).
            None: ``$RECTBENCH_CACHE`` when set, else ``~/.cache/rectbench``.
        progress: Show a progress bar while decoding.

    Returns:
        ``(train, test)``: ``ImageSet`` with ``uint8`` images (N, 3, 32, 32) in RGB order, ``int64``
        labels in CIFAR-10 order, ``classes == CIFAR10_CLASSES``, no masks.

    Raises:
        FileNotFoundError: no source found (the message lists the paths tried and how to get the
            data: ``download=True`` / ``rectbench run --download`` online, or ``--data PATH``).
        ValueError: a corrupt or foreign file, naming it.
    """
    root = Path(path).expanduser() if path is not None else default_data_dir()
    source, tried = find_source(root)
    if source is None and download:
        _download(root, tried)
        source, tried = find_source(root)
    if source is None:
        note = " (the download left no CIFAR-10 release there)" if download else ""
        raise FileNotFoundError(_missing_message(root, tried, note))

    files = source_files(source)
    key = source_key(source.kind, source.location, files)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_file = cache_root / "cifar10" / f"{key}.pt"
    cached = load_cached(cache_file)
    if cached is None or not _valid_entry(cached):
        cached = _decode(source, progress)
        save_atomic(cached, cache_file)
    classes = tuple(cached["classes"])
    train, test = (
        ImageSet(cached[f"{split}_images"], cached[f"{split}_labels"], classes) for split in _SPLITS
    )
    return train, test


# --- finding the source ---------------------------------------------------------------------------


def find_source(root: Path) -> tuple[Source | None, list[Path]]:
    """The first source found at ``root``, and the paths looked at (for the error message)."""
    if root.is_file():
        if not tarfile.is_tarfile(root):
            raise ValueError(
                f"{root} is not a CIFAR-10 source: expected a folder (cifar-10-batches-py, or an "
                "ImageFolder tree with train/ and test/) or a .tar.gz archive of one"
            )
        return Source("archive", root), [root]
    candidates: list[tuple[str, Path]] = [
        ("python", root / "data_batch_1"),
        ("python", root / _RELEASE_DIR / "data_batch_1"),
        ("folder", root / "train"),
        *(("archive", root / name) for name in _ARCHIVES),
    ]
    tried = [probe for _, probe in candidates]
    for kind, probe in candidates:
        if kind == "python" and probe.is_file():
            return Source(kind, probe.parent), tried
        if kind == "folder" and probe.is_dir() and (root / "test").is_dir():
            return Source(kind, root), tried
        if kind == "archive" and probe.is_file():
            return Source(kind, probe), tried
    return None, tried


def _missing_message(root: Path, tried: list[Path], note: str = "") -> str:
    listing = "\n  ".join(str(p) for p in tried)
    hint = (
        "Online, pass download=True (CLI: `rectbench run --download`) and torchvision fetches the "
        f"official release into {root}; or point to data you have with `--data PATH` (path=...): the "
        "cifar-10-batches-py folder or its parent, an ImageFolder tree with train/<class>/ and "
        "test/<class>/, or cifar10-jpeg.tar.gz. $RECTBENCH_DATA sets the default location."
    )
    return f"CIFAR-10 not found at {root}{note}. Tried:\n  {listing}\n{hint}"


def _download(root: Path, tried: list[Path]) -> None:
    import torchvision

    root.mkdir(parents=True, exist_ok=True)
    try:
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    except Exception as exc:  # offline machines end up here: say what to do instead
        note = f" and the download failed ({type(exc).__name__}: {exc})"
        raise FileNotFoundError(_missing_message(root, tried, note)) from exc


def source_files(source: Source) -> list[Path]:
    """The paths whose sizes and modification times key the cache, in a fixed order.

    Archive and python release: every file read. ImageFolder tree: the split and class folders,
    whose modification times change whenever an image is added, removed, renamed or replaced by
    extraction; stat-ing 60,000 files instead would cost about a second on every load. An image
    overwritten in place is not noticed: pass another ``cache_dir`` (or delete the cache) then.
    """
    if source.kind == "archive":
        return [source.location]
    if source.kind == "python":
        missing = [n for n in RELEASE_FILES if not (source.location / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"incomplete CIFAR-10 python release in {source.location}: missing {', '.join(missing)}; "
                "download it again (download=True) or extract cifar-10-python.tar.gz completely"
            )
        meta = source.location / "batches.meta"
        return [source.location / n for n in RELEASE_FILES] + ([meta] if meta.is_file() else [])
    folders = []
    for split in _SPLITS:
        split_dir = source.location / split
        _check_class_names(subfolders(split_dir), str(split_dir))
        folders += [split_dir, *(split_dir / name for name in CIFAR10_CLASSES)]
    return folders


def _tree_files(split_dir: Path) -> list[tuple[int, Path]]:
    """(label, file) for every image of one split folder, in class order then file name order."""
    _check_class_names(subfolders(split_dir), str(split_dir))
    return split_files(split_dir, CIFAR10_CLASSES)


def _check_class_names(found: list[str], where: str) -> None:
    if set(found) != set(CIFAR10_CLASSES):
        missing = sorted(set(CIFAR10_CLASSES) - set(found))
        extra = sorted(set(found) - set(CIFAR10_CLASSES))
        raise ValueError(
            f"{where} is not a CIFAR-10 ImageFolder split: expected one folder per class "
            f"({', '.join(CIFAR10_CLASSES)}); missing {missing or 'none'}, unexpected {extra or 'none'}"
        )


def _valid_entry(entry: dict[str, Any]) -> bool:
    return (
        all(f"{s}_{k}" in entry for s in _SPLITS for k in ("images", "labels"))
        and "classes" in entry
    )


# --- decoding -------------------------------------------------------------------------------------


def _decode(source: Source, progress: bool) -> dict[str, Any]:
    if source.kind == "python":
        batches = {
            n: read_batch((source.location / n).read_bytes(), str(source.location / n))
            for n in RELEASE_FILES
        }
        meta = source.location / "batches.meta"
        if meta.is_file():
            check_meta(meta.read_bytes(), str(meta))
        return from_batches(batches)
    if source.kind == "folder":
        entry: dict[str, Any] = {"classes": list(CIFAR10_CLASSES)}
        for split in _SPLITS:
            pairs = _tree_files(source.location / split)
            entry[f"{split}_images"], entry[f"{split}_labels"] = read_split(
                pairs, f"decode CIFAR-10 {split}", progress=progress
            )
        return entry
    return _decode_archive(source.location, progress)


def _decode_archive(archive: Path, progress: bool) -> dict[str, Any]:
    """Read a tar(.gz) archive of either source as a stream; no files are written."""
    images: dict[str, list[tuple[str, int, np.ndarray]]] = {s: [] for s in _SPLITS}
    batches: dict[str, bytes] = {}
    meta: bytes | None = None
    try:
        with (
            tarfile.open(archive, "r|*") as tar,
            progress_bar(enabled=progress, echo=print, desc=f"decode {archive.name}",
                         leave=False) as bar,
        ):
            for member in tar:
                if not member.isfile():
                    continue
                parts = PurePosixPath(member.name).parts
                name = parts[-1]
                if name in RELEASE_FILES or name == "batches.meta":
                    data = _read_member(tar, member)
                    if name == "batches.meta":
                        meta = data
                    else:
                        batches[name] = data
                elif (
                    len(parts) >= 3
                    and parts[-3] in _SPLITS
                    and parts[-2] in CIFAR10_CLASSES
                    and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES
                ):
                    where = f"{archive}:{member.name}"
                    array = decode_image(_read_member(tar, member), where)
                    images[parts[-3]].append((name, CIFAR10_CLASSES.index(parts[-2]), array))
                bar.update()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(
            f"cannot read archive {archive}: {exc}. The file is corrupt or truncated; download it again"
        ) from exc
    if batches:
        missing = [n for n in RELEASE_FILES if n not in batches]
        if missing:
            raise ValueError(
                f"archive {archive} holds an incomplete CIFAR-10 python release: missing {missing}"
            )
        if meta is not None:
            check_meta(meta, f"{archive}:batches.meta")
        return from_batches({n: read_batch(batches[n], f"{archive}:{n}") for n in RELEASE_FILES})
    if not images["train"] or not images["test"]:
        raise ValueError(
            f"archive {archive} holds no CIFAR-10 data: expected cifar-10-batches-py/ files or image "
            "files under train/<class>/ and test/<class>/ (class names airplane ... truck)"
        )
    entry: dict[str, Any] = {"classes": list(CIFAR10_CLASSES)}
    for split in _SPLITS:
        # Same order as the extracted tree: class order, then file name.
        ordered = sorted(images[split], key=lambda item: (item[1], item[0]))
        entry[f"{split}_images"] = stack_images(
            (a for _, _, a in ordered), [n for n, _, _ in ordered]
        )
        entry[f"{split}_labels"] = torch.tensor(
            [label for _, label, _ in ordered], dtype=torch.int64
        )
    return entry


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise ValueError(f"cannot read {member.name} from the archive")
    return handle.read()
