"""The whole run configuration checked before any work: :func:`validate`.

Every value is checked against its range, every name against its registry, the device against the
machine, the data and mask files are opened (the mask archive is read and paired completely), and
every requested metric must be producible by the run as configured, so that a run never trains for
an hour and then stops on a setting, and never ends "done" with a requested column missing.
A problem raises :class:`ConfigError`, a ``ValueError`` naming the setting and the fix.

First, the configuration's plugins, installed entry points and ``[method.NAME]`` / ``[metric.NAME]``
tables are registered (:func:`bench.plugins.activate`), so that their names resolve. Last, the
model is built for the data's classes and image size, its ``weights`` are loaded and checked, and
it runs once on a blank image.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from bench.config import RunConfig
from bench.environment import resolve_device
from bench.experiment_settings import experiment_problems
from bench.models import create_model, model_spec
from methods import METHODS, resolve_method
from metrics import METRICS, MetricSpec, resolve_metric

__all__ = ["ConfigError", "UnknownNameError", "SEED_LIMIT", "training_data_needs", "validate"]

#: Seeds are 32-bit: ``0 <= seed < SEED_LIMIT``.
SEED_LIMIT = 2**32

_MODES = ("roar", "kar")


class ConfigError(ValueError):
    """A setting of the run configuration that cannot work.

    Attributes:
        setting: The setting's dotted name (``evaluation.batch_size``, ``seed``, ``data.masks``).
        problem: What is wrong, with the value found.
        fix: What to do instead.
    """

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        self.setting, self.problem, self.fix = setting, problem, fix
        super().__init__(f"{setting}: {problem}; {fix}")


class UnknownNameError(ConfigError, KeyError):
    """An unknown method, metric or model name (also a ``KeyError``, as the registries raise)."""

    def __str__(self) -> str:
        return str(self.args[0])


def validate(config: RunConfig) -> None:
    """Check ``config`` completely; return None when a run of it can produce every metric.

    Raises:
        ConfigError: The first problem found (a ``ValueError``; :class:`UnknownNameError`, also a
            ``KeyError``, for unknown names).
    """
    from bench.plugins import activate

    activate(config)  # plugins, entry points and the configuration's own methods and metrics
    for setting, problem, fix in experiment_problems(config)[:1]:  # experiments and controls
        raise ConfigError(setting, problem, fix)
    _check_names(config)
    _check_seed("seed", config.seed, "pass a --seed in that range")
    try:
        resolve_device(config.device)
    except ValueError as exc:
        problem = str(exc).removeprefix("device: ").split("; use")[0]
        raise ConfigError("device", problem, "pass --device cpu (or auto)") from exc
    _check_data(config)
    _check_evaluation(config)
    _check_roar(config)
    _check_producible(config)
    _check_model(config)
    _check_compatible(config)


def _check_compatible(config: RunConfig) -> None:
    """Refuse (method, model, image size) combinations known to fail, before any training: each
    method attributes two seeded images with an untrained model of the run's architecture
    (``methods.compatibility``; the known failures depend on the architecture and size only)."""
    from bench.validate_folder import data_geometry

    classes, (_, height, size) = data_geometry(config)
    if height != size:
        return  # the probe is square; non-square inputs are checked by the first attribution
    for method in config.methods:
        problem = _incompatibility(method, METHODS.get(method).version, config.model, classes, size)
        if problem:
            raise ConfigError("methods", f"{method} cannot be run on {config.model} at {size} px: "
                              f"{problem}", f"drop {method} from the methods (--methods)")


@functools.lru_cache(maxsize=256)
def _incompatibility(method: str, version: int, model_name: str, classes: int, size: int) -> str:
    """The reason ``method`` fails on an untrained ``model_name`` (empty when it works); cached
    per process (the version is part of the cache key)."""
    import torch

    from bench.models import create_model
    from methods.compatibility import check_compatible

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model(model_name, classes, size).eval()
    try:
        check_compatible(method, model, (3, size, size))
    except ValueError as exc:
        return str(exc)
    return ""


# --- names and numbers ---------------------------------------------------------------------------


def _check_names(config: RunConfig) -> None:
    for setting, names, registry, listing in (
        # through the resolvers: "<method>+blur" and "<metric>@uniform" register on first use
        ("methods", config.methods, SimpleNamespace(get=partial(
            resolve_method, blur_sigma=config.evaluation.blur_sigma)), "rectbench methods"),
        ("metrics", config.metrics, SimpleNamespace(get=resolve_metric), "rectbench metrics"),
    ):
        if isinstance(names, str) or not names:
            raise ConfigError(setting, f"is empty (got {names!r})",
                              f"name at least one (`{listing}` lists them)")
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise ConfigError(setting, f"names {', '.join(repeated)} more than once",
                              "list each name once")
        for name in names:
            _check_known(setting, registry, name, listing)
    try:
        model_spec(config.model)
    except KeyError as exc:
        raise UnknownNameError("model", str(exc.args[0]), "use one of them (`rectbench models`)") \
            from None
    except ValueError as exc:  # a package.module:factory that does not import or is no model
        raise ConfigError("model", str(exc).split(": ", 1)[-1], "name an importable "
                          "package.module:factory or a bench.models.ModelSpec") from exc


def _check_known(setting: str, registry: Any, name: str, listing: str) -> None:
    try:
        registry.get(name)
    except KeyError as exc:  # the registry's message lists the valid names
        raise UnknownNameError(setting, str(exc.args[0]), f"use one of them (`{listing}`)") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(setting: str, value: Any, minimum: int, meaning: str = "") -> None:
    if not _is_int(value) or value < minimum:
        note = f" ({meaning})" if meaning else ""
        raise ConfigError(setting, f"must be an integer >= {minimum}{note}, got {value!r}",
                          f"set it to {minimum} or more")


def _check_seed(setting: str, value: Any, fix: str) -> None:
    if not _is_int(value) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(setting, f"must be an integer in 0..{SEED_LIMIT - 1} (32 bits), got "
                          f"{value!r}", fix)


# --- sections ------------------------------------------------------------------------------------


def _check_data(config: RunConfig) -> None:
    data = config.data
    if data.source not in ("synthetic", "cifar10", "imagefolder"):
        raise ConfigError("data.source", f"must be 'synthetic', 'cifar10' or 'imagefolder', got "
                          f"{data.source!r}", "choose one of them")
    _check_int("data.n_train", data.n_train, 0, "0 = all")
    _check_int("data.n_test", data.n_test, 0, "0 = all")
    _check_seed("data.patch_seed", data.patch_seed, "choose a seed in that range")
    _check_int("data.resize", data.resize, 0, "0 = keep the size")
    _check_int("data.crop", data.crop, 0, "0 = no crop")
    if data.source != "imagefolder" and (data.resize or data.crop):
        raise ConfigError("data.resize" if data.resize else "data.crop", "applies to ImageFolder "
                          f"data only (data.source is {data.source!r})", "drop it")
    if data.source == "imagefolder":
        from bench.validate_folder import check_image_folder

        check_image_folder(config)
        return
    size = data.image_size if data.source == "synthetic" else 32
    if not _is_int(data.patch_size) or not 3 <= data.patch_size <= size:
        raise ConfigError("data.patch_size", f"must be an integer in 3..{size} (the image side), "
                          f"got {data.patch_size!r}", "choose a patch that fits the images")
    if data.source == "synthetic":
        if not _is_int(data.synthetic_classes) or not 2 <= data.synthetic_classes <= 6:
            raise ConfigError("data.synthetic_classes", f"must be an integer in 2..6, got "
                              f"{data.synthetic_classes!r}", "choose 2 to 6 shape classes")
        _check_int("data.image_size", data.image_size, 12, "smaller shapes are unrecognisable")
        if data.masks:
            raise ConfigError("data.masks", "only CIFAR-10 runs read the authors' masks (the "
                              "synthetic images have exact masks of their own)",
                              "add --data PATH to run on CIFAR-10, or drop --masks")
        return
    _check_cifar10_source(data.path, data.download)
    if data.masks:
        _check_masks(data.masks)


def _check_cifar10_source(path: str, download: bool) -> None:
    # The loader's own lookup and layout check (file names and folders only, nothing decoded).
    from bench.data.cache import default_data_dir
    from bench.data.cifar10 import find_source, source_files

    root = Path(path).expanduser() if path else default_data_dir()
    try:
        source, _ = find_source(root)
        if source is not None:
            source_files(source)
    except (ValueError, OSError) as exc:
        raise ConfigError("data.path", str(exc), "pass --data PATH naming CIFAR-10") from exc
    if source is None and not download:
        raise ConfigError("data.path", f"no CIFAR-10 release, ImageFolder tree or archive at "
                          f"{root}", "pass --data PATH (or --download when online)")


def _check_masks(path: str) -> None:
    from bench.data.masks import load_object_masks

    try:
        load_object_masks(path)
    except (ValueError, OSError) as exc:
        raise ConfigError("data.masks", str(exc), "pass the authors' CIFAR10_mask.tar with "
                          "--masks PATH, or leave masks out (and the background metrics)") from exc


_IMAGE_SETS = ("test", "masked", "patch", "train")


def _check_evaluation(config: RunConfig) -> None:
    ev = config.evaluation
    _check_int("evaluation.n_images", ev.n_images, 0, "0 = all test images")
    _check_int("evaluation.masked_per_class", ev.masked_per_class, 1)
    _check_int("evaluation.n_quantus", ev.n_quantus, 0)
    _check_int("evaluation.batch_size", ev.batch_size, 1)
    _check_int("evaluation.gallery", ev.gallery, 0, "0 = no gallery")
    for metric, image_set in ev.image_sets.items():
        if metric not in config.metrics:
            raise ConfigError(f"evaluation.image_sets.{metric}", "names a metric the run does not "
                              "compute", f"drop it, or add {metric} to the metrics")
        if image_set not in _IMAGE_SETS or METRICS.get(metric).kind != "per_image":
            raise ConfigError(f"evaluation.image_sets.{metric}", f"is {image_set!r}",
                              f"use one of {', '.join(_IMAGE_SETS)} for a per-image metric")


def _check_roar(config: RunConfig) -> None:
    roar = config.roar
    modes = list(roar.modes)
    if not modes or len(set(modes)) != len(modes) or not set(modes) <= set(_MODES):
        raise ConfigError("roar.modes", f"must be a non-empty list of distinct modes out of "
                          f"{list(_MODES)}, got {modes!r}", 'e.g. modes = ["roar", "kar"]')
    _check_fractions(roar.fractions)
    seeds = list(roar.seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("roar.seeds", f"must be a non-empty list of distinct seeds, got {seeds!r}",
                          "e.g. seeds = [0, 1, 2]")
    for seed in seeds:
        _check_seed("roar.seeds", seed, "choose seeds in that range")
    _check_int("roar.n_train", roar.n_train, 0, "0 = all the run's training images")
    _check_int("roar.n_test", roar.n_test, 0, "0 = all the run's test images")
    _check_int("roar.epochs", roar.epochs, 1)


def _check_fractions(fractions: Sequence[Any]) -> None:
    values = list(fractions)
    fix = "e.g. fractions = [0.1, 0.5, 0.9]"
    if len(values) < 2:
        raise ConfigError("roar.fractions", f"needs at least two fractions for a curve, got "
                          f"{values!r}", fix)
    for value in values:
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not real or not math.isfinite(value) or not 0 < value < 1:
            raise ConfigError("roar.fractions", f"must lie strictly between 0 and 1, got "
                              f"{value!r}", fix)
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ConfigError("roar.fractions", f"must be distinct and increasing, got {values!r}",
                          f"use {sorted(set(values))!r}")


# --- can every requested metric be produced? -----------------------------------------------------


def _check_producible(config: RunConfig) -> None:
    specs = [METRICS.get(name) for name in config.metrics]
    for spec in specs:
        if spec.kind == "retraining" and spec.retraining_mode not in config.roar.modes:
            raise ConfigError("roar.modes", f"{list(config.roar.modes)!r} lacks "
                              f"{spec.retraining_mode!r}, which metric {spec.name} needs",
                              f"add {spec.retraining_mode!r} to roar.modes or drop {spec.name} "
                              "from the metrics")
    needs_masks = [s.name for s in specs if _needs_masks(s)]
    if needs_masks and config.data.source == "cifar10" and not config.data.masks:
        raise ConfigError("data.masks", f"metrics {', '.join(needs_masks)} need object masks, "
                          "and CIFAR-10 has none without the authors' mask file",
                          "pass --masks CIFAR10_mask.tar, or drop those metrics (--metrics)")
    if needs_masks and config.data.source == "imagefolder" and not config.data.masks:
        raise ConfigError("data.masks", f"metrics {', '.join(needs_masks)} need object masks",
                          "pass --masks with a <class>/<name>.png tree parallel to test/, or drop "
                          "those metrics (--metrics)")
    expensive = [s.name for s in specs if s.expensive and s.kind == "per_image"]
    if expensive and config.evaluation.n_quantus == 0:
        raise ConfigError("evaluation.n_quantus", f"is 0, but metrics {', '.join(expensive)} are "
                          "scored on that many images", "set n_quantus >= 1 or drop those metrics")


def _needs_masks(spec: MetricSpec) -> bool:
    return spec.kind == "per_image" and "foreground" in spec.requires


def training_data_needs(config: RunConfig) -> list[str]:
    """What in ``config`` trains a model on the training images (empty: only test images are
    needed): the explained model without ``weights``, retraining metrics, metrics scored on the
    patch model (trained on patched images) or on the training images."""
    needs = [] if config.weights else ["training the model (no weights given)"]
    for name in config.metrics:
        spec = METRICS.get(name)
        image_set = config.evaluation.image_sets.get(name, spec.image_set)
        if spec.kind == "retraining" or image_set in ("patch", "train"):
            needs.append(f"metric {name}")
    return needs


# --- the model ------------------------------------------------------------------------------------


def _check_model(config: RunConfig) -> None:
    """Build the model for the data, load its weights, run it once on a blank image."""
    from bench.validate_folder import data_geometry
    from bench.weights import WeightsError, load_weights

    classes, (channels, height, width) = data_geometry(config)
    where = f"{classes} classes and {height}x{width} images"
    with torch.random.fork_rng(devices=[]):
        try:
            model = create_model(config.model, classes, width)
        except Exception as exc:  # the user's factory or torchvision refused the geometry
            raise ConfigError("model", f"{config.model} cannot be built for {where} "
                              f"({type(exc).__name__}: {exc})", "choose a model that fits the "
                              "data (or data.resize / data.crop)") from exc
    if config.weights:
        try:
            load_weights(model, config.weights, name=config.model)
        except WeightsError as exc:
            raise ConfigError("weights", exc.problem, exc.fix) from exc
    try:
        with torch.no_grad():
            logits = model.eval()(torch.zeros(1, channels, height, width))
    except Exception as exc:
        raise ConfigError("model", f"{config.model} fails on {height}x{width} images "
                          f"({type(exc).__name__}: {str(exc)[:200]})", "choose data.resize / "
                          "data.crop that the model takes, or another model") from exc
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (1, classes):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ConfigError("model", f"{config.model} returns {shape} for one image, not logits of "
                          f"shape (1, {classes}) (the data has {classes} classes)",
                          "return one logit per class")
