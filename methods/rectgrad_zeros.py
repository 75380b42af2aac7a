"""Why a RectGrad gradient came back exactly zero: the diagnosis behind "no silent zeros".

An example whose attribution ``x * R`` is zero at every input position gives an all-zero map,
which no score can tell from "nothing mattered". :func:`check_not_zeroed` runs only on that path:
for the first such example it recomputes the attribution with each requested extra rule switched
off. If that brings it back, the rule is to blame and a ``ValueError`` says which (the padding
trick at convolutions whose output lies wholly inside the zeroed border: ResNet-18's and VGG's 1x1
and 2x2 maps at 32 px). If only the threshold rule is left and gradient x input is non-zero, a
``RuntimeWarning`` says the threshold removed every path. A zero gradient x input (an all-zero
image, or a model that ignores its input) is not RectGrad's doing and passes unremarked, as for
every other method.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from captum._utils.common import _format_additional_forward_args, _run_forward, _select_targets
from captum._utils.typing import TargetType
from torch import Tensor, nn

from methods.checks import module_of

if TYPE_CHECKING:
    from methods.rectgrad import RectGrad

__all__ = ["check_not_zeroed", "bordered_convolutions"]


def _zero_rows(attributions: tuple[Tensor, ...]) -> Tensor:
    """(N,) bool: True where an example's attribution is zero in every input tensor."""
    rows = [(a.reshape(a.shape[0], -1) == 0).all(dim=1) for a in attributions]
    return torch.stack(rows).all(dim=0)


def _row(value: Any, index: int) -> Any:
    # Captum's convention: tensor forward arguments are aligned with the batch on dim 0.
    return value[index : index + 1] if isinstance(value, Tensor) and value.dim() > 0 else value


def _target_row(target: TargetType, index: int) -> TargetType:
    if isinstance(target, Tensor) and target.numel() > 1:
        return target[index : index + 1]
    if isinstance(target, list):
        return [target[index]]
    return target


def _nonzero(inputs: tuple[Tensor, ...], grads: tuple[Tensor, ...]) -> bool:
    """Whether ``x * grad`` is non-zero somewhere (one example)."""
    return not bool(_zero_rows(tuple(x.detach() * g for x, g in zip(inputs, grads,
                                                                     strict=True))).all())


def _plain_gradient(
    forward_func: Callable[..., Any], inputs: tuple[Tensor, ...], target: TargetType, extra: Any
) -> tuple[Tensor, ...]:
    leaves = tuple(x.detach().requires_grad_(True) for x in inputs)
    with torch.enable_grad():
        selected = _select_targets(_run_forward(forward_func, leaves, None, extra), target)
        grads = torch.autograd.grad(
            selected, leaves, grad_outputs=torch.ones_like(selected), allow_unused=True
        )
    return tuple(g if g is not None else torch.zeros_like(x) for x, g in zip(inputs, grads,
                                                                            strict=True))


def _zero_padding(conv: nn.modules.conv._ConvNd) -> tuple[tuple[int, int], ...]:
    spatial = len(conv.kernel_size)
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return ((0, 0),) * spatial
        totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in conv.padding)


def bordered_convolutions(
    model: object, inputs: tuple[Tensor, ...], additional_forward_args: Any
) -> list[str]:
    """Convolutions whose whole output lies inside the border the padding trick zeroes.

    One forward pass with temporary forward hooks on the ``nn.Conv{1,2,3}d`` modules that pad
    with zeros (removed before returning). Returns entries like
    ``"layer4.0.conv1 (output 1x1, zero padding 1)"``, smallest outputs first (forward order
    among equals); empty when ``model`` is not an ``nn.Module``.
    """
    module = module_of(model)
    if module is None:
        return []
    found: list[tuple[int, str]] = []

    def record(name: str) -> Callable[..., None]:
        def hook(conv: nn.modules.conv._ConvNd, _args: Any, output: Tensor) -> None:
            sizes = tuple(output.shape[-len(conv.kernel_size):])
            borders = _zero_padding(conv)
            if any(before + after >= size for (before, after), size in zip(borders, sizes,
                                                                           strict=True)):
                size_text = "x".join(str(s) for s in sizes)
                pads = sorted({p for pair in borders for p in pair})
                pad_text = ",".join(str(p) for p in pads)
                text = f"{name or 'model'} (output {size_text}, zero padding {pad_text})"
                found.append((math.prod(sizes), text))

        return hook

    handles = [
        conv.register_forward_hook(record(name))
        for name, conv in module.named_modules()
        if isinstance(conv, nn.modules.conv._ConvNd) and conv.padding_mode == "zeros"
    ]
    try:
        with torch.no_grad():
            _run_forward(model, inputs, None, additional_forward_args)
    finally:
        for handle in handles:
            handle.remove()
    # smallest outputs first: they are the ones the border covers with the most to spare
    return [text for _, text in sorted(found, key=lambda entry: entry[0])]


