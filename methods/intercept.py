"""Routing a model's ReLU, convolution and max-pool calls through RectGrad's rules.

A :class:`RectGradMode` (a ``torch.overrides.TorchFunctionMode``) is entered for the forward pass
of one attribution call only. It sees every call of the functions below, whatever form the model
uses, and swaps in the rules of :mod:`methods.rules`; the backward pass runs after the mode is
left. Nothing is registered on the model, so nothing can be left behind.

What the mode sees (checked by tests, one per form):

* ReLU: ``nn.ReLU`` (also ``inplace=True``) and ``F.relu`` arrive as ``F.relu``;
  ``torch.relu``, ``torch.relu_`` (= ``F.relu_``), ``Tensor.relu``, ``Tensor.relu_`` arrive as
  themselves. Each call is its own layer (a module called twice is two layers).
* Convolution: ``nn.Conv{1,2,3}d`` and ``F.conv{1,2,3}d`` arrive as ``torch.conv{1,2,3}d``.
  A non-zero ``padding_mode`` pads with ``F.pad`` first and convolves with padding 0, so it gets
  no padding trick, as it should (its border is not zeros).
* Max-pooling: ``nn.MaxPool2d`` and ``F.max_pool2d`` arrive as the ``boolean_dispatch`` wrapper
  ``F.max_pool2d``; ``torch.max_pool2d`` and ``F.max_pool2d_with_indices`` as themselves.
* Other activations (sigmoid, tanh, GELU, SiLU, ELU, leaky ReLU, hardtanh/ReLU6, softplus, ...)
  are recorded by name and otherwise left alone: their ordinary gradient passes through.

Not recognised as ReLUs: ``clamp(min=0)``, ``F.threshold`` and hand-written ``x * (x > 0)``; they
keep their ordinary gradient (``F.threshold`` is reported with the other activations).

Padding trick: a gradient hook on each padded convolution's output zeroes the border. When the very
next call is a ReLU on that output and nothing else ever takes the output as an argument (the mode
watches every later call), the ReLU's rule zeroes the border instead and the hook stands aside
(:class:`methods.rules.BorderPlan`): same result, one pass over the gradient fewer.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from methods.rules import BorderPlan, PRRMaxPool2d, RectifiedReLU, RectifiedReLUInplace, ReLURule

__all__ = ["RectGradMode", "OTHER_ACTIVATIONS"]

_RELU_OUT_OF_PLACE = (torch.relu, torch.Tensor.relu)
_RELU_INPLACE = (torch.relu_, torch.Tensor.relu_)
_CONVS = {torch.conv1d: 1, torch.conv2d: 2, torch.conv3d: 3}
_MAX_POOLS = (F.max_pool2d, torch.max_pool2d, F.max_pool2d_with_indices)


def _activation_table() -> dict[Callable[..., Any], str]:
    names = {
        torch: ["sigmoid", "sigmoid_", "tanh", "tanh_", "selu", "selu_", "celu", "celu_",
                "rrelu", "rrelu_", "prelu", "hardshrink", "threshold", "threshold_"],
        torch.Tensor: ["sigmoid", "sigmoid_", "tanh", "tanh_", "hardshrink"],
        F: ["sigmoid", "tanh", "gelu", "silu", "elu", "elu_", "leaky_relu", "leaky_relu_",
            "hardtanh", "hardtanh_", "relu6", "softplus", "softsign", "selu", "celu", "mish",
            "hardswish", "hardsigmoid", "logsigmoid", "tanhshrink", "softshrink", "hardshrink",
            "threshold", "threshold_", "rrelu", "rrelu_", "prelu", "glu"],
    }
    table: dict[Callable[..., Any], str] = {}
    for owner, attrs in names.items():
        for attr in attrs:
            func = getattr(owner, attr, None)
            if func is not None and func not in _RELU_OUT_OF_PLACE + _RELU_INPLACE:
                table.setdefault(func, attr.rstrip("_") or attr)
    return table


OTHER_ACTIVATIONS: Mapping[Callable[..., Any], str] = _activation_table()
"""Non-ReLU activations the mode reports (function object -> name)."""


def _arg(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _tensors(value: Any) -> Iterator[Tensor]:
    """Every tensor in a call's arguments (nested lists, tuples and dicts included)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values * n if len(values) == 1 else values


