"""Validation of an ImageFolder run's data (part of :func:`bench.validate.validate`).

Checked before any work, reading file names and image headers only: the tree's layout and
classes, ``train/`` when anything trains (and what does, in the message), every test image's size
against ``data.resize`` / ``data.crop``, the patch against the image side, and the masks: a PNG
tree paired with the test images and each mask's size against its image's, or the authors' format
read completely.
"""

from __future__ import annotations

from pathlib import Path

from bench.config import RunConfig
from bench.data.decode import fitted_size, image_size
from bench.data.imagefolder import folder_classes, split_files
from bench.data.mask_tree import is_mask_tree, pair_mask_tree
from bench.validate import ConfigError, training_data_needs
from metrics import METRICS

__all__ = ["check_image_folder", "data_geometry"]

_TREE = "an ImageFolder tree: test/<class>/<image> (and train/<class>/<image> to train)"


def check_image_folder(config: RunConfig) -> None:
    """Check ``config.data`` of an ImageFolder run (see the module docstring).

    Raises:
        ConfigError: naming ``data.path``, ``data.crop``, ``data.patch_size`` or ``data.masks``.
    """
    data = config.data
    if not data.path.strip():
        raise ConfigError("data.path", "is empty; an ImageFolder run needs its tree",
                          f"pass --data DIR, {_TREE}")
    root = Path(data.path).expanduser()
    if not root.is_dir():
        raise ConfigError("data.path", f"{root} is not a folder", f"pass --data DIR, {_TREE}")
    try:
        classes = folder_classes(root)
    except (ValueError, OSError) as exc:
        raise ConfigError("data.path", str(exc), f"give {_TREE}") from exc
    test_files = split_files(root / "test", classes)
    if not test_files:
        raise ConfigError("data.path", f"{root / 'test'} holds no images", f"give {_TREE}")
    if data.resize and data.crop > data.resize:
        raise ConfigError("data.crop", f"{data.crop} exceeds data.resize = {data.resize} (the "
                          "shorter side after resizing)", "choose crop <= resize")
    _check_training_split(config, root, classes)
    width, height = _test_sizes(config, test_files)
    if any(METRICS.get(m).image_set == "patch" for m in config.metrics) and not (
        3 <= data.patch_size <= min(width, height)
    ):
        raise ConfigError("data.patch_size", f"must be an integer in 3..{min(width, height)} (the "
                          f"image side), got {data.patch_size!r}", "choose a patch that fits")
    if data.masks:
        _check_masks(config, Path(data.masks).expanduser(), test_files, classes, (width, height))


def _check_training_split(config: RunConfig, root: Path, classes: tuple[str, ...]) -> None:
    needs = training_data_needs(config)
    if not needs:
        return
    if not (root / "train").is_dir():
        raise ConfigError("data.path", f"{root} has no train/ folder, which {', '.join(needs)} "
                          "need(s)", "add train/<class>/<image> files, or give --weights and "
                          "drop the metrics that retrain (ROAR/KAR) or train a patch model")
    if not split_files(root / "train", classes):
        raise ConfigError("data.path", f"{root / 'train'} holds no images, which "
                          f"{', '.join(needs)} need(s)", "add train/<class>/<image> files")


def _test_sizes(config: RunConfig, test_files: list[tuple[int, Path]]) -> tuple[int, int]:
    """``(width, height)`` of the test images after resize and crop; all must agree."""
    data = config.data
    first: tuple[int, int] | None = None
    for _, file in test_files:
        try:
            size = image_size(file)
        except ValueError as exc:
            raise ConfigError("data.path", str(exc), "remove or replace the file") from exc
        fitted = fitted_size(size, data.resize)
        if data.crop and min(fitted) < data.crop:
            after = " after resizing" if data.resize else ""
            raise ConfigError("data.crop", f"image {file} is {fitted[0]}x{fitted[1]} px{after}, "
                              f"smaller than {data.crop}", f"set data.resize >= {data.crop} or a "
                              "smaller crop")
        fitted = fitted_size(fitted, crop=data.crop)
        if first is None:
            first, first_file = fitted, file
        elif fitted != first:
            raise ConfigError("data.crop", f"image {file} is {fitted[0]}x{fitted[1]} px but "
                              f"{first_file} is {first[0]}x{first[1]} px", "set data.crop (and "
                              "data.resize) to bring the images to one size, e.g. resize = 256, "
                              "crop = 224")
    assert first is not None  # test_files is not empty (checked by the caller)
    return first


def _check_masks(
    config: RunConfig, masks: Path, test_files: list[tuple[int, Path]],
    classes: tuple[str, ...], size: tuple[int, int],
) -> None:
    fix = ("give a folder of <class>/<name>.png masks (the size of test/<class>/<name>.*), or "
           "masks in the authors' format, or leave masks out (and the background metrics)")
    if not masks.exists():
        raise ConfigError("data.masks", f"{masks} does not exist", fix)
    try:
        if is_mask_tree(masks):
            pair_mask_tree(masks, test_files, classes)
            return
        from bench.data.masks import load_object_masks

        masked = load_object_masks(masks, classes=classes)
    except (ValueError, OSError) as exc:
        raise ConfigError("data.masks", str(exc), fix) from exc
    found = (masked.images.shape[3], masked.images.shape[2])
    if found != size:
        raise ConfigError("data.masks", f"the masked images in {masks} are {found[0]}x{found[1]} "
                          f"px but the data's are {size[0]}x{size[1]} px", fix)


def data_geometry(config: RunConfig) -> tuple[int, tuple[int, int, int]]:
    """``(number of classes, (channels, height, width))`` of the images the model will see."""
    data = config.data
    if data.source == "synthetic":
        return data.synthetic_classes, (3, data.image_size, data.image_size)
    if data.source == "cifar10":
        return 10, (3, 32, 32)
    root = Path(data.path).expanduser()
    classes = folder_classes(root)
    _, first = split_files(root / "test", classes)[0]
    width, height = fitted_size(fitted_size(image_size(first), data.resize), crop=data.crop)
    return len(classes), (3, height, width)
