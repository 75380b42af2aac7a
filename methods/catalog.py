"""The registry of attribution methods, with the RectGrad paper's settings as defaults.

timm-style: each entry carries its factory and its defaults side by side; ``create_method`` merges
overrides over a copy of the defaults (``None`` overrides are dropped, unknown names raise).
Settings follow PROTOCOL.md "Baselines" (the authors' experiment code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import (
    Deconvolution,
    DeepLift,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    Saliency,
)
from torch import nn

from methods.rectgrad import RectGrad
from methods.registry import Registry
from methods.wrappers import CaptumMethod, RandomAttribution, SmoothGradMethod

__all__ = ["AttributionMethod", "MethodSpec", "METHODS", "create_method", "available_methods"]


class AttributionMethod(Protocol):
    """What ``create_method`` returns."""

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric: ...


@dataclass(frozen=True)
class MethodSpec:
    """A registered attribution method.

    Attributes:
        name: Registry name.
        factory: ``factory(model, **settings) -> AttributionMethod``.
        defaults: The paper's settings (read-only); every name a caller may override.
        description: One line, shown by ``rectbench methods``.
        reference: The paper that defines the method.
        map_percentile: The paper's evaluation post-processing for ``to_map``: 95.0 for the
            baselines' "final threshold", None where none applies (RectGrad is already
            zero-thresholded; Random is only used for ROAR/KAR).
    """

    name: str
    factory: Callable[..., AttributionMethod]
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""
    reference: str = ""
    map_percentile: float | None = 95.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


METHODS: Registry[MethodSpec] = Registry("method")


def _register(spec: MethodSpec) -> None:
    METHODS.register(spec.name, spec)


def _captum(cls: type, **constructor: Any) -> Callable[..., AttributionMethod]:
    def factory(model: nn.Module, **attribute_kwargs: Any) -> AttributionMethod:
        return CaptumMethod(cls(model, **constructor), **attribute_kwargs)

    return factory


def _rectgrad(model: nn.Module, **settings: Any) -> AttributionMethod:
    return RectGrad(model, **settings)


_register(MethodSpec(
    "saliency", _captum(Saliency), {"abs": False},
    "Signed input gradient of the target logit",
    "Simonyan et al. 2014, arXiv:1312.6034",
))
_register(MethodSpec(
    "grad_x_input", _captum(InputXGradient), {},
    "Gradient times input",
    "Shrikumar et al. 2016, arXiv:1605.01713",
))
_register(MethodSpec(
    "guided_backprop", _captum(GuidedBackprop), {},
    "Guided Backpropagation: only positive gradients through ReLUs with positive input",
    "Springenberg et al. 2015, arXiv:1412.6806",
))
_register(MethodSpec(
    "deconvolution", _captum(Deconvolution), {},
    "Deconvolution: only positive gradients through ReLUs",
    "Zeiler & Fergus 2014, arXiv:1311.2901",
))
_register(MethodSpec(
    "smoothgrad", SmoothGradMethod, {"nt_samples": 50, "noise_level": 0.1,
                                     "nt_samples_batch_size": None, "seed": 0},
    "SmoothGrad: mean signed gradient over 50 noisy copies, sigma = 0.1 x batch range",
    "Smilkov et al. 2017, arXiv:1706.03825",
))
_register(MethodSpec(
    "integrated_gradients", _captum(IntegratedGradients),
    {"n_steps": 50, "method": "riemann_right", "internal_batch_size": None},
    "Integrated Gradients, 50 steps, right Riemann sum, zero baseline",
    "Sundararajan et al. 2017, arXiv:1703.01365",
))
_register(MethodSpec(
    "deeplift", _captum(DeepLift), {},
    "DeepLIFT (Rescale rule), zero baseline",
    "Shrikumar et al. 2017, arXiv:1704.02685",
))
_register(MethodSpec(
    "rectgrad", _rectgrad, {"percentile": 98.0, "tau": None, "padding_trick": True, "prr": False},
    "RectGrad: q = 98 per-layer threshold on a*R at every ReLU, padding trick",
    "Kim et al. 2019, arXiv:1902.04893",
    map_percentile=None,
))
_register(MethodSpec(
    "rectgrad_prr", _rectgrad,
    {"percentile": 98.0, "tau": None, "padding_trick": True, "prr": True},
    "RectGrad with padding trick and proportional redistribution at max-pooling",
    "Kim et al. 2019, arXiv:1902.04893 (appendix C)",
    map_percentile=None,
))
_register(MethodSpec(
    "random", RandomAttribution, {"seed": 0},
    "Random: seeded uniform values (the ROAR/KAR baseline)",
    "Hooker et al. 2019, arXiv:1806.10758",
    map_percentile=None,
))


def available_methods() -> list[str]:
    """Registered method names, in registration order."""
    return METHODS.names()


def create_method(name: str, model: nn.Module, **overrides: Any) -> AttributionMethod:
    """Build the method registered as ``name`` for ``model``, with the paper's settings.

    Args:
        name: A name from :func:`available_methods`; unknown names raise ``KeyError`` listing the
            valid ones.
        model: The classifier (eval mode), returning logits (N, classes).
        **overrides: Settings merged over the entry's defaults; ``None`` values are dropped
            (the default stays); names not among the defaults raise ``ValueError`` listing them.

    Returns:
        An object with ``attribute(inputs, target=None, additional_forward_args=None)`` returning
        attributions shaped like ``inputs``.
    """
    spec = METHODS.get(name)
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) or "(none)"
        raise ValueError(f"unknown setting(s) {unknown} for method {name!r}; valid: {valid}")
    settings = dict(spec.defaults)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return spec.factory(model, **settings)
