"""The method registry: names, order, errors, overrides, and each method's output."""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

from bench.models import PaperCNN
from methods import METHODS, MethodSpec, RectGrad, available_methods, create_method

PAPER_ORDER = [
    "saliency", "grad_x_input", "guided_backprop", "deconvolution", "smoothgrad",
    "integrated_gradients", "deeplift", "rectgrad", "rectgrad_prr", "random", "sobel",
]


@pytest.fixture(scope="module")
def biased_cnn() -> PaperCNN:
    """Paper CNN with non-zero biases (with zero biases the net is homogeneous and IG = grad*x)."""
    torch.manual_seed(0)
    model = PaperCNN().eval()
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.uniform_(module.bias, -0.2, 0.2)
    return model


@pytest.fixture(scope="module")
def small_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    return torch.rand(2, 3, 32, 32, generator=g) * 2 - 1


def test_names_in_paper_order() -> None:
    assert available_methods() == PAPER_ORDER
    for name in PAPER_ORDER:
        spec = METHODS.get(name)
        assert spec.name == name and spec.description and spec.reference
    assert METHODS.get("rectgrad").map_percentile is None
    assert METHODS.get("saliency").map_percentile == 95.0


def test_unknown_method_lists_valid_names(paper_cnn) -> None:
    with pytest.raises(KeyError, match="rectgrad_prr"):
        create_method("gradcam", paper_cnn)


def test_duplicate_registration_raises() -> None:
    spec = METHODS.get("saliency")
    with pytest.raises(ValueError, match="already registered"):
        METHODS.register("saliency", spec)
    assert available_methods() == PAPER_ORDER


def test_defaults_are_read_only_copies(paper_cnn) -> None:
    spec = METHODS.get("integrated_gradients")
    with pytest.raises(TypeError):
        spec.defaults["n_steps"] = 5  # type: ignore[index]
    method = create_method("integrated_gradients", paper_cnn, n_steps=5)
    assert method.attribute_kwargs["n_steps"] == 5
    assert spec.defaults["n_steps"] == 50


def test_overrides_merge_none_dropped_unknown_raise(paper_cnn) -> None:
    rg = create_method("rectgrad", paper_cnn, percentile=90.0, prr=None)
    assert isinstance(rg, RectGrad)
    assert rg.rule.percentile == 90.0 and rg.padding_trick and not rg.prr
    with pytest.raises(ValueError, match="percentile, tau, padding_trick, prr"):
        create_method("rectgrad", paper_cnn, precentile=90.0)
    with pytest.raises(ValueError, match=r"\(none\)"):
        create_method("grad_x_input", paper_cnn, abs=True)


def test_paper_settings_bound() -> None:
    assert dict(METHODS.get("integrated_gradients").defaults)["method"] == "riemann_right"
    assert METHODS.get("integrated_gradients").defaults["n_steps"] == 50
    assert METHODS.get("smoothgrad").defaults["nt_samples"] == 50
    assert METHODS.get("smoothgrad").defaults["noise_level"] == 0.1
    assert METHODS.get("saliency").defaults["abs"] is False
    assert METHODS.get("rectgrad").defaults == {
        "percentile": 98.0, "tau": None, "padding_trick": True, "prr": False}
    assert METHODS.get("rectgrad_prr").defaults["prr"] is True
    assert isinstance(METHODS.get("random"), MethodSpec)


def _grad(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf)[:, target].sum(), leaf)
    return grad


