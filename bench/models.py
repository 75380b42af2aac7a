"""Classifiers the benchmark runs on: the RectGrad paper's CIFAR CNN, any torchvision
classification model, and a user's own model factory.

A model is named three ways (:func:`model_spec` resolves each):

- a registered name (``paper_cnn``; ``rectbench models`` lists them; a package registers more with
  the ``rectbench.models`` entry-point group or ``MODELS.register``);
- ``torchvision.<arch>`` for any of torchvision's classification models
  (``torchvision.models.list_models(module=torchvision.models)``), built with ``weights=None``:
  this suite never downloads weights; load your own with ``--weights FILE``;
- ``package.module:attribute`` naming a :class:`ModelSpec` or a factory
  ``factory(num_classes, image_size) -> nn.Module`` in an importable module.

Every model takes ``float32`` images (N, C, H, W) made by its spec's :class:`InputTransform`
(the paper's ``x / 127.5 - 1`` by default; ImageNet mean/std for torchvision models) and returns
logits of shape (N, num_classes).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.data.transform import IMAGENET_INPUT, PAPER_INPUT, InputTransform
from common.registry import Registry

__all__ = [
    "IMAGENET_INPUT",
    "InputTransform",
    "PAPER_INPUT",
    "PaperCNN",
    "ModelSpec",
    "MODELS",
    "TORCHVISION_PREFIX",
    "available_models",
    "create_model",
    "glorot_init_",
    "input_transform",
    "model_spec",
    "torchvision_architectures",
]

TORCHVISION_PREFIX = "torchvision."


class PaperCNN(nn.Module):
    """The CIFAR-10 CNN of the RectGrad paper (appendix F.2).

    conv3x3(32) relu, conv3x3(32) relu, maxpool 2x2, conv3x3(64) relu, conv3x3(64) relu,
    maxpool 2x2, dense 256 relu, dense ``num_classes``. SAME padding, biases, Glorot-uniform
    weights and zero biases (TensorFlow 1 defaults, which the paper used).

    Every ReLU is its own ``nn.ReLU`` module so that Captum's module-hook methods (Guided Backprop,
    Deconvolution, DeepLIFT) see each one.

    Args:
        num_classes: Number of output logits.
        in_channels: Number of image channels.
        image_size: Height = width of the input images (32 for CIFAR-10); must be divisible by 4.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 256),
            nn.ReLU(),
            nn.Linear(256, num_classes),
        )
        glorot_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def glorot_init_(model: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases on every conv and linear layer (in place)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


@dataclass(frozen=True)
class ModelSpec:
    """A model: ``factory(num_classes, image_size) -> nn.Module``, a description, and the input
    scaling the model expects (``input``; default the paper's ``x / 127.5 - 1``)."""

    name: str
    factory: Callable[[int, int], nn.Module]
    description: str
    input: InputTransform = field(default=PAPER_INPUT)

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise ValueError(f"model {self.name!r}: factory must be callable, got "
                             f"{type(self.factory).__name__}")
        if not isinstance(self.input, InputTransform):
            raise ValueError(f"model {self.name!r}: input must be an InputTransform, got "
                             f"{type(self.input).__name__}")


MODELS: Registry[ModelSpec] = Registry("model")


def _paper_cnn(num_classes: int, image_size: int) -> nn.Module:
    return PaperCNN(num_classes=num_classes, image_size=image_size)


MODELS.register("paper_cnn", ModelSpec(
    "paper_cnn", _paper_cnn,
    "RectGrad paper's CIFAR-10 CNN (4 conv, 2 maxpool, 2 dense), Glorot init"))


# --- resolving a name -------------------------------------------------------------------------------


def model_spec(name: str) -> ModelSpec:
    """The spec of model ``name``: registered, ``torchvision.<arch>`` or ``package.module:attr``.

    Raises:
        KeyError: an unknown name (the message lists the valid forms and names).
        ValueError: ``package.module:attr`` that cannot be imported or does not name a model,
            with the import error.
    """
    if not isinstance(name, str) or not name:
        raise KeyError(f"model must be a non-empty name, got {name!r}")
    if name in MODELS:
        return MODELS.get(name)
    if name.startswith(TORCHVISION_PREFIX):
        return _torchvision_spec(name.removeprefix(TORCHVISION_PREFIX))
    if ":" in name:
        return _imported_spec(name)
    registered = ", ".join(MODELS.names())
    raise KeyError(f"unknown model {name!r}; valid names: {registered}, torchvision.<arch> (any "
                   "torchvision classification model, e.g. torchvision.resnet50) or "
                   "package.module:factory")


def create_model(name: str, num_classes: int = 10, image_size: int = 32) -> nn.Module:
    """Build model ``name`` (see :func:`model_spec`) for ``num_classes`` and square images of side
    ``image_size``. Unknown names raise ``KeyError`` with the valid ones."""
    model = model_spec(name).factory(num_classes, image_size)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {name!r}: the factory returned a {type(model).__name__}, not a "
                         "torch.nn.Module")
    return model


def input_transform(name: str) -> InputTransform:
    """The input scaling model ``name`` declares (see :class:`InputTransform`)."""
    return model_spec(name).input


def available_models() -> list[str]:
    """Registered model names, in registration order (``torchvision.<arch>`` names come on top:
    :func:`torchvision_architectures`)."""
    return MODELS.names()


@functools.cache
def torchvision_architectures() -> tuple[str, ...]:
    """torchvision's classification model names (``resnet18``, ``inception_v3``, ...)."""
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.cache
def _torchvision_spec(arch: str) -> ModelSpec:
    known = torchvision_architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f" (did you mean {', '.join(TORCHVISION_PREFIX + c for c in close)}?)" if close else ""
        raise KeyError(f"unknown model {TORCHVISION_PREFIX}{arch!r}{hint}: torchvision has "
                       f"{len(known)} classification models, e.g. resnet18, resnet50, vgg16, "
                       "inception_v3 (`rectbench models` lists them)")
    return _torchvision_model(arch)


def _torchvision_model(arch: str) -> ModelSpec:
    return ModelSpec(f"{TORCHVISION_PREFIX}{arch}", _torchvision_factory(arch),
                     f"torchvision {arch} (weights from --weights only)", input=IMAGENET_INPUT)


def _torchvision_factory(arch: str) -> Callable[[int, int], nn.Module]:
    def factory(num_classes: int, image_size: int) -> nn.Module:
        import torchvision

        kwargs = {"image_size": image_size} if arch.startswith("vit_") else {}
        # weights=None: this suite never downloads weights at run time; load yours with --weights.
        model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **kwargs)
        if hasattr(model, "aux_logits"):
            # Inception v3 and GoogLeNet return (logits, aux) in training mode. Their auxiliary
            # heads stay (so that torchvision's checkpoints fit), but forward returns the logits.
            model.aux_logits = False
        return model

    return factory


# Registered as well, so that listings and the compatibility table show them by name.
for _arch in ("resnet18", "vgg11"):
    MODELS.register(f"{TORCHVISION_PREFIX}{_arch}", _torchvision_model(_arch))


def _imported_spec(reference: str) -> ModelSpec:
    from bench.plugins import import_object

    obj = import_object(reference, "model")
    if isinstance(obj, ModelSpec):
        return obj
    if callable(obj) and not isinstance(obj, nn.Module):
        doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
        return ModelSpec(reference, obj, doc[0] if doc else f"user model {reference}")
    raise ValueError(f"model {reference}: names a {type(obj).__name__}; it must name a "
                     "bench.models.ModelSpec or a factory(num_classes, image_size) -> nn.Module")
