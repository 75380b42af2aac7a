"""Stage ``data``: the run's training and test images, in memory as ``uint8``."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import RunConfig
from bench.data import ImageSet, load_cifar10, make_synthetic
from bench.data.imagefolder import folder_digest, folder_name, load_image_folder
from bench.pipeline import RunContext

__all__ = ["DataSets", "load_data", "dataset_name"]


@dataclass(frozen=True)
class DataSets:
    """The run's images: ``train`` and ``test`` (shuffled with the run's seed, then cut to the
    configured sizes), and ``masked``: an ImageFolder's images with object masks (None for other
    sources, whose masked images the ``images`` stage makes)."""

    train: ImageSet
    test: ImageSet
    masked: ImageSet | None = None


def dataset_name(config: RunConfig) -> str:
    """A short name of the run's data (stored with the run, shown in reports)."""
    data = config.data
    if data.source == "synthetic":
        return f"synthetic{data.synthetic_classes}-{data.image_size}px"
    if data.source == "imagefolder":  # [byo] a user's tree: its folder name and content digest
        return f"{folder_name(data.path)}@{folder_digest(data.path, data.masks)[:12]}"
    return "cifar10"


def load_data(ctx: RunContext) -> DataSets:
    """Generate or load the configured data set."""
    data, seed = ctx.config.data, ctx.config.seed
    masked: ImageSet | None = None
    if data.source == "synthetic":
        train, test = make_synthetic(
            data.n_train or 2000, data.n_test or 500, seed=seed,
            num_classes=data.synthetic_classes, image_size=data.image_size,
        )
    elif data.source == "imagefolder":  # [byo] a user's ImageFolder tree
        from bench.validate import training_data_needs

        folder = load_image_folder(
            data.path, resize=data.resize, crop=data.crop, masks=data.masks,
            need_train=bool(training_data_needs(ctx.config)), progress=ctx.progress,
        )
        train, test, masked = folder.train, folder.test, folder.masked
    else:
        train, test = load_cifar10(data.path or None, download=data.download, progress=ctx.progress)
    # A seeded class-balanced order before any subsetting (the JPEG tree is in class order), so
    # that every prefix taken later (evaluation images, ROAR/KAR subsets) is balanced.
    train = train.stratified(data.n_train, seed=seed)
    test = test.stratified(data.n_test, seed=seed + 1)
    ctx.echo(f"data: {len(train)} train / {len(test)} test images, {len(train.classes)} classes")
    return DataSets(train, test, masked)
