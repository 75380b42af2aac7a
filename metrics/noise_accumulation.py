"""Noise accumulation through the layers (RectGrad paper, Figure 6), as numbers.

The paper's hypothesis: saliency maps are noisy because gradients of irrelevant (background)
features pass through the ReLUs, and the noise accumulates layer after layer on the way back to the
input; RectGrad's layer-wise threshold stops it. Figure 6 shows the intermediate "attribution maps"
of both methods. Here each of them becomes one number: the share of the map's mass that lies off the
object, at the input and at the input of every ReLU layer.

Attribution at a layer = ``z * dy/dz`` where ``z`` is the layer's input (the pre-activation of a
ReLU, or the image) and ``dy/dz`` the gradient of the target logit arriving there under the method's
backward rules (the plain gradient for Saliency; the rectified one, with padding trick / PRR as
configured, for RectGrad). The map is its channel sum, in absolute value; the object mask is
downsampled to the layer's resolution (:func:`metrics.feature_occlusion.downsample_mask`). No final
zero threshold is applied at any layer, so the input layer's map is Gradient x Input for Saliency
and ``RectGrad.attribute(..., final_threshold=False)`` for RectGrad (checked by the tests).

Limitations: layers are found as ``nn.ReLU`` modules (forward pre-hooks capture their input), so
ReLUs written as ``F.relu`` / ``torch.relu`` calls are not reported (RectGrad's rules still apply
to them); ReLUs whose input is not (N, C, h, w) (dense layers) have no spatial map and are skipped.
A module called several times is reported once per call (``name#2``, ...).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from methods.intercept import RectGradMode
from methods.rectgrad import RectGrad
from metrics.feature_occlusion import MaskDownsample, downsample_mask

__all__ = ["NoiseAccumulation", "layer_attributions", "noise_accumulation"]


@dataclass(frozen=True)
class NoiseAccumulation:
    """What :func:`noise_accumulation` returns.

    Attributes:
        layers: ``"input"``, then the qualified names of the ``nn.ReLU`` modules whose input is
            (N, C, h, w), in call order (L names).
        background_share: (N, L) share of |map| off the object at each layer, in [0, 1]; NaN where
            the map is all zero.
    """

    layers: tuple[str, ...]
    background_share: Tensor


@contextlib.contextmanager
def _capture_relu_inputs(model: nn.Module, captured: list[tuple[str, Tensor]]) -> Iterator[None]:
    """Record the input of every ``nn.ReLU`` call of ``model`` into ``captured`` (name, tensor).

    An in-place ReLU gets a copy of its input, so the recorded tensor keeps the pre-activation
    values (and gradients flow through the copy to it)."""
    names = {module: name for name, module in model.named_modules() if isinstance(module, nn.ReLU)}
    calls: dict[str, int] = {}

    def record(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        z = args[0] if args else None
        if not isinstance(z, Tensor):
            return None
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        captured.append((name if calls[name] == 1 else f"{name}#{calls[name]}", z))
        if getattr(module, "inplace", False):
            return (z.clone(), *args[1:])
        return None

    handles = [module.register_forward_pre_hook(record) for module in names]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def layer_attributions(
    model: nn.Module, images: Tensor, targets: Tensor, *, method: RectGrad | None = None
) -> list[tuple[str, Tensor]]:
    """``z * dy/dz`` at the input and at every ``nn.ReLU`` call's input, in call order.

    Args:
        model: Classifier (eval mode) returning logits (N, K); its ReLUs are ``nn.ReLU`` modules.
        images: Model input (N, C, H, W), floating; not modified.
        targets: int64 (N,) class whose logit ``y`` is explained.
        method: None for the plain gradient (Saliency); a :class:`methods.RectGrad` for its rules
            (its ``rule``, ``padding_trick`` and ``prr``; its model is not used).

    Returns:
        ``[("input", x * dy/dx), (relu_name, z * dy/dz), ...]``, each shaped like its tensor
        (dense layers included), detached. ``dy/dz`` is the gradient as it arrives at ``z``: for
        RectGrad with the padding trick, a conv output's border is zeroed after that, inside the
        conv's backward, so the trick shows in the layers below the conv, not at its output.
    """
    if method is not None and not isinstance(method, RectGrad):
        raise ValueError(f"method must be None (Saliency) or a RectGrad, got {type(method)!r}")
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4:
        raise ValueError("images must be a floating tensor of shape (N, C, H, W)")
    if not isinstance(targets, Tensor) or targets.shape != images.shape[:1] or (
        targets.dtype != torch.int64
    ):
        raise ValueError(f"targets must be an int64 tensor of shape ({images.shape[0]},)")
    x = images.detach().clone().requires_grad_(True)
    captured: list[tuple[str, Tensor]] = []
    mode = (
        RectGradMode(method.rule, padding_trick=method.padding_trick, prr=method.prr)
        if method is not None
        else contextlib.nullcontext()
    )
    with torch.enable_grad():
        with _capture_relu_inputs(model, captured), mode:
            logits = model(x)
        if not captured:
            raise ValueError("no nn.ReLU module was called in the forward pass: noise_accumulation "
                             "finds layers as nn.ReLU modules (F.relu calls are not seen)")
        if isinstance(mode, RectGradMode) and mode.relu_calls == 0:
            raise ValueError("RectGrad's rules met no ReLU on the gradient path")
        selected = logits.gather(1, targets.view(-1, 1).to(logits.device)).sum()
        tensors = [x] + [z for _, z in captured]
        grads = torch.autograd.grad(selected, tensors, allow_unused=True)
    names = ["input"] + [name for name, _ in captured]
    return [
        (name, (z.detach() * g) if g is not None else torch.zeros_like(z.detach()))
        for name, z, g in zip(names, tensors, grads, strict=True)
    ]


def noise_accumulation(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    foreground: Tensor,
    *,
    method: RectGrad | None = None,
    mask_downsample: MaskDownsample = "area",
) -> NoiseAccumulation:
    """Share of attribution mass off the object at the input and at each ReLU layer's input.

    Lower is better at every layer (mass off the object is noise, by the paper's hypothesis); the
    paper's claim is that for Saliency the share grows from the top layers towards the input while
    RectGrad keeps it low. Per layer: ``m = |sum_c z * dy/dz|`` (N, h, w), mask ``M`` the object
    mask downsampled to (h, w), share = ``sum(m * ~M) / sum(m)``. See the module docstring for the
    layers found and the limitations.

    Args:
        model: Classifier (eval mode) returning logits (N, K), ReLUs as ``nn.ReLU`` modules.
        images: Model input (N, C, H, W), floating.
        targets: int64 (N,) explained class (the paper: the predicted class).
        foreground: bool (N, H, W) object masks, True on the object.
        method: None (Saliency: plain gradients) or a :class:`methods.RectGrad` (its rules).
        mask_downsample: ``"area"``, ``"max"`` or ``"nearest"`` (see ``downsample_mask``).

    Returns:
        :class:`NoiseAccumulation`: layer names and an (N, L) tensor in [0, 1] (NaN with one
        warning where a layer's map is all zero).
    """
    if not isinstance(foreground, Tensor) or foreground.dtype != torch.bool or (
        not isinstance(images, Tensor) or foreground.shape != (images.shape[0], *images.shape[2:])
    ):
        expected = (images.shape[0], *images.shape[2:]) if isinstance(images, Tensor) else "(N, H, W)"
        raise ValueError(f"foreground must be a bool tensor of shape {expected}")
    layers = [(name, a) for name, a in layer_attributions(model, images, targets, method=method)
              if a.dim() == 4]
    shares = []
    for _, attribution in layers:
        magnitude = attribution.sum(dim=1).abs()  # (N, h, w)
        mask = downsample_mask(foreground, tuple(magnitude.shape[1:]), mask_downsample)
        total = magnitude.sum(dim=(1, 2))
        outside = magnitude.masked_fill(mask.to(magnitude.device), 0).sum(dim=(1, 2))
        shares.append(torch.where(total > 0, outside / total, torch.full_like(total, float("nan"))))
    share = torch.stack(shares, dim=1)
    undefined = int(torch.isnan(share).sum())
    if undefined:
        warnings.warn(
            f"noise_accumulation: {undefined} of {share.numel()} values are undefined (all-zero "
            "map at that layer) and set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    return NoiseAccumulation(tuple(name for name, _ in layers), share)
