"""The backward rules RectGrad substitutes during one attribution pass, as autograd Functions.

Each Function computes the ordinary forward value and replaces only the backward pass:

* :class:`RectifiedReLU` / :class:`RectifiedReLUInplace`: ``R_in = 1[(a + eps) * R > tau] * R``
  (paper section 4.1; ``eps = 0`` is RectGrad, ``eps > 0`` with ``tau = 0`` is the rule of Claim 1).
* :func:`zero_border`: a gradient hook that zeroes a border of the gradient at a convolution's
  output (padding trick, appendix C.1); :class:`BorderPlan` lets the ReLU right after the
  convolution do it instead, inside its own rule.
* :class:`PRRMaxPool2d`: max-pooling whose backward is the proportional redistribution rule
  (appendix C.2).

``a`` is the ReLU's output and ``R`` the gradient arriving at it. The rules are stateless; what
they need is passed to ``apply`` as plain Python values (and the conv's :class:`BorderPlan`).

Speed: the ReLU rule makes four passes over its units (``a * R``; the chunk maxima of the
selection, see :mod:`methods.percentile`; ``> tau``; the ``where`` writing R into ``a * R``'s
buffer) plus selections among 2 * sqrt(n * k) candidates, and none more for a fused padding
trick. (Writing R only at the kept units of a zeroed buffer, with gather/scatter, does the mask in
no full pass but measured slower on the CPU: more, smaller operations.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from methods.percentile import per_example_percentile

__all__ = ["ReLURule", "rectify", "RectifiedReLU", "RectifiedReLUInplace", "zero_border",
           "interior_mask", "BorderPlan", "PRRMaxPool2d", "PRR_EPSILON"]

PRR_EPSILON = 1e-10
"""Stabiliser added to the average-pooled input, as in the authors' code."""


@dataclass(frozen=True)
class ReLURule:
    """What the rule at a ReLU keeps: units with ``(a + activation_eps) * R > tau``.

    Attributes:
        percentile: q in [0, 100]; tau is the per-example q-th nearest-rank percentile of
            ``(a + activation_eps) * R`` over the units of that ReLU call's output.
            Ignored when ``tau`` is set.
        tau: A constant threshold, or None for the percentile threshold.
        activation_eps: Offset added to ``a`` (0 for RectGrad; a small positive value for the
            Deconvolution rule of Claim 1).
    """

    percentile: float = 98.0
    tau: float | None = None
    activation_eps: float = 0.0


def rectify(
    activation: Tensor, grad: Tensor, rule: ReLURule, border: BorderPlan | None = None
) -> Tensor:
    """``1[(a + eps) * R > tau] * R`` for one ReLU call (strict comparison).

    Args:
        activation: a, the ReLU output, (N, ...).
        grad: R, the gradient arriving at the ReLU output, same shape.
        rule: The thresholds to apply.
        border: When the ReLU's input is a convolution's output whose padding trick this call
            took over (:class:`BorderPlan` with ``fused``), the border is zeroed here as well,
            by raising tau to +inf there: the percentile still counts every unit.

    Returns:
        The gradient passed to the ReLU input, same shape as ``grad``: a new tensor (the buffer
        of ``a * R``), +0 where the rule drops R.
    """
    if grad.numel() == 0:
        return grad
    contribution = (activation + rule.activation_eps) * grad if rule.activation_eps else (
        activation * grad
    )
    tau: Tensor | float
    if rule.tau is not None:
        tau = rule.tau
    else:
        tau = per_example_percentile(contribution, rule.percentile)
        # one threshold per example, broadcast over that example's units
        tau = tau[0] if contribution.dim() == 0 else tau.view(
            (-1,) + (1,) * (contribution.dim() - 1)
        )
    if border is not None and border.fused:
        tau = border.raise_on_border(tau, contribution)
    zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
    # "> tau" and the where are two passes (torch has no compare-and-select with a per-example
    # threshold in one); the result goes into a * R's buffer, which nothing else holds
    return torch.where(contribution > tau, grad, zero, out=contribution)


class BorderPlan:
    """The padding trick at one convolution's output, and who applies it.

    By default a gradient hook on the conv output applies it (:func:`zero_border`). When the
    output's only consumer is one ReLU call, that ReLU's rule applies it instead (``fused``), at
    almost no cost, and the hook lets the gradient through.

    Args:
        borders: One ``(before, after)`` pair per trailing spatial dimension (see
            :func:`zero_border`).
    """

    def __init__(self, borders: tuple[tuple[int, int], ...]) -> None:
        self.borders = borders
        self.fused = False

    def hook(self, grad: Tensor) -> Tensor | None:
        """Tensor hook for the conv output: :func:`zero_border` unless a ReLU took over."""
        return None if self.fused else zero_border(grad, self.borders)

    def raise_on_border(self, tau: Tensor | float, like: Tensor) -> Tensor:
        """``tau`` broadcast over ``like``'s trailing spatial dims, +inf on the border.

        Adding +0 leaves tau as it is; adding +inf makes ``x > tau`` false for every x (NaN too).
        """
        spatial = like.shape[like.dim() - len(self.borders):]
        inside = interior_mask(spatial, self.borders, like.device)
        offsets = torch.zeros(inside.shape, dtype=like.dtype, device=like.device)
        offsets.masked_fill_(~inside, float("inf"))
        return offsets.add_(tau) if isinstance(tau, float) else tau + offsets


