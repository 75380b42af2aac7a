"""The ``run`` command's options for data, models, weights and plugins, and how they make the
run's configuration (:func:`resolve_config`); :mod:`bench.cli` holds the commands."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from bench.config import RunConfig

__all__ = ["SETTING_FLAGS", "UsageError", "add_data_and_model_options", "resolve_config"]

#: The ``run`` options that override a configuration setting (named in error messages).
SETTING_FLAGS = {"seed": "seed", "methods": "methods", "metrics": "metrics", "device": "device",
                 "data.path": "data", "data.masks": "masks", "model": "model",
                 "weights": "weights", "data.resize": "resize", "data.crop": "crop"}


class UsageError(Exception):
    """A bad command line: printed as one line, exit code 2."""


def add_data_and_model_options(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--masks``, ``--resize``, ``--crop``, ``--model`` and ``--weights``."""
    p.add_argument("--data", help="CIFAR-10 (the official python release, its ImageFolder tree or "
                   "the cifar10-jpeg tar.gz), or your ImageFolder tree (test/<class>/ and, to "
                   "train, train/<class>/; any image size): a tree with other classes, or an "
                   "imagefolder configuration, runs as ImageFolder data")
    p.add_argument("--masks", help="object masks: the authors' CIFAR10_mask.tar (file or folder), "
                   "or for ImageFolder data a <class>/<name>.png tree parallel to test/ (object = "
                   "non-zero); an error on synthetic data, which has exact masks")
    p.add_argument("--resize", type=int, metavar="PX", help="ImageFolder: scale images so that "
                   "their shorter side is PX (torchvision Resize)")
    p.add_argument("--crop", type=int, metavar="PX", help="ImageFolder: then cut the centred "
                   "PX x PX square (torchvision CenterCrop)")
    p.add_argument("--model", help="a registered model, torchvision.<arch> (e.g. "
                   "torchvision.resnet50) or package.module:factory (`rectbench models`)")
    p.add_argument("--weights", metavar="FILE", help="the model's state_dict (or a checkpoint "
                   "dict with 'state_dict'/'model'), read with weights_only=True; the model is "
                   "then loaded, not trained, and the run records the file's SHA-256")


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """The run's configuration: the preset or ``--config`` file with the options applied."""
    from bench.presets import get_preset

    if args.config and args.preset:
        raise UsageError("run: give --preset or --config, not both")
    config = RunConfig.from_file(args.config) if args.config else get_preset(args.preset or "quick")
    data = config.data
    if args.data is not None:
        path = _existing("--data", args.data, "give the CIFAR-10 release, tree or archive, or "
                         "an ImageFolder tree")
        source = "imagefolder" if data.source == "imagefolder" or _own_tree(path) else "cifar10"
        data = replace(data, source=source, path=str(path))
    if args.masks is not None:
        path = _existing("--masks", args.masks, "give the authors' CIFAR10_mask.tar or its "
                         "folder, or a <class>/<name>.png mask tree")
        data = replace(data, masks=str(path))
    if args.download:
        data = replace(data, download=True)
    for flag in ("resize", "crop"):
        if getattr(args, flag) is not None:
            data = replace(data, **{flag: getattr(args, flag)})
    config = replace(config, data=data)
    if args.plugin:
        config = replace(config, plugins=config.plugins + tuple(_plugin(p) for p in args.plugin))
    if args.model is not None:
        if not args.model.strip():
            raise UsageError("--model is empty; name a model (`rectbench models`) or "
                             "package.module:factory")
        config = replace(config, model=args.model.strip())
    if args.weights is not None:
        path = _existing("--weights", args.weights, "give a state_dict file saved with "
                         "torch.save(model.state_dict(), PATH)")
        config = replace(config, weights=str(path))
    overrides = {
        "methods": _names("--methods", args.methods, "rectbench methods"),
        "metrics": _names("--metrics", args.metrics, "rectbench metrics"),
        "device": args.device,
        "seed": args.seed,
    }
    return config.with_overrides(**overrides)


def _own_tree(path: Path) -> bool:
    """An ImageFolder tree that is not CIFAR-10's (other class folders, or no train/)."""
    from bench.data.imagefolder import is_image_folder, subfolders
    from bench.data.imageset import CIFAR10_CLASSES

    if not is_image_folder(path):
        return False
    splits = [path / s for s in ("train", "test")]
    return not all(d.is_dir() and tuple(subfolders(d)) == CIFAR10_CLASSES for d in splits)


def _plugin(text: str) -> str:
    """A ``.py`` path made absolute (the run's recorded configuration works from any folder);
    a module name as it is."""
    if text.endswith(".py") or os.sep in text:
        return str(_existing("--plugin", text, "give a .py file or a module name"))
    return text


def _existing(flag: str, text: str, fix: str) -> Path:
    if not text.strip():
        raise UsageError(f"{flag} is empty; {fix}")
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(f"{flag} {path} does not exist; {fix}")
    return path.resolve()


def _names(flag: str, text: str | None, listing: str) -> tuple[str, ...] | None:
    """The comma-separated names of ``flag`` (None: not given, use the configuration's)."""
    if text is None:
        return None
    names = _split(text)
    if not names:
        raise UsageError(f"{flag} {text!r} names nothing; name at least one (`{listing}` lists "
                         f"them), or leave {flag} out to use the configuration's")
    return tuple(names)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
