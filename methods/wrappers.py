"""Thin attribution objects with the paper's settings bound, for the method registry.

Every object here has ``attribute(inputs, target=None, additional_forward_args=None)`` returning
a tensor (or tuple) shaped like ``inputs``. Captum's methods are used as they are; the wrappers
bind arguments, silence Captum's expected per-call warnings (inside the call only) and check what
Captum lets through (:mod:`methods.checks`): non-floating or non-finite inputs, negative or
out-of-range targets, and models left in train mode (put in eval mode for the call, then restored).

An image's attribution never depends on its batch: SmoothGrad's sigma comes from a fixed data
range, and SmoothGrad's noise and the Random baseline's values are drawn per image from its content
and the object's seed (:mod:`methods.image_rng`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from captum._utils.common import (
    ExpansionTypes,
    _expand_additional_forward_args,
    _expand_target,
    _format_additional_forward_args,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
)
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import Attribution, DeepLift, Saliency
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import Tensor, nn

from methods.checks import (
    OutputProbe,
    check_inputs,
    check_target,
    eval_mode,
    reused_module_message,
)
from methods.image_rng import image_keys, normal_samples, uniform_like

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
    """A Captum attribution with fixed keyword arguments for ``attribute``, with checked inputs.

    Before Captum first runs on inputs of a new shape, one forward pass of one example (no
    gradients) gives the output shape targets are checked against; for DeepLift it also counts
    the calls of each nonlinear module, because Captum's DeepLift fails on a module called twice
    (torchvision's ResNet reuses ``self.relu``) with an opaque ``RuntimeError``: here it is a
    ``ValueError`` naming the modules.

    Args:
        attribution: A Captum ``Attribution`` (e.g. ``Saliency(model)``).
        allow_nonfinite: Keyword-only. Accept NaN/inf inputs with a ``RuntimeWarning``.
        attribute_kwargs: Keyword arguments passed to every ``attribute`` call.
    """

    def __init__(
        self, attribution: Attribution, *, allow_nonfinite: bool = False, **attribute_kwargs: Any
    ) -> None:
        self.attribution = attribution
        self.allow_nonfinite = bool(allow_nonfinite)
        self.attribute_kwargs: Mapping[str, Any] = dict(attribute_kwargs)
        deeplift = isinstance(attribution, DeepLift)
        self._probe = OutputProbe(attribution.forward_func,
                                  tuple(SUPPORTED_NON_LINEAR) if deeplift else ())

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Attributions shaped like ``inputs`` (see the wrapped Captum method)."""
        inputs_tuple = check_inputs(
            _format_tensor_into_tuples(inputs), allow_nonfinite=self.allow_nonfinite
        )
        with eval_mode(self.attribution.forward_func):
            probe = self._probe(inputs_tuple, additional_forward_args)
            check_target(target, probe.shape)
            reused = reused_module_message("Captum's DeepLift", probe.calls, "nonlinear")
            if reused:
                raise ValueError(reused)
            with quiet_captum():
                return self.attribution.attribute(
                    inputs,
                    target=target,
                    additional_forward_args=additional_forward_args,
                    **self.attribute_kwargs,
                )


def _positive_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or (
        value == float("inf")
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class SmoothGradMethod:
    """SmoothGrad as the paper ran it: the mean of signed gradients at ``x + N(0, sigma^2)``.

    ``sigma = noise_level * data_range`` (PROTOCOL.md: 0.1 x 2 = 0.2 for inputs in [-1, 1]). The
    authors' code took the range of each batch instead, which is the same number for batches that
    span [-1, 1] but makes an image's map depend on its neighbours; a fixed range does not. Not
    multiplied by the input. The gradients are Captum's ``Saliency(model)`` (``abs=False``) at the
    noisy copies, averaged (Captum's ``NoiseTunnel`` with ``nt_type="smoothgrad"`` computes the
    same mean, but draws its noise from one stream shared by the batch).

    Noise: sample ``j`` of an image is a function of (seed, the image's content, j) only
    (:mod:`methods.image_rng`), so a map is the same in any batch, at any batch size, for any
    ``nt_samples_batch_size``, and on every call; the global random state is not used.

    Args:
        model: The classifier.
        nt_samples: Noisy samples per example. Default: 50 (the paper's).
        noise_level: sigma as a fraction of ``data_range``. Default: 0.1 (the paper's).
        nt_samples_batch_size: Samples per example per forward pass (memory knob); None = all.
        seed: Seed of the noise (any int). Default: 0.
        data_range: Keyword-only. ``max - min`` of the model's input domain, one number or one
            per input tensor. Default: 2.0 (images scaled to [-1, 1]).
        allow_nonfinite: Keyword-only. Accept NaN/inf inputs with a ``RuntimeWarning``.
    """

    def __init__(
        self,
        model: nn.Module,
        nt_samples: int = 50,
        noise_level: float = 0.1,
        nt_samples_batch_size: int | None = None,
        seed: int = 0,
        *,
        data_range: float | tuple[float, ...] = 2.0,
        allow_nonfinite: bool = False,
    ) -> None:
        if isinstance(nt_samples, bool) or not isinstance(nt_samples, int) or nt_samples < 1:
            raise ValueError(f"nt_samples must be an int >= 1, got {nt_samples!r}")
        if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float)) or not (
            0 <= noise_level < float("inf")
        ):
            raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")
        if nt_samples_batch_size is not None and (
            isinstance(nt_samples_batch_size, bool) or not isinstance(nt_samples_batch_size, int)
            or nt_samples_batch_size < 1
        ):
            raise ValueError(
                f"nt_samples_batch_size must be an int >= 1 or None, got {nt_samples_batch_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        ranges = data_range if isinstance(data_range, tuple) else (data_range,)
        self.data_range = tuple(_positive_number(r, "data_range") for r in ranges)
        self.model = model
        self.saliency = Saliency(model)
        self._probe = OutputProbe(model)
        self.nt_samples = nt_samples
        self.noise_level = float(noise_level)
        self.nt_samples_batch_size = nt_samples_batch_size
        self.seed = seed
        self.allow_nonfinite = bool(allow_nonfinite)

    def sigmas(self, count: int) -> tuple[float, ...]:
        """sigma of the noise for each of ``count`` input tensors."""
        if len(self.data_range) not in (1, count):
            raise ValueError(
                f"data_range has {len(self.data_range)} values for {count} input tensors"
            )
        ranges = self.data_range * count if len(self.data_range) == 1 else self.data_range
        return tuple(self.noise_level * r for r in ranges)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Averaged signed gradients, shaped like ``inputs``."""
        is_tuple = _is_tuple(inputs)
        inputs_tuple = check_inputs(
            _format_tensor_into_tuples(inputs), allow_nonfinite=self.allow_nonfinite
        )
        sigmas = self.sigmas(len(inputs_tuple))
        with eval_mode(self.model):
            check_target(target, self._probe(inputs_tuple, additional_forward_args).shape)
            if inputs_tuple[0].shape[0] == 0:
                return _format_output(is_tuple, tuple(torch.zeros_like(x) for x in inputs_tuple))
            keys = image_keys(inputs_tuple, self.seed)
            totals = [torch.zeros_like(x) for x in inputs_tuple]
            chunk = self.nt_samples_batch_size or self.nt_samples
            for start in range(0, self.nt_samples, chunk):
                samples = range(start, min(start + chunk, self.nt_samples))
                grads = self._mean_gradient_terms(
                    inputs_tuple, keys, samples, sigmas, target, additional_forward_args
                )
                for total, grad in zip(totals, grads, strict=True):
                    total += grad
        return _format_output(is_tuple, tuple(t / self.nt_samples for t in totals))

    def _mean_gradient_terms(
        self,
        inputs: tuple[Tensor, ...],
        keys: Tensor,
        samples: range,
        sigmas: tuple[float, ...],
        target: TargetType,
        additional_forward_args: Any,
    ) -> tuple[Tensor, ...]:
        """Sum over ``samples`` of the gradients at the noisy copies, per input: (N, ...) each."""
        n, k = inputs[0].shape[0], len(samples)
        noisy = []
        for index, (x, sigma) in enumerate(zip(inputs, sigmas, strict=True)):
            copies = x.detach().unsqueeze(1).expand((n, k) + tuple(x.shape[1:]))
            if sigma:
                copies = copies + sigma * normal_samples(x, keys, samples, stream=index)
            # sample-major within each example: example i's copies are rows i*k .. i*k + k - 1
            noisy.append(copies.reshape((n * k,) + tuple(x.shape[1:])))
        expand = ExpansionTypes.repeat_interleave
        extra = _format_additional_forward_args(additional_forward_args)
        with quiet_captum():
            grads = self.saliency.attribute(
                tuple(noisy),
                target=_expand_target(target, k, expand),
                additional_forward_args=_expand_additional_forward_args(extra, k, expand),
                abs=False,
            )
        return tuple(
            g.reshape((n, k) + tuple(x.shape[1:])).sum(dim=1)
            for g, x in zip(grads, inputs, strict=True)
        )


class ModelBlindAttribution:
    """Base of attributions computed from the inputs alone (Random, the Sobel control).

    ``attribute`` checks inputs and a given target exactly as every other method does (the model
    runs on one example, once per input shape, for the target check only), then returns
    :meth:`values` of the checked inputs. No target is needed: the values never depend on it.

    Args:
        model: The classifier a given target is checked against; None skips that check.
        allow_nonfinite: Keyword-only. Accept NaN/inf inputs with a ``RuntimeWarning``.
    """

    def __init__(self, model: nn.Module | None = None, *, allow_nonfinite: bool = False) -> None:
        self.model = model
        self.allow_nonfinite = bool(allow_nonfinite)
        self._probe = OutputProbe(model) if model is not None else None

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """:meth:`values` of ``inputs``: same structure, shapes, dtype and device."""
        is_tuple = _is_tuple(inputs)
        inputs_tuple = check_inputs(
            _format_tensor_into_tuples(inputs), allow_nonfinite=self.allow_nonfinite
        )
        if self._probe is not None and target is not None:
            with eval_mode(self.model):
                check_target(target, self._probe(inputs_tuple, additional_forward_args).shape)
        return _format_output(is_tuple, self.values(inputs_tuple))

    def values(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The attributions of checked inputs (N, C, H, W) each; defined by subclasses."""
        raise NotImplementedError


class RandomAttribution(ModelBlindAttribution):
    """The ROAR/KAR "Random" baseline: uniform [0, 1) values shaped like the inputs.

    The values of an image are a function of (seed, the image's content) only
    (:mod:`methods.image_rng`): the same in any batch and on every call, independent across
    images and seeds. Random needs no target; when one is given it is checked like every other
    method's (the model runs on one example, once per input shape).

    Args:
        model: The classifier a given target is checked against; None skips that check.
        seed: Seed of the values (any int). Default: 0.
        allow_nonfinite: Keyword-only. Accept NaN/inf inputs with a ``RuntimeWarning``.
    """

    def __init__(
        self, model: nn.Module | None = None, seed: int = 0, *, allow_nonfinite: bool = False
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        super().__init__(model, allow_nonfinite=allow_nonfinite)
        self.seed = seed

    def values(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """Uniform [0, 1) values keyed by (seed, image content)."""
        keys = image_keys(inputs, self.seed)
        return tuple(uniform_like(x, keys, stream=index) for index, x in enumerate(inputs))
