"""The control methods: Sobel edge magnitude (hand-computed) and Gaussian-blurred attributions."""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import Saliency
from torch import nn

from methods import to_map
from methods.controls import Blurred, SobelAttribution, blurred_factory, gaussian_blur
from methods.wrappers import CaptumMethod


def _vertical_edge() -> torch.Tensor:
    """(1, 1, 4, 4): columns 0, 0, 1, 1."""
    return torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64).expand(1, 1, 4, 4).clone()


def test_sobel_vertical_edge_by_hand() -> None:
    # Replicate padding: Gx at column j = (1 + 2 + 1) * (x[j+1] - x[j-1]) with x[-1] = x[0] and
    # x[4] = x[3]: columns 0 and 3 see no step, columns 1 and 2 see the unit step -> 4; Gy = 0.
    out = SobelAttribution().attribute(_vertical_edge())
    expected = torch.tensor([0.0, 4.0, 4.0, 0.0], dtype=torch.float64).expand(1, 1, 4, 4)
    assert torch.equal(out, expected)


def test_sobel_diagonal_step_by_hand() -> None:
    # x[i, j] = 1 for j > i (upper triangle) on a 3x3 image, replicate padding.
    x = torch.triu(torch.ones(3, 3, dtype=torch.float64), diagonal=1).view(1, 1, 3, 3)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")[0, 0]
    # centre pixel (1, 1) by hand from the padded 5x5 neighbourhood rows 1..3, cols 1..3:
    # [[0, 1, 1], [0, 0, 1], [0, 0, 0]] -> Gx = (1-0) + 2(1-0) + (0-0) = 3,
    # Gy = (0+0+0) - (0+2+1) = -3 -> magnitude sqrt(18)
    assert padded[1:4, 1:4].tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    out = SobelAttribution().attribute(x)
    assert out[0, 0, 1, 1].item() == pytest.approx(math.sqrt(18.0))


def test_sobel_is_per_channel_and_its_map_is_the_channel_sum() -> None:
    x = torch.cat([_vertical_edge(), 2 * _vertical_edge().transpose(2, 3)], dim=1)  # (1, 2, 4, 4)
    out = SobelAttribution().attribute(x)
    assert out[0, 0, 0].tolist() == [0.0, 4.0, 4.0, 0.0]
    assert out[0, 1, :, 0].tolist() == [0.0, 8.0, 8.0, 0.0]  # horizontal edge, twice the step
    assert to_map(out)[0, 1, 1].item() == 4.0 + 8.0


def test_sobel_ignores_the_target_and_keeps_structure() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 8, 8, generator=g, requires_grad=True)
    b = torch.rand(2, 1, 5, 7, generator=g)
    before = a.detach().clone()
    sobel = SobelAttribution()  # no model: a given target is accepted unchecked
    out_a, out_b = sobel.attribute((a, b), target=1)
    assert torch.equal(out_a, sobel.attribute(a, target=0))
    assert out_a.shape == a.shape and out_b.shape == b.shape and not out_a.requires_grad
    assert (out_a >= 0).all() and torch.equal(a.detach(), before)
    assert isinstance(sobel.attribute(a), torch.Tensor)


def test_sobel_flat_image_is_zero_everywhere_including_the_border() -> None:
    assert torch.equal(SobelAttribution().attribute(torch.full((1, 3, 5, 5), -0.7)),
                       torch.zeros(1, 3, 5, 5))


def test_sobel_rejects_non_image_inputs() -> None:
    with pytest.raises(ValueError, match="images must be a floating tensor of shape"):
        SobelAttribution().attribute(torch.zeros(3, 4, 4))


class _Fixed:
    """An attribution object returning a given tensor (records the call)."""

    def __init__(self, value: torch.Tensor) -> None:
        self.value = value
        self.calls: list[tuple] = []

    def attribute(self, inputs, target=None, additional_forward_args=None):
        self.calls.append((target, additional_forward_args))
        return self.value


