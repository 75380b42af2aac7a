"""What every attribution method in rectbench is: an object with Captum's ``attribute`` call."""

from __future__ import annotations

from typing import Any, Protocol

from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric

__all__ = ["AttributionMethod"]


class AttributionMethod(Protocol):
    """``attribute(inputs, target=None, additional_forward_args=None)``: a tensor or tuple of
    tensors (N, C, H, W) in, attributions of the same structure, shapes, dtype and device out
    (Captum's convention; what ``methods.create_method`` returns and what a control wraps)."""

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric: ...
