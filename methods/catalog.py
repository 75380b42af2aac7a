"""The registry of attribution methods, with the RectGrad paper's settings as defaults.

timm-style: each entry carries its factory and its defaults side by side; ``create_method`` merges
overrides over a copy of the defaults (``None`` overrides are dropped, unknown names raise).
Settings follow PROTOCOL.md "Baselines" (the authors' experiment code).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from captum.attr import (
    Deconvolution,
    DeepLift,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    Saliency,
)
from torch import nn

from common.registry import Registry
from methods.controls import SobelAttribution, blurred_factory
from methods.protocol import AttributionMethod
from methods.rectgrad import RectGrad
from methods.wrappers import CaptumMethod, RandomAttribution, SmoothGradMethod

__all__ = [
    "AttributionMethod",
    "MethodRole",
    "MethodSpec",
    "METHODS",
    "BLUR_SUFFIX",
    "DEFAULT_BLUR_SIGMA",
    "create_method",
    "available_methods",
    "resolve_method",
]


MethodRole = Literal["method", "chance", "control"]


@dataclass(frozen=True)
class MethodSpec:
    """A registered attribution method and what callers need to know about it.

    The runner and the report read these fields instead of matching names, so a method registered
    from outside the project runs through every stage unchanged.

    Attributes:
        name: Registry name.
        factory: ``factory(model, **settings) -> AttributionMethod``.
        defaults: The paper's settings (read-only); every name a caller may override.
        description: One line, shown by ``rectbench methods``.
        reference: The paper that defines the method.
        map_percentile: The paper's evaluation post-processing for ``to_map``: 95.0 for the
            baselines' "final threshold", None where none applies (RectGrad is already
            zero-thresholded; Random's values are noise).
        label: Display name in tables and figures (the paper's name where it has one).
        color: Fixed plot colour (``#rrggbb``) or None for one picked from a spare palette.
        role: ``"method"`` (an attribution method), ``"chance"`` (a chance baseline such as
            Random) or ``"control"`` (a model-agnostic or post-processed control). Chance baselines
            and controls are never marked best.
        meaningful_scale: False when the map's values are on an arbitrary scale (Random): metrics
            whose value depends on the scale (``MetricSpec.scale_dependent``) are then skipped.
        random_ranking: The maps rank pixels uniformly at random (Random): ROAR/KAR then draws
            its occlusions directly (``metrics.random_occlude``) instead of ranking maps.
        version: The version of the method's code: bump it when a change alters its
            attributions, so that stored maps and scores are recomputed (their provenance keys
            include it).
        derived_from: The method this entry is derived from (``"saliency"`` for
            ``"saliency+blur"``, registered on first use by :func:`resolve_method`), or None.
            Derived entries are not listed by :func:`available_methods`.
    """

    name: str
    factory: Callable[..., AttributionMethod]
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""
    reference: str = ""
    map_percentile: float | None = 95.0
    label: str = ""
    color: str | None = None
    role: MethodRole = "method"
    meaningful_scale: bool = True
    random_ranking: bool = False
    version: int = 1
    derived_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.role not in ("method", "chance", "control"):
            raise ValueError(f"role must be 'method', 'chance' or 'control', got {self.role!r}")

    @property
    def seeded(self) -> bool:
        """Whether the method draws random numbers (it then takes a ``seed`` setting)."""
        return "seed" in self.defaults


METHODS: Registry[MethodSpec] = Registry("method")


def _register(spec: MethodSpec) -> None:
    METHODS.register(spec.name, spec)


def _captum(cls: type) -> Callable[..., AttributionMethod]:
    def factory(model: nn.Module, **attribute_kwargs: Any) -> AttributionMethod:
        return CaptumMethod(cls(model), **attribute_kwargs)

    return factory


def _rectgrad(model: nn.Module, **settings: Any) -> AttributionMethod:
    return RectGrad(model, **settings)


_register(MethodSpec(
    "saliency", _captum(Saliency), {"abs": False},
    "Signed input gradient of the target logit",
    "Simonyan et al. 2014, arXiv:1312.6034",
    label="Saliency Map", color="#1f77b4",
))
_register(MethodSpec(
    "grad_x_input", _captum(InputXGradient), {},
    "Gradient times input",
    "Shrikumar et al. 2016, arXiv:1605.01713",
    label="Gradient * Input", color="#ff7f0e",
))
_register(MethodSpec(
    "guided_backprop", _captum(GuidedBackprop), {},
    "Guided Backpropagation: only positive gradients through ReLUs with positive input",
    "Springenberg et al. 2015, arXiv:1412.6806",
    label="Guided BP", color="#2ca02c",
))
_register(MethodSpec(
    "deconvolution", _captum(Deconvolution), {},
    "Deconvolution: only positive gradients through ReLUs",
    "Zeiler & Fergus 2014, arXiv:1311.2901",
    label="Deconvolution", color="#bcbd22",
))
_register(MethodSpec(
    "smoothgrad", SmoothGradMethod, {"nt_samples": 50, "noise_level": 0.1, "data_range": 2.0,
                                     "nt_samples_batch_size": None, "seed": 0},
    "SmoothGrad: mean signed gradient over 50 noisy copies, sigma = 0.1 x data range (0.2 for "
    "inputs in [-1, 1]), noise seeded per image",
    "Smilkov et al. 2017, arXiv:1706.03825",
    label="SmoothGrad", color="#9467bd", version=2,
))
_register(MethodSpec(
    "integrated_gradients", _captum(IntegratedGradients),
    {"n_steps": 50, "method": "riemann_right", "internal_batch_size": None},
    "Integrated Gradients, 50 steps, right Riemann sum, zero baseline",
    "Sundararajan et al. 2017, arXiv:1703.01365",
    label="IntegGrad", color="#8c564b",
))
_register(MethodSpec(
    "deeplift", _captum(DeepLift), {},
    "DeepLIFT (Rescale rule), zero baseline",
    "Shrikumar et al. 2017, arXiv:1704.02685",
    label="DeepLIFT", color="#17becf",
))
_register(MethodSpec(
    "rectgrad", _rectgrad, {"percentile": 98.0, "tau": None, "padding_trick": True, "prr": False},
    "RectGrad: q = 98 per-layer threshold on a*R at every ReLU, padding trick",
    "Kim et al. 2019, arXiv:1902.04893",
    map_percentile=None, label="RectGrad", color="#d62728",
))
_register(MethodSpec(
    "rectgrad_prr", _rectgrad,
    {"percentile": 98.0, "tau": None, "padding_trick": True, "prr": True},
    "RectGrad with padding trick and proportional redistribution at max-pooling",
    "Kim et al. 2019, arXiv:1902.04893 (appendix C)",
    map_percentile=None, label="RectGrad PRR", color="#e377c2",
))
_register(MethodSpec(
    "random", RandomAttribution, {"seed": 0},
    "Random: seeded uniform values (the ROAR/KAR baseline)",
    "Hooker et al. 2019, arXiv:1806.10758",
    map_percentile=None, label="Random", color="#444444", role="chance", meaningful_scale=False,
    random_ranking=True, version=2,
))

_register(MethodSpec(
    "sobel", SobelAttribution, {},
    "Control: Sobel gradient magnitude of the image (edges), blind to the model and the class",
    "Adebayo et al. 2018, arXiv:1810.03292 (edge detector as a sanity check)",
    label="Sobel (control)", color="#7f7f7f", role="control", meaningful_scale=False,
))

def available_methods() -> list[str]:
    """Registered method names, in registration order (derived ``X+blur`` entries left out)."""
    return [name for name in METHODS.names() if METHODS.get(name).derived_from is None]


#: The name suffix of a blurred control: ``"<method>+blur"`` is ``<method>``'s map blurred.
BLUR_SUFFIX = "+blur"

#: Standard deviation (pixels) of the blurred controls' Gaussian when none is configured.
DEFAULT_BLUR_SIGMA = 1.0


def resolve_method(name: str, *, blur_sigma: float | None = None) -> MethodSpec:
    """The spec of ``name``, registering ``"<X>+blur"`` for any registered method X on first use.

    ``"<X>+blur"`` is a control (role ``"control"``): X's attributions blurred per channel by a
    Gaussian of ``blur_sigma`` pixels (:class:`methods.controls.Blurred`), with X's other
    settings and post-processing (``map_percentile``, ``meaningful_scale``). Blurring cannot add
    information about the model, so a metric that prefers it rewards smoothness (Song, Cha, Seo,
    arXiv:2304.13836). Works for methods registered from outside the project too.

    Args:
        name: A registered name, or a registered name followed by ``"+blur"``.
        blur_sigma: The blur's sigma in pixels (>= 0). None: the registered entry's, else
            :data:`DEFAULT_BLUR_SIGMA`. A different sigma re-registers the entry (its ``sigma``
            setting, hence its provenance, changes with it).

    Raises:
        KeyError: ``name`` (or the method it blurs) is not registered; lists the valid names.
        ValueError: ``blur_sigma`` is not a finite number >= 0.
    """
    if name in METHODS and (blur_sigma is None or METHODS.get(name).derived_from is None):
        return METHODS.get(name)
    if not name.endswith(BLUR_SUFFIX) or len(name) == len(BLUR_SUFFIX):
        return METHODS.get(name)  # raises KeyError listing the valid names
    base = resolve_method(name[: -len(BLUR_SUFFIX)], blur_sigma=None)
    sigma = DEFAULT_BLUR_SIGMA if blur_sigma is None else blur_sigma
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (
        math.isfinite(sigma) and sigma >= 0
    ):
        raise ValueError(f"blur_sigma must be a finite number >= 0, got {blur_sigma!r}")
    if name in METHODS:
        if METHODS.get(name).defaults.get("sigma") == float(sigma):
            return METHODS.get(name)
        METHODS.unregister(name)
    spec = MethodSpec(
        name, blurred_factory(base.factory, float(sigma)),
        {**base.defaults, "sigma": float(sigma)},
        f"Control: {base.label}'s attributions blurred by a Gaussian (sigma {float(sigma):g} px)",
        "Song, Cha, Seo 2023, arXiv:2304.13836 (blurring as a control)",
        map_percentile=base.map_percentile, label=f"{base.label} + blur", role="control",
        meaningful_scale=base.meaningful_scale, version=base.version, derived_from=base.name,
    )
    METHODS.register(name, spec)
    return spec


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
