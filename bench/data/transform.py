"""How a model wants its images: :class:`InputTransform`, ``uint8`` pixels -> ``float32`` input.

A model declares its input scaling in its :class:`bench.models.ModelSpec`; the run carries it
(``RunContext.input_transform``) and applies it wherever a model sees images (training,
prediction, attribution, scoring). Two kinds:

- a value range ``[low, high]``: pixel 0 -> ``low``, 255 -> ``high``, linear. The RectGrad paper's
  ``[-1, 1]`` (:data:`PAPER_INPUT`, exactly :func:`bench.data.to_model_input`) is the default;
- per-channel ``mean``/``std`` on the ``[0, 1]`` scale, as torchvision's models expect
  (:data:`IMAGENET_INPUT`): ``(pixels / 255 - mean) / std``.

Attributions are taken with respect to the transformed input, so maps of two models with different
transforms are in different units; the metrics that read only maps (their ranking, their shares)
do not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bench.data.imageset import to_model_input

__all__ = ["InputTransform", "PAPER_INPUT", "IMAGENET_INPUT"]


@dataclass(frozen=True)
class InputTransform:
    """``uint8`` images (..., C, H, W) -> ``float32`` model input of the same shape.

    Attributes:
        low: Value of pixel 0 (range kind; default -1, the paper's).
        high: Value of pixel 255 (range kind; default 1).
        mean: Per-channel means on the [0, 1] scale (mean/std kind); empty for the range kind.
        std: Per-channel standard deviations on the [0, 1] scale, > 0; same length as ``mean``.
    """

    low: float = -1.0
    high: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean and std must have one value per channel each, got "
                             f"{len(self.mean)} and {len(self.std)}")
        if self.mean and (self.low, self.high) != (-1.0, 1.0):
            raise ValueError("give either a value range (low, high) or mean/std, not both")
        values = (self.low, self.high, *self.mean, *self.std)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"low, high, mean and std must be finite numbers, got {values}")
        if not self.high > self.low:
            raise ValueError(f"high must be greater than low, got low={self.low}, high={self.high}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be > 0, got {self.std}")

    @property
    def kind(self) -> str:
        """``"range"`` or ``"mean_std"``."""
        return "mean_std" if self.mean else "range"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Transform ``uint8`` images (values 0..255, channels at dim -3) on their device.

        Raises:
            ValueError: ``images`` is not ``uint8``, or its channel count differs from ``mean``'s.
        """
        if self == PAPER_INPUT:
            return to_model_input(images)  # bit for bit the paper's scaling
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a uint8 tensor (values 0..255), got {got}")
        x = images.to(torch.float32)
        if not self.mean:
            return x.div_(255.0 / (self.high - self.low)).add_(self.low)
        if images.dim() < 3 or images.shape[-3] != len(self.mean):
            raise ValueError(f"images must have {len(self.mean)} channels at dim -3 for this "
                             f"mean/std, got shape {tuple(images.shape)}")
        shape = (len(self.mean), 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(shape)
        return x.div_(255.0).sub_(mean).div_(std)

    def describe(self) -> str:
        """One phrase, e.g. ``"range [-1, 1]"`` or ``"mean (0.485, ...) / std (0.229, ...)"``."""
        if not self.mean:
            return f"range [{self.low:g}, {self.high:g}]"
        mean = ", ".join(f"{v:g}" for v in self.mean)
        std = ", ".join(f"{v:g}" for v in self.std)
        return f"mean ({mean}) / std ({std}) on [0, 1]"


#: The RectGrad paper's scaling: ``images / 127.5 - 1`` in [-1, 1] (the default).
PAPER_INPUT = InputTransform()

#: torchvision's ImageNet normalisation (its models' documented preprocessing).
IMAGENET_INPUT = InputTransform(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
