"""The RectGrad authors' hand-made CIFAR-10 foreground masks (``CIFAR10_mask.tar``).

Layout: ``CIFAR10_mask/<class>_<n>.jpg`` (32x32 JPEG stored in **BGR** channel order) and
``CIFAR10_mask/<class>_<n>_mask.jpg`` (grayscale, white = object); 204 pairs, ``n`` not contiguous.
The authors binarise a mask as object where the gray value is >= 200 (JPEG noise makes edge values
intermediate), and keep the first 10 correctly classified images of each class, in ``n`` order
(paper Figure 8 top, "attribution outside the mask").
"""

from __future__ import annotations

import re
import tarfile
import warnings
from pathlib import Path, PurePosixPath

import torch

from bench.data.decode import decode_image, stack_images
from bench.data.imageset import CIFAR10_CLASSES, ImageSet

__all__ = ["load_object_masks", "select_masked", "MASK_THRESHOLD"]

#: Gray value from which a mask pixel is object (the authors' rule: background where < 200).
MASK_THRESHOLD = 200

_NAME = re.compile(r"^(?P<cls>[A-Za-z0-9][\w-]*?)_(?P<n>\d+)(?P<mask>_mask)?\.jpe?g$")


def load_object_masks(
    path: str | Path, *, bgr: bool = True, threshold: int = MASK_THRESHOLD,
    classes: tuple[str, ...] = CIFAR10_CLASSES,
) -> ImageSet:
    """Load the authors' masked CIFAR-10 images.

    Args:
        path: ``CIFAR10_mask.tar``, the extracted ``CIFAR10_mask`` folder, or a folder holding
            either.
        bgr: The image files store channels in BGR order (the authors' files do); flip them to RGB.
        threshold: Mask gray value from which a pixel is object (default 200, the authors' rule).
        classes: Class names in label order (default CIFAR-10's); an ImageFolder data set passes
            its own, for masks in the authors' format.

    Returns:
        ``ImageSet`` with ``uint8`` RGB images (N, 3, 32, 32), labels in CIFAR-10 order, ``bool``
        masks (N, 32, 32) (True = object), and ``names`` such as ``"cat_12"``; ordered by class,
        then by the number ``n`` (numerically: ``cat_2`` before ``cat_10``). N = 204 for the
        authors' file.

    Raises:
        FileNotFoundError: ``path`` does not exist or holds no mask files.
        ValueError: an image without its mask (or the reverse), an unknown class name, or a file
            that is not a readable image.
    """
    root = Path(path).expanduser()
    if not 0 <= threshold <= 255:
        raise ValueError(f"threshold must be a gray value in 0..255, got {threshold}")
    files = _read_files(root)
    pairs = _pair(files, root, classes)
    keys = sorted(pairs, key=lambda k: (classes.index(k[0]), k[1]))
    names = [f"{cls}_{n}" for cls, n in keys]
    images = stack_images(
        (decode_image(pairs[k][0], f"{root}:{n}.jpg") for k, n in zip(keys, names, strict=True)),
        names,
    )
    if bgr:
        images = images.flip(1).contiguous()
    gray = stack_images(
        (
            decode_image(pairs[k][1], f"{root}:{n}_mask.jpg", mode="L")
            for k, n in zip(keys, names, strict=True)
        ),
        names,
    )
    if gray.shape[2:] != images.shape[2:]:
        raise ValueError(
            f"masks in {root} are {tuple(gray.shape[2:])} but images are {tuple(images.shape[2:])}"
        )
    labels = torch.tensor([classes.index(cls) for cls, _ in keys], dtype=torch.int64)
    return ImageSet(images, labels, classes, masks=gray[:, 0] >= threshold, names=tuple(names))