class RectifiedReLU(torch.autograd.Function):
    """``relu(x)`` whose backward is :func:`rectify` (replaces the ReLU derivative)."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, rule: ReLURule, border: BorderPlan | None = None
    ) -> Tensor:
        out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.rule = rule  # type: ignore[attr-defined]
        ctx.border = border  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (out,) = ctx.saved_tensors
        return rectify(out, grad, ctx.rule, ctx.border), None, None


class RectifiedReLUInplace(RectifiedReLU):
    """In-place ``relu_(x)`` (mutates and returns ``x``) with the backward of :class:`RectifiedReLU`
    (inherited).

    Marked dirty so autograd's version counters see the mutation exactly as for ``torch.relu_``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Tensor, rule: ReLURule, border: BorderPlan | None = None
    ) -> Tensor:
        x.relu_()
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        ctx.rule = rule  # type: ignore[attr-defined]
        ctx.border = border  # type: ignore[attr-defined]
        return x


def zero_border(grad: Tensor, borders: tuple[tuple[int, int], ...]) -> Tensor:
    """``grad`` with a border set to +0, as a new tensor (the padding trick, appendix C.1).

    Used as a tensor hook on a convolution's output, so it acts on the gradient arriving there
    before the convolution's backward. (A tensor hook rather than an identity Function: a custom
    Function's view output could not be followed by an in-place ReLU.) One vectorised pass against
    a small (*spatial) mask broadcast over batch and channels.

    Args:
        grad: Gradient w.r.t. the conv output, (N, C, *spatial) or (C, *spatial).
        borders: One ``(before, after)`` pair per trailing spatial dimension: that many leading /
            trailing positions are zeroed (clamped to the size).
    """
    spatial = grad.shape[grad.dim() - len(borders):]
    inside = interior_mask(spatial, borders, grad.device).to(grad.dtype)
    # threshold_backward(g, m, 0.5) = g where m > 0.5 else +0: one vectorised pass, like ReLU's
    return torch.ops.aten.threshold_backward(grad, inside, 0.5)


def interior_mask(
    spatial: torch.Size | tuple[int, ...],
    borders: tuple[tuple[int, int], ...],
    device: torch.device,
) -> Tensor:
    """Bool (*spatial) mask, False on the border that :func:`zero_border` zeroes."""
    mask = torch.ones(tuple(spatial), dtype=torch.bool, device=device)
    for dim, ((before, after), size) in enumerate(zip(borders, spatial, strict=True)):
        if before > 0:
            mask.narrow(dim, 0, min(before, size)).fill_(False)
        if after > 0:
            width = min(after, size)
            mask.narrow(dim, size - width, width).fill_(False)
    return mask


class PRRMaxPool2d(torch.autograd.Function):
    """2-D max-pooling whose backward is the proportional redistribution rule (appendix C.2).

    With x the pool input: ``z = avgpool(x) + 1e-10``, ``s = R_out / z``,
    ``c = avgpool_backward(s)``, ``R_in = x * c`` (same kernel, stride, padding, ceil_mode; the
    average counts only real inputs, like TensorFlow's SAME pooling). Returns ``(out, indices)``;
    the indices are those of ``F.max_pool2d(..., return_indices=True)``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        ceil_mode: bool,
    ) -> tuple[Tensor, Tensor]:
        out, indices = F.max_pool2d(
            x, kernel_size, stride, padding, 1, ceil_mode=ceil_mode, return_indices=True
        )
        ctx.save_for_backward(x)
        ctx.pool = (kernel_size, stride, padding, ceil_mode)  # type: ignore[attr-defined]
        ctx.mark_non_differentiable(indices)
        return out, indices

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor, _grad_indices: Tensor | None) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        kernel_size, stride, padding, ceil_mode = ctx.pool
        z = F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad=False)
        s = torch.div(grad, z.add_(PRR_EPSILON), out=z)  # z is ours: no further buffers
        c = torch.ops.aten.avg_pool2d_backward(
            s, x, kernel_size, stride, padding, ceil_mode, False, None
        )
        return c.mul_(x), None, None, None, None