def conv_borders(
    weight: Tensor, padding: Any, dilation: Any, spatial: int
) -> tuple[tuple[int, int], ...]:
    """(before, after) zero-padding widths per spatial dim of a ``torch.conv{1,2,3}d`` call.

    ``padding`` is an int, a sequence, ``"valid"`` or ``"same"`` (torch splits an odd total of
    ``dilation * (k - 1)`` as ``total // 2`` before and the rest after).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * spatial
        kernel = weight.shape[-spatial:]
        dil = _tuple(dilation, spatial)
        totals = [d * (k - 1) for d, k in zip(dil, kernel, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _tuple(padding, spatial))


class RectGradMode(TorchFunctionMode):
    """Routes ReLU (and optionally conv / max-pool) calls through RectGrad's backward rules.

    Enter it around the forward pass only. After the pass, ``relu_calls`` counts the ReLU calls
    it rectified and ``other_activations`` names the unhandled activations it saw.

    Args:
        rule: The ReLU rule (percentile or constant threshold).
        padding_trick: Zero a border as wide as the zero padding of the gradient arriving at every
            convolution's output (appendix C.1).
        prr: Backpropagate 2-D max-pooling by the proportional redistribution rule (appendix C.2).
    """

    def __init__(self, rule: ReLURule, padding_trick: bool = False, prr: bool = False) -> None:
        super().__init__()
        self.rule = rule
        self.padding_trick = padding_trick
        self.prr = prr
        self.relu_calls = 0
        self.other_activations: list[str] = []
        # the padded conv output returned by the previous call, if any, and its plan
        self._fresh_conv: tuple[Tensor, BorderPlan] | None = None
        # conv outputs whose border an out-of-place ReLU took over: any later use undoes that
        self._watched: list[tuple[weakref.ref[Tensor], BorderPlan]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        fresh, self._fresh_conv = self._fresh_conv, None
        if self._watched:
            self._release_used(args, kwargs)
        try:
            # method-wrappers and the like are hashable; anything else is simply not ours
            conv_dims = _CONVS.get(func)
            activation = OTHER_ACTIVATIONS.get(func)
        except TypeError:
            return func(*args, **kwargs)
        if func is F.relu:
            inplace = bool(_arg(args, kwargs, 1, "inplace", False))
            x = _arg(args, kwargs, 0, "input", None)
            return self._relu(x, inplace, func, args, kwargs, fresh)
        if func in _RELU_OUT_OF_PLACE:
            x = _arg(args, kwargs, 0, "input", None)
            return self._relu(x, False, func, args, kwargs, fresh)
        if func in _RELU_INPLACE:
            return self._relu(_arg(args, kwargs, 0, "input", None), True, func, args, kwargs, fresh)
        if conv_dims is not None and self.padding_trick:
            return self._conv(func, conv_dims, args, kwargs)
        if self.prr and func in _MAX_POOLS:
            return self._max_pool(func, args, kwargs)
        if activation is not None and activation not in self.other_activations:
            self.other_activations.append(activation)
        return func(*args, **kwargs)

    def _relu(
        self,
        x: Any,
        inplace: bool,
        func: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        fresh: tuple[Tensor, BorderPlan] | None = None,
    ) -> Any:
        if not isinstance(x, Tensor) or not x.requires_grad or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        self.relu_calls += 1
        border = None
        if fresh is not None and x is fresh[0]:
            # the conv output goes straight into this ReLU: its rule applies the padding trick.
            # In place, later uses see the ReLU's output; out of place, they would undo this.
            border = fresh[1]
            border.fused = True
            if not inplace:
                self._watched.append((weakref.ref(x), border))
        if inplace:
            return RectifiedReLUInplace.apply(x, self.rule, border)
        return RectifiedReLU.apply(x, self.rule, border)

    def _release_used(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Hand the padding trick back to the hook of every watched conv output in the call."""
        alive = [(ref, plan) for ref, plan in self._watched if ref() is not None]
        for value in _tensors((args, kwargs)):
            for ref, plan in alive:
                if ref() is value:
                    plan.fused = False
        self._watched = [(ref, plan) for ref, plan in alive if plan.fused]

    def _conv(
        self, func: Callable[..., Any], spatial: int, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        out = func(*args, **kwargs)
        if not isinstance(out, Tensor) or not out.requires_grad:
            return out
        weight = _arg(args, kwargs, 1, "weight", None)
        padding = _arg(args, kwargs, 4, "padding", 0)
        dilation = _arg(args, kwargs, 5, "dilation", 1)
        borders = conv_borders(weight, padding, dilation, spatial)
        if any(before or after for before, after in borders):
            plan = BorderPlan(borders)
            out.register_hook(plan.hook)
            self._fresh_conv = (out, plan)
        return out

    def _max_pool(
        self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        x = _arg(args, kwargs, 0, "input", None)
        if not isinstance(x, Tensor) or not x.requires_grad or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        kernel = _tuple(_arg(args, kwargs, 1, "kernel_size", None), 2)
        stride_arg = _arg(args, kwargs, 2, "stride", None)
        stride = kernel if stride_arg is None or stride_arg == [] or stride_arg == () else (
            _tuple(stride_arg, 2)
        )
        padding = _tuple(_arg(args, kwargs, 3, "padding", 0), 2)
        dilation = _tuple(_arg(args, kwargs, 4, "dilation", 1), 2)
        ceil_mode = bool(_arg(args, kwargs, 5, "ceil_mode", False))
        if func is F.max_pool2d_with_indices:
            return_indices = True
        elif func is torch.max_pool2d:
            return_indices = False
        else:
            return_indices = bool(_arg(args, kwargs, 6, "return_indices", False))
        if dilation != (1, 1):
            raise ValueError(
                f"prr=True supports max-pooling with dilation 1 only, got dilation={dilation}"
            )
        out, indices = PRRMaxPool2d.apply(x, kernel, stride, padding, ceil_mode)
        return (out, indices) if return_indices else out
