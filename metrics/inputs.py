"""What a per-image metric may read: the maps and, for model-based metrics, the model and data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MetricInputs", "Attribute"]

Attribute = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(inputs (N, C, H, W) float, target int64 (N,)) -> attributions (N, C, H, W)``."""


@dataclass
class MetricInputs:
    """Everything a registered per-image metric may need; each metric states which fields it reads
    in ``MetricSpec.requires`` and raises ``ValueError`` naming a missing one.

    Attributes:
        maps: Float (N, H, W) maps of the method under test (``methods.to_map``).
        model: The classifier the maps explain (eval mode), or None for map-only metrics.
        images: Float model input (N, C, H, W) (``bench.data.to_model_input``), or None.
        labels: int64 (N,) true classes, or None.
        targets: int64 (N,) explained classes (the paper: the predicted class), or None.
        foreground: Bool (N, H, W) object masks, True on the object.
        patch_box: ``(top, left, height, width)`` of the pasted patch; None = the paper's
            top-left 8x8.
        attribute: The method under test as a callable ``(inputs, target) -> attributions``, for
            metrics that must explain new inputs or a changed model (Quantus' ``explain_func``).
    """

    maps: torch.Tensor
    model: nn.Module | None
    images: torch.Tensor | None
    labels: torch.Tensor | None
    targets: torch.Tensor | None
    foreground: torch.Tensor | None = None
    patch_box: tuple[int, int, int, int] | None = None
    attribute: Attribute | None = None