def test_blur_sigma_zero_is_exactly_the_identity() -> None:
    value = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    inner = _Fixed(value)
    out = Blurred(inner, sigma=0).attribute(torch.zeros(2, 3, 6, 6), target=2,
                                            additional_forward_args=("x",))
    assert out is value and inner.calls == [(2, ("x",))]
    assert gaussian_blur(value, 0.0) is value


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5, 10.0])
def test_blur_preserves_a_constant_map(sigma) -> None:
    # 10.0: the radius (30) is wider than the 7x5 map, reflection folds several times.
    value = torch.full((1, 2, 7, 5), 3.25, dtype=torch.float64)
    out = Blurred(_Fixed(value), sigma=sigma).attribute(value)
    torch.testing.assert_close(out, value, rtol=0, atol=1e-12)


def test_blur_preserves_total_mass_away_from_borders() -> None:
    # sigma 1 -> radius 3: mass at rows/cols 4..11 of a 16x16 map stays strictly inside the border
    g = torch.Generator().manual_seed(3)
    value = torch.zeros(2, 3, 16, 16, dtype=torch.float64)
    value[..., 4:12, 4:12] = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    out = Blurred(_Fixed(value), sigma=1.0).attribute(value)
    torch.testing.assert_close(out.sum(dim=(2, 3)), value.sum(dim=(2, 3)), rtol=0, atol=1e-12)
    assert not torch.allclose(out, value)


def test_blur_of_an_impulse_is_the_normalised_gaussian_kernel() -> None:
    value = torch.zeros(1, 1, 11, 11, dtype=torch.float64)
    value[0, 0, 5, 5] = 1.0
    out = gaussian_blur(value, 1.0)
    k = torch.exp(-0.5 * torch.arange(-3, 4, dtype=torch.float64) ** 2)
    k = k / k.sum()
    expected = torch.zeros(11, 11, dtype=torch.float64)
    expected[2:9, 2:9] = torch.outer(k, k)
    torch.testing.assert_close(out[0, 0], expected, rtol=0, atol=1e-15)


def test_blur_reflects_at_the_border_without_repeating_the_edge() -> None:
    # 1-D check along W: an impulse at column 0 of a 1x5 row, sigma 1 (radius 3): output column j
    # gets g[j] from the impulse itself and g[-j] ... via reflection: reflect(j + k) = 0 only for
    # k = -j. So the output is g[|j|] for j = 0..3 (no doubling at the edge: the edge pixel is not
    # repeated by "reflect").
    value = torch.zeros(1, 5, dtype=torch.float64)
    value[0, 0] = 1.0
    k = torch.exp(-0.5 * torch.arange(0, 4, dtype=torch.float64) ** 2)
    k = k / (2 * k[1:].sum() + k[0])
    out = gaussian_blur(value, 1.0)[0]
    torch.testing.assert_close(out[:4], k, rtol=0, atol=1e-15)


def test_blur_is_per_channel_and_blurs_each_tensor_of_a_tuple() -> None:
    a = torch.zeros(1, 2, 9, 9, dtype=torch.float64)
    a[0, 0, 4, 4] = 1.0  # channel 1 stays zero: no mixing across channels
    b = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    out_a, out_b = Blurred(_Fixed((a, b)), sigma=1.0).attribute((a, b))
    assert out_a[0, 1].abs().max().item() == 0.0 and out_a[0, 0, 4, 4].item() < 1.0
    torch.testing.assert_close(out_b, b)


def test_blurred_saliency_and_the_factory() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 3)).eval()
    x = torch.randn(2, 3, 8, 8)
    plain = CaptumMethod(Saliency(model), abs=False)
    factory = blurred_factory(lambda m, **kw: CaptumMethod(Saliency(m), **kw))
    method = factory(model, abs=False)
    assert isinstance(method, Blurred) and method.sigma == 1.0
    torch.testing.assert_close(method.attribute(x, target=1),
                               gaussian_blur(plain.attribute(x, target=1), 1.0))
    assert factory(model, sigma=0.0, abs=False).sigma == 0.0


@pytest.mark.parametrize("sigma", [-1.0, float("nan"), float("inf"), True, "1"])
def test_blur_rejects_bad_sigma(sigma) -> None:
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        Blurred(SobelAttribution(), sigma=sigma)


def test_blur_rejects_objects_without_attribute() -> None:
    with pytest.raises(ValueError, match="method must have an attribute"):
        Blurred(object())
