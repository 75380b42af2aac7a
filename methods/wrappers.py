"""Thin attribution objects with the paper's settings bound, for the method registry.

Every object here has ``attribute(inputs, target=None, additional_forward_args=None)`` returning
a tensor (or tuple) shaped like ``inputs``. Captum's methods are used as they are; the wrappers
only bind arguments and silence Captum's expected per-call warnings (inside the call only).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from captum._utils.common import _format_output, _format_tensor_into_tuples, _is_tuple
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import Attribution, NoiseTunnel, Saliency
from torch import nn

__all__ = ["CaptumMethod", "SmoothGradMethod", "RandomAttribution", "quiet_captum"]

# Messages Captum emits on every call by design; anything else still reaches the user.
_EXPECTED_WARNINGS = (
    r"Input Tensor \d+ did not already require gradients",
    r"Setting backward hooks on ReLU activations",
    r"Setting forward, backward hooks and attributes on non-linear",
    r".*is_full_backward_hook.*",
)


@contextmanager
def quiet_captum() -> Iterator[None]:
    """Suppress Captum's expected per-call warnings for the duration of the block."""
    with warnings.catch_warnings():
        for pattern in _EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


class CaptumMethod:
    """A Captum attribution with fixed keyword arguments for ``attribute``.

    Args:
        attribution: A Captum ``Attribution`` (e.g. ``Saliency(model)``).
        attribute_kwargs: Keyword arguments passed to every ``attribute`` call.
    """

    def __init__(self, attribution: Attribution, **attribute_kwargs: Any) -> None:
        self.attribution = attribution
        self.attribute_kwargs: Mapping[str, Any] = dict(attribute_kwargs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Attributions shaped like ``inputs`` (see the wrapped Captum method)."""
        with quiet_captum():
            return self.attribution.attribute(
                inputs,
                target=target,
                additional_forward_args=additional_forward_args,
                **self.attribute_kwargs,
            )


def _seed_all(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


class SmoothGradMethod:
    """SmoothGrad as the paper ran it: the mean of signed gradients at ``x + N(0, sigma^2)``.

    ``sigma = noise_level * (max(x) - min(x))`` over the whole batch, computed per call and per
    input tensor (the authors' code; paper section 5 / appendix F). Not multiplied by the input.
    Uses Captum's ``NoiseTunnel(Saliency(model))`` with ``nt_type="smoothgrad"``, ``abs=False``.
    The noise is drawn from a stream seeded once per object (so a run is deterministic) and the
    caller's global random state is left as it was.

    Args:
        model: The classifier.
        nt_samples: Noisy samples per example. Default: 50 (the paper's).
        noise_level: sigma as a fraction of the batch's value range. Default: 0.1 (the paper's).
        nt_samples_batch_size: Samples per forward pass (memory knob); None = all at once.
        seed: Seed of this object's noise stream. Default: 0.
    """

    def __init__(
        self,
        model: nn.Module,
        nt_samples: int = 50,
        noise_level: float = 0.1,
        nt_samples_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(nt_samples, bool) or not isinstance(nt_samples, int) or nt_samples < 1:
            raise ValueError(f"nt_samples must be an int >= 1, got {nt_samples!r}")
        if not isinstance(noise_level, (int, float)) or noise_level < 0:
            raise ValueError(f"noise_level must be a number >= 0, got {noise_level!r}")
        self.tunnel = NoiseTunnel(Saliency(model))
        self.nt_samples = nt_samples
        self.noise_level = float(noise_level)
        self.nt_samples_batch_size = nt_samples_batch_size
        self._seeds = torch.Generator().manual_seed(int(seed))

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Averaged signed gradients, shaped like ``inputs``."""
        inputs_tuple = _format_tensor_into_tuples(inputs)
        stdevs = tuple(
            float(self.noise_level * (x.max() - x.min())) if x.numel() else 0.0
            for x in inputs_tuple
        )
        call_seed = int(torch.randint(0, 2**62, (1,), generator=self._seeds))
        device = inputs_tuple[0].device
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), quiet_captum():
            _seed_all(call_seed, device)
            return self.tunnel.attribute(
                inputs,
                nt_type="smoothgrad",
                nt_samples=self.nt_samples,
                nt_samples_batch_size=self.nt_samples_batch_size,
                stdevs=stdevs if _is_tuple(inputs) else stdevs[0],
                target=target,
                additional_forward_args=additional_forward_args,
                abs=False,
            )


class RandomAttribution:
    """The ROAR/KAR "Random" baseline: i.i.d. uniform [0, 1) values shaped like the inputs.

    The values come from a generator seeded once per object, so a run is deterministic while
    successive calls (successive batches) get different values. The model is not called.

    Args:
        model: Accepted for a uniform factory signature; unused.
        seed: Seed of this object's generator. Default: 0.
    """

    def __init__(self, model: nn.Module | None = None, seed: int = 0) -> None:
        self.model = model
        self._generator = torch.Generator().manual_seed(int(seed))

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Uniform random values, same shapes, dtype and device as ``inputs``."""
        is_tuple = _is_tuple(inputs)
        values = tuple(
            torch.rand(x.shape, generator=self._generator, dtype=torch.float64).to(
                device=x.device, dtype=x.dtype
            )
            for x in _format_tensor_into_tuples(inputs)
        )
        return _format_output(is_tuple, values)


