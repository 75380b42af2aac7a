"""Classifiers the benchmark runs on: the RectGrad paper's CIFAR CNN and torchvision models.

All models take images as float tensors of shape (N, 3, H, W) scaled to [-1, 1] (``x / 127.5 - 1``,
the paper's input scaling) and return logits of shape (N, num_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from common.registry import Registry

__all__ = ["PaperCNN", "ModelSpec", "MODELS", "available_models", "create_model", "glorot_init_"]


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
    """A registered model: ``factory(num_classes, image_size) -> nn.Module`` and a description."""

    name: str
    factory: Callable[[int, int], nn.Module]
    description: str


MODELS: Registry[ModelSpec] = Registry("model")


def _register(name: str, description: str) -> Callable[[Callable[[int, int], nn.Module]], Callable]:
    def wrap(factory: Callable[[int, int], nn.Module]) -> Callable[[int, int], nn.Module]:
        MODELS.register(name, ModelSpec(name, factory, description))
        return factory

    return wrap


@_register("paper_cnn", "RectGrad paper's CIFAR-10 CNN (4 conv, 2 maxpool, 2 dense), Glorot init")
def _paper_cnn(num_classes: int, image_size: int) -> nn.Module:
    return PaperCNN(num_classes=num_classes, image_size=image_size)


def _torchvision(arch: str) -> Callable[[int, int], nn.Module]:
    def factory(num_classes: int, image_size: int) -> nn.Module:
        import torchvision

        # weights=None: this suite never downloads weights at run time; train or load them yourself.
        return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)

    return factory


for _arch in ("resnet18", "vgg11"):
    _register(f"torchvision.{_arch}", f"torchvision {_arch} (untrained; ReLU network)")(
        _torchvision(_arch)
    )


def available_models() -> list[str]:
    """Registered model names, in registration order."""
    return MODELS.names()


def create_model(name: str, num_classes: int = 10, image_size: int = 32) -> nn.Module:
    """Build the model registered as ``name``. Unknown names raise ``KeyError`` with the valid ones."""
    return MODELS.get(name).factory(num_classes, image_size)
