"""Input checks shared by every attribution object in :mod:`methods`.

Each check raises ``ValueError`` naming the argument and what was expected, so that a mistake in a
caller's inputs (NaN pixels, a class index past the model's outputs, a negative index that Python
would silently wrap to the last class, integer images) never passes silently into a map.
:func:`eval_mode` puts a model in eval mode for one attribution and restores every module's mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from captum._utils.common import _format_additional_forward_args, _run_forward
from captum._utils.typing import TargetType
from torch import Tensor, nn

__all__ = [
    "check_inputs",
    "check_target",
    "Probe",
    "probe_forward",
    "OutputProbe",
    "reused_module_message",
    "eval_mode",
    "module_of",
    "script_submodules",
]


def check_inputs(
    inputs: Sequence[object], *, allow_nonfinite: bool = False, floating: bool = True
) -> tuple[Tensor, ...]:
    """Validate attribution inputs (already a tuple, as Captum formats them).

    Args:
        inputs: Tensors aligned on dim 0 (N, ...).
        allow_nonfinite: Accept NaN/inf with one ``RuntimeWarning`` instead of a ``ValueError``.
        floating: Require floating-point tensors (gradients and noise are undefined on integers).

    Returns:
        ``inputs`` as a tuple of tensors.
    """
    tensors = tuple(inputs)
    if not tensors:
        raise ValueError("inputs must be a tensor or a non-empty tuple of tensors")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise ValueError(f"inputs[{index}] must be a torch.Tensor, got {type(tensor).__name__}")
        if floating and not tensor.is_floating_point():
            raise ValueError(
                f"inputs[{index}] must be a floating-point tensor, got dtype {tensor.dtype} "
                "(convert images to float, e.g. x / 127.5 - 1)"
            )
        if tensor.dim() == 0:
            raise ValueError(f"inputs[{index}] must have a batch dimension, got a 0-d tensor")
        if tensor.shape[0] != tensors[0].shape[0]:
            raise ValueError(
                f"inputs must share the batch size on dim 0: inputs[0] has {tensors[0].shape[0]}, "
                f"inputs[{index}] has {tensor.shape[0]}"
            )
    for index, tensor in enumerate(tensors):
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        # a finite sum proves every entry finite; only then is the exact count needed
        if bool(torch.isfinite(tensor.sum())):
            continue
        bad = int((~torch.isfinite(tensor)).sum())
        if bad == 0:
            continue
        message = (
            f"inputs[{index}] contains {bad} NaN or infinite value(s) of {tensor.numel()}; "
            "their gradients and maps would be undefined"
        )
        if not allow_nonfinite:
            raise ValueError(message + " (pass allow_nonfinite=True to attribute anyway)")
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return tensors


def _check_index(value: object, size: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int class index, got {value!r}")
    if value < 0:
        raise ValueError(
            f"{what} = {value} is negative; targets must be output indices in [0, {size}) "
            "(negative indices would silently select from the end)"
        )
    if value >= size:
        raise ValueError(
            f"{what} = {value} is out of range: the model returns {size} outputs per example, "
            f"valid targets are 0 .. {size - 1}"
        )


def _check_index_tuple(value: tuple[Any, ...], shape: tuple[int, ...], what: str) -> None:
    if len(value) > len(shape):
        raise ValueError(
            f"{what} = {value!r} has {len(value)} indices but the model's output per example has "
            f"shape {shape}"
        )
    for dim, (index, size) in enumerate(zip(value, shape, strict=False)):
        _check_index(index, size, f"{what}[{dim}]")


def check_target(target: TargetType, shape: Sequence[int]) -> None:
    """Validate a Captum target against the model's output shape ``(N, *per_example)``.

    Accepted: None when each example has one output; an int (index of dim 1); a tuple of ints
    (indices of the leading output dims); an integer tensor with one element or of shape (N,);
    a list of N ints or of N tuples. Indices must lie in [0, size); negatives are refused.

    Args:
        target: The target as passed to ``attribute``.
        shape: The model's output shape for the batch, ``(N, *per_example)``.
    """
    shape = tuple(int(s) for s in shape)
    batch, per_example = shape[0], shape[1:]
    width = per_example[0] if per_example else 1
    if target is None:
        if per_example and torch.Size(per_example).numel() != 1:
            raise ValueError(
                f"target is None but the model returns {width} outputs per example "
                f"(output shape {shape}); pass the class index to explain as target="
            )
        return
    if not per_example:
        raise ValueError(
            f"target={target!r} given but the model returns one value per example "
            f"(output shape {shape}); pass target=None"
        )
    if isinstance(target, tuple):
        _check_index_tuple(target, per_example, "target")
    elif isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise ValueError(f"target tensor must hold integer class indices, got {target.dtype}")
        if target.numel() != 1 and (target.dim() != 1 or target.numel() != batch):
            raise ValueError(
                f"target tensor must have one element or shape (N,) = ({batch},), "
                f"got shape {tuple(target.shape)}"
            )
        if target.numel():
            low, high = int(target.min()), int(target.max())
            _check_index(low if low < 0 else high, width, "target")
    elif isinstance(target, list):
        if len(target) != batch:
            raise ValueError(f"target list has {len(target)} entries for {batch} examples")
        for position, entry in enumerate(target):
            if isinstance(entry, tuple):
                _check_index_tuple(entry, per_example, f"target[{position}]")
            else:
                _check_index(entry, width, f"target[{position}]")
    else:
        _check_index(target, width, "target")


def _first_example(value: Any) -> Any:
    # Captum expands every tensor forward argument along dim 0, so they are batch-aligned.
    return value[:1] if isinstance(value, Tensor) and value.dim() > 0 else value


@dataclass(frozen=True)
class Probe:
    """What one forward pass of the first example showed.

    Attributes:
        shape: The output shape for the whole batch, ``(N, *per_example)``; ``(0,)`` if N = 0.
        calls: Forward calls per module name, for the module types asked for.
    """

    shape: tuple[int, ...]
    calls: dict[str, int] = field(default_factory=dict)


def probe_forward(
    forward_func: Callable[..., Any],
    inputs: tuple[Tensor, ...],
    additional_forward_args: Any,
    count: tuple[type[nn.Module], ...] = (),
) -> Probe:
    """Run the model on the first example only (no gradients) to learn its output shape.

    Args:
        forward_func: The model.
        inputs: The batch (N, ...); only row 0 is used.
        additional_forward_args: As in Captum; tensors are cut to their first row.
        count: Module types whose forward calls are counted (temporary hooks, removed after).
    """
    batch = inputs[0].shape[0]
    if batch == 0:
        return Probe((0,))
    extra = _format_additional_forward_args(additional_forward_args)
    if extra is not None:
        extra = tuple(_first_example(arg) for arg in extra)
    calls: dict[str, int] = {}
    module = module_of(forward_func)
    handles = []
    if count and module is not None:
        for name, sub in module.named_modules():
            if isinstance(sub, count):
                handles.append(sub.register_forward_hook(_counter(calls, name or "(model)")))
    try:
        with torch.no_grad():
            output = _run_forward(forward_func, tuple(x[:1] for x in inputs), None, extra)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, Tensor):
        raise ValueError(f"the model must return a tensor, got {type(output).__name__}")
    if output.dim() == 0 or output.shape[0] != 1:
        raise ValueError(
            "the model must return one row per example; one example gave shape "
            f"{tuple(output.shape)}"
        )
    return Probe((batch,) + tuple(output.shape[1:]), calls)


def _signature(inputs: tuple[Tensor, ...], additional_forward_args: Any) -> tuple[Any, ...]:
    """What the output shape may depend on: every input's per-example shape, dtype and device,
    and the extra arguments (tensors by shape; other values by value, or identity if unhashable)."""
    parts: list[Any] = [(tuple(x.shape[1:]), x.dtype, x.device) for x in inputs]
    for arg in _format_additional_forward_args(additional_forward_args) or ():
        if isinstance(arg, Tensor):
            parts.append((tuple(arg.shape[1:]), arg.dtype, arg.device))
        else:
            try:
                hash(arg)
                parts.append((type(arg).__name__, arg))
            except TypeError:
                parts.append((type(arg).__name__, id(arg)))
    return tuple(parts)


class OutputProbe:
    """:func:`probe_forward` once per input signature, remembered on the attribution object.

    A classifier's output width does not change from batch to batch, so one forward pass of one
    image per new input shape (not per call) is enough to check every later target.

    Args:
        forward_func: The model.
        count: Module types whose calls are counted (see :func:`probe_forward`).
    """

    def __init__(self, forward_func: Callable[..., Any],
                 count: tuple[type[nn.Module], ...] = ()) -> None:
        self.forward_func = forward_func
        self.count = count
        self._seen: dict[tuple[Any, ...], Probe] = {}

    def __call__(self, inputs: tuple[Tensor, ...], additional_forward_args: Any) -> Probe:
        batch = inputs[0].shape[0]
        if batch == 0:
            return Probe((0,))
        key = _signature(inputs, additional_forward_args)
        probe = self._seen.get(key)
        if probe is None:
            probe = probe_forward(self.forward_func, inputs, additional_forward_args, self.count)
            self._seen[key] = probe
        return Probe((batch,) + probe.shape[1:], probe.calls)


def _counter(calls: dict[str, int], name: str) -> Callable[..., None]:
    def hook(_module: nn.Module, _args: Any, _output: Any) -> None:
        calls[name] = calls.get(name, 0) + 1

    return hook


def reused_module_message(method: str, calls: dict[str, int], types: str) -> str | None:
    """The error for a method that needs one module per call, or None if no module is reused."""
    reused = {name: n for name, n in calls.items() if n > 1}
    if not reused:
        return None
    shown = ", ".join(f"{name} ({n} calls)" for name, n in list(reused.items())[:4])
    more = f" and {len(reused) - 4} more" if len(reused) > 4 else ""
    return (
        f"{method} needs each {types} module to be called once per forward pass, but this model "
        f"calls {len(reused)} module(s) several times: {shown}{more} (torchvision's ResNet blocks "
        "reuse self.relu); use a model with one module per call, or another method"
    )


def module_of(model: object) -> nn.Module | None:
    """The ``nn.Module`` behind ``model`` (the module itself or a bound method of one), or None."""
    if isinstance(model, nn.Module):
        return model
    owner = getattr(model, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@contextmanager
def eval_mode(model: object) -> Iterator[None]:
    """Put the module behind ``model`` in eval mode for the block; restore every module's mode.

    Attributions explain the deployed function: in train mode BatchNorm would use (and update)
    batch statistics, making an image's map depend on its neighbours, and dropout would be random.
    """
    module = module_of(model)
    if module is None:
        yield
        return
    modes = [(m, m.training) for m in module.modules()]
    if not any(training for _, training in modes):
        yield
        return
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def script_submodules(model: object) -> list[str]:
    """Names of the outermost TorchScript parts of ``model``; empty if it has none."""
    if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        return ["(the model itself)"]
    module = module_of(model)
    if module is None:
        return []
    found: list[str] = []
    for name, sub in module.named_modules():
        inside = any(name.startswith(outer + ".") for outer in found)
        if isinstance(sub, torch.jit.ScriptModule) and not inside:
            found.append(name or "(the model itself)")
    return found
