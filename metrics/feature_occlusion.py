"""Feature-map occlusion (RectGrad paper, Figure 3): how much do object and background units matter?

The paper's motivation for RectGrad: zeroing a growing random share of a conv layer's *background*
activations barely moves the decision, while zeroing *object* activations does. So background
features pass through the ReLUs without mattering, and their gradient is the noise in a saliency
map. Here, on images with object masks, a forward hook multiplies the chosen layer's output by a
0/1 mask that zeroes a growing, randomly ordered share of the object (or background) units, and
records the margin ``logit[target] - max(other logits)`` at each share.

Follows the authors' notebook ("2. CIFAR-10 Feature Map Occlusion"): units are all ``C * h * w``
activations of the layer inside the region (the mask broadcast over channels), one random order per
trial, 50 trials. Differences, by choice: the share grid is ``steps`` points from 0 to 1 (theirs:
100); the margin is computed per trial and then averaged (they averaged the logits over trials and
took the margin of the average, which the max makes slightly larger); the mask is downsampled to the
layer by ``mask_downsample`` (theirs: a bicubic resize of the 0/1 mask, close to ``"area"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MaskDownsample",
    "downsample_mask",
    "logit_margin",
    "CurveSummary",
    "FeatureOcclusionCurves",
    "feature_occlusion",
]

MaskDownsample = Literal["area", "max", "nearest"]


def downsample_mask(mask: Tensor, size: tuple[int, int], mode: MaskDownsample = "area") -> Tensor:
    """Object masks (N, H, W) bool -> (N, h, w) bool at a layer's resolution.

    Modes (each cell of the layer covers a block of pixels; adaptive pooling splits H, W as evenly
    as possible when they are not multiples of h, w):

    * ``"area"``: the cell is object when at least half of its pixels are (majority vote).
    * ``"max"``: the cell is object when any of its pixels is (the object grows by up to a cell).
    * ``"nearest"``: the pixel nearest to the cell's origin decides (``F.interpolate`` nearest).

    A mask already at ``size`` is returned as it is.
    """
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.dim() != 3:
        raise ValueError("mask must be a bool tensor of shape (N, H, W)")
    if mode not in ("area", "max", "nearest"):
        raise ValueError(f"mask_downsample must be 'area', 'max' or 'nearest', got {mode!r}")
    size = (int(size[0]), int(size[1]))
    if tuple(mask.shape[1:]) == size:
        return mask
    values = mask.unsqueeze(1).float()
    if mode == "area":
        return (F.adaptive_avg_pool2d(values, size) >= 0.5).squeeze(1)
    if mode == "max":
        return (F.adaptive_max_pool2d(values, size) > 0).squeeze(1)
    return (F.interpolate(values, size=size, mode="nearest") > 0).squeeze(1)


def logit_margin(logits: Tensor, target: Tensor) -> Tensor:
    """``logits[i, target[i]] - max_{k != target[i]} logits[i, k]`` for (B, K) logits: > 0 when the
    target class wins. ``target`` is (B,) int64 or a scalar broadcast over rows."""
    target = target.expand(logits.shape[0]) if target.dim() == 0 else target
    chosen = logits.gather(1, target.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, target.view(-1, 1), float("-inf"))
    return chosen - others.amax(dim=1)


@dataclass(frozen=True)
class CurveSummary:
    """One curve with its interval, each (S,): ``mean``, ``low``, ``high``."""

    mean: Tensor
    low: Tensor
    high: Tensor


@dataclass(frozen=True)
class FeatureOcclusionCurves:
    """What :func:`feature_occlusion` returns.

    Attributes:
        fractions: (S,) share of the region's units zeroed, from 0 to 1.
        object_margins: (N, T, S) margin per image, trial and share, object units zeroed.
        background_margins: (N, T, S) the same with background units zeroed. NaN rows for an image
            whose region is empty at the layer's resolution.
    """

    fractions: Tensor
    object_margins: Tensor
    background_margins: Tensor

    def summary(
        self, region: Literal["object", "background"], interval: float = 95.0
    ) -> CurveSummary:
        """Mean margin per share over images and trials, and the central ``interval`` % of the
        N x T values at each share (percentiles, linear interpolation; NaN rows are left out)."""
        if region not in ("object", "background"):
            raise ValueError(f"region must be 'object' or 'background', got {region!r}")
        if not 0 < interval <= 100:
            raise ValueError(f"interval must be in (0, 100], got {interval!r}")
        margins = self.object_margins if region == "object" else self.background_margins
        pooled = margins.reshape(-1, margins.shape[-1])
        tail = (100.0 - interval) / 200.0
        q = torch.tensor([tail, 1.0 - tail], dtype=pooled.dtype, device=pooled.device)
        low, high = torch.nanquantile(pooled, q, dim=0)
        return CurveSummary(pooled.nanmean(dim=0), low, high)


def _layer_output_shape(model: nn.Module, layer: nn.Module, x: Tensor) -> torch.Size:
    shapes: list[torch.Size] = []

    def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
        shapes.append(output.shape if isinstance(output, Tensor) else torch.Size())

    handle = layer.register_forward_hook(record)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if len(shapes) != 1:
        raise ValueError(f"layer must be called exactly once per forward pass, it was called "
                         f"{len(shapes)} times")
    if len(shapes[0]) != 4:
        raise ValueError(f"layer must output a (N, C, h, w) tensor, got shape {tuple(shapes[0])}")
    return shapes[0]


def _occlusion_keep(region: Tensor, channels: int, trials: int, fractions: Tensor,
                    generator: torch.Generator) -> Tensor:
    """(T, S, C * h * w) 0/1 keep masks: for trial t a random order of the region's units, and at
    share f_s its first ``round(f_s * n)`` units zeroed. Units outside the region are always kept."""
    inside = region.reshape(1, -1).expand(channels, -1).reshape(-1)  # (C * h * w,)
    n = int(inside.sum())
    scores = torch.rand(trials, inside.numel(), generator=generator)
    scores[:, ~inside] = 2.0  # after every region unit: never among the first n
    position = scores.argsort(dim=1).argsort(dim=1)  # (T, U) place of each unit in the order
    counts = torch.round(fractions.double() * n).long()  # (S,)
    return position.unsqueeze(1) >= counts.view(1, -1, 1)


def _margins(model: nn.Module, layer: nn.Module, image: Tensor, target: Tensor, keep: Tensor,
             batch_size: int) -> Tensor:
    """Margins for one image under each keep mask; keep is (R, C, h, w) bool -> (R,)."""
    current: list[Tensor] = []

    def occlude(_module: nn.Module, _inputs: Any, output: Tensor) -> Tensor:
        return output * current[0]

    handle = layer.register_forward_hook(occlude)
    out = []
    try:
        with torch.no_grad():
            for chunk in keep.split(batch_size):
                current[:] = [chunk.to(dtype=image.dtype, device=image.device)]
                logits = model(image.expand(chunk.shape[0], *image.shape[1:]))
                out.append(logit_margin(logits, target))
    finally:
        handle.remove()
    return torch.cat(out)


def feature_occlusion(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    foreground: Tensor,
    layer: nn.Module,
    *,
    trials: int = 50,
    steps: int = 21,
    seed: int = 0,
    mask_downsample: MaskDownsample = "area",
    batch_size: int = 1024,
) -> FeatureOcclusionCurves:
    """Margin curves as a growing random share of a layer's object / background units is zeroed.

    The paper's reading (Fig. 3): the object curve falls, the background curve stays nearly flat,
    so most background activations do not matter to the decision (and their gradients are noise).
    The margin is ``logit[target] - max(other logits)`` (> 0 while the target class wins).

    Args:
        model: Classifier (eval mode) returning logits (B, K).
        images: Model input (N, C, H, W), floating.
        targets: int64 (N,) class whose margin is tracked (the paper: the true class of correctly
            classified images).
        foreground: bool (N, H, W) object masks, True on the object.
        layer: A submodule of ``model`` called once per forward pass whose output (B, C', h, w) is
            occluded (the paper: the ReLU output of a conv layer, e.g. ``model.features[1]``).
        trials: Random orders per image and region (T). Default: 50 (the paper's).
        steps: Points of the share grid ``linspace(0, 1, steps)`` (S). Default: 21 (paper: 100).
        seed: Seed of the random orders (one generator for the call; a run is deterministic).
        mask_downsample: How the mask reaches the layer's resolution, see :func:`downsample_mask`.
        batch_size: Occluded copies per forward pass (memory knob).

    Returns:
        :class:`FeatureOcclusionCurves` with (N, T, S) margins per region; ``.summary(region)``
        gives the mean curve and a percentile interval. Cost: ``2 * N * T * S`` forward passes.
    """
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4:
        raise ValueError("images must be a floating tensor of shape (N, C, H, W)")
    n = images.shape[0]
    if not isinstance(targets, Tensor) or targets.shape != (n,) or targets.dtype != torch.int64:
        raise ValueError(f"targets must be an int64 tensor of shape ({n},)")
    if not isinstance(foreground, Tensor) or foreground.dtype != torch.bool or (
        foreground.shape != (n, *images.shape[2:])
    ):
        raise ValueError(f"foreground must be a bool tensor of shape {(n, *images.shape[2:])}")
    for name, value, low in (("trials", trials, 1), ("steps", steps, 2), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")

    shape = _layer_output_shape(model, layer, images[:1])
    channels, size = shape[1], (shape[2], shape[3])
    regions = downsample_mask(foreground.cpu(), size, mask_downsample)
    fractions = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    generator = torch.Generator().manual_seed(int(seed))
    curves = torch.full((2, n, trials, steps), float("nan"), dtype=images.dtype)
    for i in range(n):  # one image at a time: its T * S occluded copies form the batch
        for r, region in enumerate((regions[i], ~regions[i])):
            if not bool(region.any()):
                continue
            keep = _occlusion_keep(region, channels, trials, fractions, generator)
            keep = keep.reshape(trials * steps, channels, *size)
            margins = _margins(model, layer, images[i : i + 1], targets[i], keep, batch_size)
            curves[r, i] = margins.reshape(trials, steps).cpu()
    empty = [int((~regions.flatten(1).any(1)).sum()), int(regions.flatten(1).all(1).sum())]
    if any(empty):
        warnings.warn(
            f"feature_occlusion: {empty[0]} images without object units and {empty[1]} without "
            f"background units at the layer's resolution {size}; their curves are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return FeatureOcclusionCurves(fractions.to(images.dtype), curves[0], curves[1])
