"""The controls in the registry: ``sobel``, and ``X+blur`` resolvable for any registered X."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from methods import (
    METHODS,
    MethodSpec,
    SobelAttribution,
    available_methods,
    create_method,
    resolve_method,
    to_map,
)
from methods.controls import gaussian_blur


@pytest.fixture
def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 3)).eval()


@pytest.fixture
def derived_cleanup() -> Iterator[None]:
    """Unregister the derived entries a test registers, so tests stay independent."""
    before = set(METHODS.names())
    yield
    for name in set(METHODS.names()) - before:
        METHODS.unregister(name)


def test_sobel_is_a_model_blind_control(small_cnn: nn.Module) -> None:
    spec = METHODS.get("sobel")
    assert spec.role == "control" and not spec.meaningful_scale and spec.map_percentile == 95.0
    x = torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(1, 3, 4, 4).clone()
    out = create_method("sobel", small_cnn).attribute(x)  # no target needed
    assert isinstance(create_method("sobel", small_cnn), SobelAttribution)
    # the hand case of tests/methods/test_controls.py, per channel: columns 0, 4, 4, 0
    assert torch.equal(out, torch.tensor([0.0, 4.0, 4.0, 0.0]).expand(1, 3, 4, 4))
    assert "sobel" in available_methods()


def test_blurred_control_is_derived_from_its_method(small_cnn: nn.Module,
                                                    derived_cleanup: None) -> None:
    spec = resolve_method("saliency+blur")
    base = METHODS.get("saliency")
    assert spec.role == "control" and spec.derived_from == "saliency"
    assert spec.map_percentile == base.map_percentile == 95.0
    assert dict(spec.defaults) == {**base.defaults, "sigma": 1.0}
    assert spec.label == "Saliency Map + blur"
    assert METHODS.get("saliency+blur") is spec and resolve_method("saliency+blur") is spec
    assert "saliency+blur" not in available_methods()  # derived entries are not listed
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    plain = create_method("saliency", small_cnn).attribute(x, target=1)
    blurred = create_method("saliency+blur", small_cnn).attribute(x, target=1)
    torch.testing.assert_close(blurred, gaussian_blur(plain, 1.0))
    # the blur is linear, so the map of the blurred attributions is the blurred map
    torch.testing.assert_close(to_map(blurred), gaussian_blur(to_map(plain), 1.0))


def test_rectgrad_blur_keeps_rectgrads_post_processing(derived_cleanup: None) -> None:
    spec = resolve_method("rectgrad+blur")
    assert spec.map_percentile is None and spec.defaults["percentile"] == 98.0


def test_a_configured_sigma_reregisters_and_sigma_zero_is_the_method(
    small_cnn: nn.Module, derived_cleanup: None
) -> None:
    first = resolve_method("grad_x_input+blur")
    second = resolve_method("grad_x_input+blur", blur_sigma=2.5)
    assert first.defaults["sigma"] == 1.0 and second.defaults["sigma"] == 2.5
    assert METHODS.get("grad_x_input+blur") is second
    assert resolve_method("grad_x_input+blur") is second  # None keeps the registered one
    resolve_method("grad_x_input+blur", blur_sigma=0.0)
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(create_method("grad_x_input+blur", small_cnn).attribute(x, target=0),
                       create_method("grad_x_input", small_cnn).attribute(x, target=0))


def test_any_method_registered_later_gets_its_blurred_control(derived_cleanup: None) -> None:
    class Ones:
        def __init__(self, model: nn.Module, scale: float = 1.0) -> None:
            self.scale = scale

        def attribute(self, inputs: torch.Tensor, target: object = None,
                      additional_forward_args: object = None) -> torch.Tensor:
            out = torch.zeros_like(inputs)
            out[..., 2, 2] = self.scale
            return out

    METHODS.register("impulse", MethodSpec("impulse", Ones, {"scale": 2.0}, "one pixel", "a test",
                                           role="method"))
    spec = resolve_method("impulse+blur", blur_sigma=1.0)
    assert spec.derived_from == "impulse" and dict(spec.defaults) == {"scale": 2.0, "sigma": 1.0}
    out = create_method("impulse+blur", nn.Identity()).attribute(torch.zeros(1, 1, 5, 5))
    # an impulse of 2 blurred: 2 x the normalised kernel, the centre 2 * g(0)^2
    g = torch.exp(-0.5 * torch.arange(-3.0, 4.0) ** 2)
    g = g / g.sum()
    assert out[0, 0, 2, 2].item() == pytest.approx(2 * float(g[3]) ** 2, rel=1e-5)


def test_unknown_names_and_bad_sigma_raise(derived_cleanup: None) -> None:
    with pytest.raises(KeyError, match="unknown method 'gradcam'.*valid names: saliency"):
        resolve_method("gradcam+blur")
    with pytest.raises(KeyError, match="unknown method 'salency'"):
        resolve_method("salency")
    with pytest.raises(ValueError, match="blur_sigma must be a finite number >= 0"):
        resolve_method("saliency+blur", blur_sigma=-1.0)
