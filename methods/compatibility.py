"""Which registered methods give meaningful maps for a model, found out before any training.

Some combinations cannot work, and which ones depends on the architecture and the input size, not
on the weights: RectGrad's padding trick wipes the gradient of ResNet-18 and VGG-11 at 32 px (their
last stages have 1x1 / 2x2 maps inside the zeroed border), Captum's DeepLift refuses a ReLU module
called twice (torchvision's ResNet blocks), RectGrad cannot see inside TorchScript. The attribution
objects raise ``ValueError`` with the reason when they meet these cases; :func:`check_compatible`
meets them on purpose, with a seeded probe batch, so that a runner can refuse a configured
(method, model) pair before it trains anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.catalog import create_method

__all__ = ["Compatibility", "compatibility", "check_compatible", "PROBE_IMAGES"]

PROBE_IMAGES = 2
"""Images in the probe batch: seeded uniform values in [-1, 1] (the models' input range)."""


@dataclass(frozen=True)
class Compatibility:
    """The outcome of probing one method on one model.

    Attributes:
        method: Registry name.
        status: ``"ok"``, ``"error"`` (the method raised) or ``"all-zero maps"``.
        reason: The error message, or why the maps are all zero; empty when ok.
    """

    method: str
    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def cell(self) -> str:
        """Short table text: ``ok``, ``error: <first clause of the reason>`` or ``all-zero maps``."""
        if self.status != "error":
            return self.status
        first = self.reason
        for stop in (" (", ":", ";", ". ", ", but", " of example"):
            first = first.split(stop)[0]
        return f"error: {first.rstrip('.')}"


def _probe_batch(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else (
        torch.float32)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((PROBE_IMAGES, *input_shape), generator=generator) * 2 - 1
    return images.to(device=device, dtype=dtype)


def _predicted(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            return model(images).argmax(dim=1)
    finally:
        for m, training in modes:
            m.training = training


def compatibility(
    method: str, model: nn.Module, input_shape: Sequence[int], **overrides: Any
) -> Compatibility:
    """Attribute a seeded probe batch with ``method`` and report what happened.

    Args:
        method: A registered method name.
        model: The classifier (weights do not matter for the known cases: untrained is fine).
        input_shape: One input's shape ``(C, H, W)``, e.g. ``(3, 32, 32)``.
        **overrides: Settings passed to :func:`methods.create_method`.

    Returns:
        A :class:`Compatibility`; "all-zero maps" when some probe image's attribution is exactly
        zero everywhere. Warnings raised by the method are not errors.
    """
    images = _probe_batch(model, input_shape)
    try:
        target = _predicted(model, images)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attributions = create_method(method, model, **overrides).attribute(
                images, target=target)
    except (ValueError, RuntimeError, AssertionError, TypeError, IndexError) as error:
        return Compatibility(method, "error", str(error).strip() or type(error).__name__)
    zero = (attributions.detach().reshape(PROBE_IMAGES, -1) == 0).all(dim=1)
    if bool(zero.any()):
        return Compatibility(method, "all-zero maps", (
            f"{int(zero.sum())} of {PROBE_IMAGES} probe images get an attribution that is "
            "exactly zero everywhere"))
    return Compatibility(method, "ok")


def check_compatible(
    method: str, model: nn.Module, input_shape: Sequence[int], **overrides: Any
) -> None:
    """Raise ``ValueError`` with the reason if ``method`` cannot give meaningful maps for ``model``.

    Call it once per configured (method, model, image size) before training: the known failures
    depend on the architecture and the input size only. Costs one attribution of
    :data:`PROBE_IMAGES` images.

    Example::

        >>> check_compatible("rectgrad", resnet18, (3, 32, 32))
        ValueError: rectgrad cannot be used with this model: padding_trick zeroed the entire ...
    """
    result = compatibility(method, model, input_shape, **overrides)
    if not result.ok:
        raise ValueError(f"{method} cannot be used with this model ({result.status}): "
                         f"{result.reason}")