def _padding_trick_message(
    method: RectGrad, row: int, inputs: tuple[Tensor, ...], extra: Any
) -> str:
    convs = bordered_convolutions(method.forward_func, inputs, extra)
    where = ""
    if convs:
        shown = "; ".join(convs[:4]) + (f"; and {len(convs) - 4} more" if len(convs) > 4 else "")
        where = (f" At this input size {len(convs)} convolution(s) have their whole output inside "
                 f"the zeroed border: {shown}.")
    return (
        f"padding_trick zeroed the entire gradient of example {row} (without the padding trick "
        f"its attribution is non-zero), so its map would be all zeros.{where} Use padding_trick=False for this "
        "model at this input size, or larger inputs."
    )


def check_not_zeroed(
    method: RectGrad,
    inputs: tuple[Tensor, ...],
    attributions: tuple[Tensor, ...],
    target: TargetType,
    additional_forward_args: Any,
) -> None:
    """Raise or warn when an example's attribution ``x * R`` is exactly zero (see the module doc).

    Args:
        method: The RectGrad object (its rules and model).
        inputs: The batch, as a tuple of tensors (N, ...).
        attributions: The signed attributions ``x * R`` of ``inputs``, same structure.
        target: The target as passed to ``attribute``.
        additional_forward_args: As passed to ``attribute``.

    Costs one comparison per attribution value, plus, only when some example is all zero, a few
    gradient passes of that one example.
    """
    if not attributions or attributions[0].shape[0] == 0:
        return
    zero = _zero_rows(attributions)
    if not bool(zero.any()):
        return
    row = int(zero.nonzero()[0, 0])
    extra = _format_additional_forward_args(additional_forward_args)
    extra = None if extra is None else tuple(_row(arg, row) for arg in extra)
    one = tuple(x[row : row + 1] for x in inputs)
    one_target = _target_row(target, row)

    def without(**rules: bool) -> bool:
        return _nonzero(one, method.gradients(one, one_target, extra, warn=False, **rules))

    if method.padding_trick and without(padding_trick=False):
        raise ValueError(_padding_trick_message(method, row, one, extra))
    if method.prr and without(prr=False):
        raise ValueError(
            f"prr (proportional redistribution at max-pooling) zeroed the entire gradient of "
            f"example {row} (without it the attribution is non-zero); use prr=False for this model"
        )
    if method.padding_trick and method.prr and without(padding_trick=False, prr=False):
        raise ValueError(
            f"padding_trick and prr together zeroed the entire gradient of example {row} "
            "(without both its attribution is non-zero); use padding_trick=False or prr=False "
            "for this model"
        )
    if _nonzero(one, _plain_gradient(method.forward_func, one, one_target, extra)):
        rule = method.rule
        threshold = f"tau={rule.tau}" if rule.tau is not None else f"percentile={rule.percentile}"
        warnings.warn(
            f"RectGrad's threshold ({threshold}) zeroed the entire gradient of {int(zero.sum())} "
            f"of {zero.numel()} example(s) (e.g. example {row}, whose gradient x input is "
            "non-zero): their attributions are all zero",
            RuntimeWarning,
            stacklevel=4,
        )