def select_masked(
    masks_set: ImageSet, predicted_labels: torch.Tensor, per_class: int = 10
) -> torch.Tensor:
    """The authors' selection: the first ``per_class`` correctly classified images of each class.

    "First" is the set's order (``load_object_masks`` orders by class, then ``n``).

    Args:
        masks_set: The masked images (any ``ImageSet``).
        predicted_labels: The model's predicted labels, ``int64`` (N,).
        per_class: Images kept per class (paper: 10, i.e. 100 images for CIFAR-10).

    Returns:
        ``int64`` indices into ``masks_set``, ascending. A class with fewer correct images gives
        fewer (with one warning naming the classes).
    """
    predicted = torch.as_tensor(predicted_labels)
    if predicted.shape != masks_set.labels.shape:
        raise ValueError(
            f"predicted_labels must have shape {tuple(masks_set.labels.shape)} (one per image), "
            f"got {tuple(predicted.shape)}"
        )
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    labels = masks_set.labels
    correct = predicted.to(labels.device, torch.int64) == labels
    # Rank of each correct image among the correct images of its class, in set order (1-based).
    onehot = torch.nn.functional.one_hot(labels, masks_set.num_classes) * correct.unsqueeze(1)
    rank = onehot.cumsum(0).gather(1, labels.unsqueeze(1)).squeeze(1)
    keep = correct & (rank <= per_class)
    counts = torch.bincount(labels[keep], minlength=masks_set.num_classes)
    short = [masks_set.classes[c] for c in (counts < per_class).nonzero().flatten().tolist()]
    if short:
        warnings.warn(
            f"fewer than {per_class} correctly classified masked images for: {', '.join(short)}",
            stacklevel=2,
        )
    return keep.nonzero().flatten()


def _read_files(root: Path) -> dict[str, bytes | Path]:
    """File name -> bytes (from a tar) or path (from a folder), for the mask-set files."""
    if not root.exists():
        raise FileNotFoundError(
            f"mask data not found at {root}; pass the authors' CIFAR10_mask.tar (or its extracted "
            "folder) with --masks PATH"
        )
    if root.is_file():
        return _read_tar(root)
    for candidate in (root, root / "CIFAR10_mask"):
        if candidate.is_dir():
            found = {p.name: p for p in candidate.iterdir() if p.is_file() and _NAME.match(p.name)}
            if found:
                return found
    if (root / "CIFAR10_mask.tar").is_file():
        return _read_tar(root / "CIFAR10_mask.tar")
    raise FileNotFoundError(
        f"no <class>_<n>.jpg / <class>_<n>_mask.jpg files in {root} or {root / 'CIFAR10_mask'}, "
        f"and no {root / 'CIFAR10_mask.tar'}; pass the authors' CIFAR10_mask.tar with --masks PATH"
    )


def _read_tar(archive: Path) -> dict[str, bytes | Path]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            found: dict[str, bytes | Path] = {}
            for member in tar.getmembers():
                name = PurePosixPath(member.name).name
                if member.isfile() and _NAME.match(name):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[name] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(
            f"cannot read {archive} as a tar archive ({exc}); it is corrupt or not CIFAR10_mask.tar"
        ) from exc
    if not found:
        raise ValueError(f"{archive} holds no <class>_<n>.jpg mask files; is it CIFAR10_mask.tar?")
    return found


def _pair(
    files: dict[str, bytes | Path], root: Path, classes: tuple[str, ...]
) -> dict[tuple[str, int], tuple[bytes | Path, bytes | Path]]:
    """(class, n) -> (image file, mask file); every image must have its mask and vice versa."""
    images: dict[tuple[str, int], bytes | Path] = {}
    masks: dict[tuple[str, int], bytes | Path] = {}
    for name, content in files.items():
        match = _NAME.match(name)
        if match is None:
            continue
        cls = match["cls"]
        if cls not in classes:
            raise ValueError(f"{root}: {name} names an unknown class {cls!r}; expected one of "
                             f"{classes[:10]}{' ...' if len(classes) > 10 else ''}")
        (masks if match["mask"] else images)[(cls, int(match["n"]))] = content
    unpaired = sorted(set(images) ^ set(masks))
    if unpaired:
        listed = ", ".join(
            f"{c}_{n}" + ("_mask" if (c, n) in images else "") + ".jpg" for c, n in unpaired[:5]
        )
        raise ValueError(
            f"{root}: every <class>_<n>.jpg needs its <class>_<n>_mask.jpg and vice versa; "
            f"missing: {listed}{' ...' if len(unpaired) > 5 else ''}"
        )
    return {key: (images[key], masks[key]) for key in images}