@pytest.mark.parametrize("name", PAPER_ORDER)
def test_every_method_shape_dtype_finite(name, biased_cnn, small_batch) -> None:
    overrides = {"nt_samples": 2} if name == "smoothgrad" else {}
    if name == "integrated_gradients":
        overrides = {"n_steps": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the wrappers silence Captum's expected warnings
        attr = create_method(name, biased_cnn, **overrides).attribute(small_batch, target=1)
    assert attr.shape == small_batch.shape and attr.dtype == small_batch.dtype
    assert torch.isfinite(attr).all() and attr.abs().sum() > 0


def test_saliency_is_signed_gradient(biased_cnn, small_batch) -> None:
    got = create_method("saliency", biased_cnn).attribute(small_batch, target=3)
    expected = _grad(biased_cnn, small_batch, 3)
    torch.testing.assert_close(got, expected)
    assert (got < 0).any()


def test_grad_x_input(biased_cnn, small_batch) -> None:
    got = create_method("grad_x_input", biased_cnn).attribute(small_batch, target=3)
    torch.testing.assert_close(got, small_batch * _grad(biased_cnn, small_batch, 3))


@pytest.mark.parametrize(("name", "cls"), [("guided_backprop", GuidedBackprop),
                                           ("deconvolution", Deconvolution)])
def test_modified_relu_methods_are_captums(name, cls, biased_cnn, small_batch) -> None:
    got = create_method(name, biased_cnn).attribute(small_batch, target=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cls(biased_cnn).attribute(small_batch, target=0)
    torch.testing.assert_close(got, expected)


def test_integrated_gradients_completeness(biased_cnn, small_batch) -> None:
    """sum(IG) ~ f(x) - f(0) with 50 right-Riemann steps (a few percent at most)."""
    attr = create_method("integrated_gradients", biased_cnn).attribute(small_batch, target=2)
    with torch.no_grad():
        delta = biased_cnn(small_batch)[:, 2] - biased_cnn(torch.zeros_like(small_batch))[:, 2]
    total = attr.flatten(1).sum(1)
    assert delta.abs().min() > 1e-3
    torch.testing.assert_close(total, delta, rtol=0.05, atol=0.02 * float(delta.abs().max()))


def test_deeplift_summation_to_delta(biased_cnn, small_batch) -> None:
    """Rescale rule: sum(attr) == f(x) - f(0) exactly on conv/ReLU/dense layers. (Captum's
    max-pool rule does not conserve exactly, ~1e-2 on the paper CNN, so the pools are left out.)"""
    torch.manual_seed(1)
    layers = [m for m in biased_cnn.features if not isinstance(m, nn.MaxPool2d)]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 32 * 32, 3)).eval()
    attr = create_method("deeplift", model).attribute(small_batch, target=2)
    with torch.no_grad():
        delta = model(small_batch)[:, 2] - model(torch.zeros_like(small_batch))[:, 2]
    assert delta.abs().min() > 1e-3
    torch.testing.assert_close(attr.flatten(1).sum(1), delta, rtol=1e-4, atol=1e-5)


def test_smoothgrad_zero_noise_is_saliency_and_seeded(biased_cnn, small_batch) -> None:
    still = create_method("smoothgrad", biased_cnn, nt_samples=2, noise_level=0.0)
    torch.testing.assert_close(
        still.attribute(small_batch, target=0), _grad(biased_cnn, small_batch, 0)
    )
    state = torch.get_rng_state()
    a = create_method("smoothgrad", biased_cnn, nt_samples=3, seed=7).attribute(small_batch, target=0)
    b = create_method("smoothgrad", biased_cnn, nt_samples=3, seed=7).attribute(small_batch, target=0)
    assert torch.equal(torch.get_rng_state(), state)  # caller's random stream untouched
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, _grad(biased_cnn, small_batch, 0))
    assert (a < 0).any()  # signed, not absolute


def test_rectgrad_entries_match_rectgrad(biased_cnn, small_batch) -> None:
    got = create_method("rectgrad", biased_cnn).attribute(small_batch, target=0)
    expected = RectGrad(biased_cnn, 98.0, padding_trick=True).attribute(small_batch, target=0)
    torch.testing.assert_close(got, expected)
    prr = create_method("rectgrad_prr", biased_cnn).attribute(small_batch, target=0)
    assert (prr >= 0).all() and not torch.allclose(prr, got)


def test_random_is_seeded_per_object_and_image(paper_cnn, small_batch) -> None:
    """Values depend on (seed, image) only: equal on every call and for every object with the
    seed, different for another seed or another image (no longer a stream advanced per call)."""
    first = create_method("random", paper_cnn, seed=3)
    second = create_method("random", paper_cnn, seed=3)
    a1, a2 = first.attribute(small_batch), first.attribute(small_batch)
    assert torch.equal(a1, second.attribute(small_batch)) and torch.equal(a1, a2)
    assert not torch.equal(a1, create_method("random", paper_cnn, seed=4).attribute(small_batch))
    assert not torch.equal(a1[0], a1[1])
    assert torch.equal(first.attribute(small_batch.flip(0)), a1.flip(0))
    assert (a1 >= 0).all() and (a1 < 1).all() and a1.shape == small_batch.shape
