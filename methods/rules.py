"""The backward rules RectGrad substitutes during one attribution pass, as autograd Functions.

Each Function computes the ordinary forward value and replaces only the backward pass:

* :class:`RectifiedReLU` / :class:`RectifiedReLUInplace`: ``R_in = 1[(a + eps) * R > tau] * R``
  (paper section 4.1; ``eps = 0`` is RectGrad, ``eps > 0`` with ``tau = 0`` is the rule of Claim 1).
* :func:`zero_border`: a gradient hook that zeroes a border of the gradient at a convolution's
  output (padding trick, appendix C.1).
* :class:`PRRMaxPool2d`: max-pooling whose backward is the proportional redistribution rule
  (appendix C.2).

``a`` is the ReLU's output and ``R`` the gradient arriving at it. The rules are stateless; what
they need is passed to ``apply`` as plain Python values.
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
           "PRRMaxPool2d", "PRR_EPSILON"]

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


def rectify(activation: Tensor, grad: Tensor, rule: ReLURule) -> Tensor:
    """``1[(a + eps) * R > tau] * R`` for one ReLU call (strict comparison).

    Args:
        activation: a, the ReLU output, (N, ...).
        grad: R, the gradient arriving at the ReLU output, same shape.
        rule: The thresholds to apply.

    Returns:
        The gradient passed to the ReLU input, same shape as ``grad``.
    """
    if grad.numel() == 0:
        return grad
    contribution = (activation + rule.activation_eps) * grad if rule.activation_eps else (
        activation * grad
    )
    if rule.tau is not None:
        keep = contribution > rule.tau
    else:
        tau = per_example_percentile(contribution, rule.percentile)
        # one threshold per example, broadcast over that example's units
        tau = tau[0] if contribution.dim() == 0 else tau.reshape(
            (-1,) + (1,) * (contribution.dim() - 1)
        )
        keep = contribution > tau
    return torch.where(keep, grad, torch.zeros((), dtype=grad.dtype, device=grad.device))


class RectifiedReLU(torch.autograd.Function):
    """``relu(x)`` whose backward is :func:`rectify` (replaces the ReLU derivative)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, rule: ReLURule) -> Tensor:
        out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.rule = rule  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return rectify(out, grad, ctx.rule), None


class RectifiedReLUInplace(torch.autograd.Function):
    """In-place ``relu_(x)`` (mutates and returns ``x``) with the backward of :class:`RectifiedReLU`.

    Marked dirty so autograd's version counters see the mutation exactly as for ``torch.relu_``.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, rule: ReLURule) -> Tensor:
        x.relu_()
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        ctx.rule = rule  # type: ignore[attr-defined]
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return rectify(out, grad, ctx.rule), None


def zero_border(grad: Tensor, borders: tuple[tuple[int, int], ...]) -> Tensor:
    """A copy of ``grad`` with a border set to zero (the padding trick, appendix C.1).

    Used as a tensor hook on a convolution's output, so it acts on the gradient arriving there
    before the convolution's backward. (A tensor hook rather than an identity Function: a custom
    Function's view output could not be followed by an in-place ReLU.)

    Args:
        grad: Gradient w.r.t. the conv output, (N, C, *spatial) or (C, *spatial).
        borders: One ``(before, after)`` pair per trailing spatial dimension: that many leading /
            trailing positions are zeroed (clamped to the size).
    """
    out = grad.clone()
    first = grad.dim() - len(borders)
    for offset, (before, after) in enumerate(borders):
        dim = first + offset
        size = out.shape[dim]
        if before > 0:
            out.narrow(dim, 0, min(before, size)).zero_()
        if after > 0:
            width = min(after, size)
            out.narrow(dim, size - width, width).zero_()
    return out


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
        s = grad / (z + PRR_EPSILON)
        c = torch.ops.aten.avg_pool2d_backward(
            s, x, kernel_size, stride, padding, ceil_mode, False, None
        )
        return x * c, None, None, None, None
