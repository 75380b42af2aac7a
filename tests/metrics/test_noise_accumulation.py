"""Noise accumulation (paper Fig. 6): per-layer attribution z * dy/dz and its mass off the object."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import InputXGradient
from torch import nn

from methods import RectGrad, to_map
from metrics import background_mass
from metrics.noise_accumulation import layer_attributions, noise_accumulation

# Hand case: weights w[i, j] = 4 i + j + 1 (1..16) on a 4x4 map, object = the left two columns.
W = torch.arange(1.0, 17.0, dtype=torch.float64).view(4, 4)
LEFT = torch.zeros(1, 4, 4, dtype=torch.bool)
LEFT[0, :, :2] = True


class _Hand(nn.Module):
    """conv 1x1 (weight 2, no bias) -> ReLU -> y = sum(w * relu)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False).double()
        with torch.no_grad():
            self.conv.weight.fill_(2.0)
        self.relu = nn.ReLU(inplace=inplace)
        self.register_buffer("w", W.view(1, 1, 4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.relu(self.conv(x)) * self.w).flatten(1).sum(1, keepdim=True)


def test_hand_case_saliency() -> None:
    # x = 1: z = 2, dy/dz = w, so z * dy/dz = 2 w at the ReLU input, and x * 2 w at the input.
    # Off the object (columns 2, 3): sum_i (4i + 3) + (4i + 4) = 76 of sum(w) = 136.
    result = noise_accumulation(_Hand(), torch.ones(1, 1, 4, 4, dtype=torch.float64),
                                torch.tensor([0]), LEFT)
    assert result.layers == ("input", "relu")
    torch.testing.assert_close(result.background_share,
                               torch.full((1, 2), 76.0 / 136.0, dtype=torch.float64))


def test_hand_case_rectgrad_constant_threshold() -> None:
    # a * R = 2 w > tau = 20 keeps w = 11 .. 16: positions (2,2) (2,3) (3,0) (3,1) (3,2) (3,3).
    # Off the object: 11 + 12 + 15 + 16 = 54 of 81 -> 2/3, at the ReLU input and at the input.
    model = _Hand()
    result = noise_accumulation(model, torch.ones(1, 1, 4, 4, dtype=torch.float64),
                                torch.tensor([0]), LEFT, method=RectGrad(model, tau=20.0))
    torch.testing.assert_close(result.background_share,
                               torch.full((1, 2), 2.0 / 3.0, dtype=torch.float64))


def test_hand_case_rectgrad_percentile_threshold() -> None:
    # q = 75 over 16 units: nearest rank round(0.75 * 15) = 11 -> tau = 2 * 12 = 24, kept w > 12:
    # 13, 14 (object) and 15, 16 (background) -> 31 / 58.
    model = _Hand()
    result = noise_accumulation(model, torch.ones(1, 1, 4, 4, dtype=torch.float64),
                                torch.tensor([0]), LEFT, method=RectGrad(model, percentile=75))
    torch.testing.assert_close(result.background_share,
                               torch.full((1, 2), 31.0 / 58.0, dtype=torch.float64))


def test_inplace_relu_gives_the_same_layers_and_values() -> None:
    x = torch.linspace(-1, 1, 16, dtype=torch.float64).view(1, 1, 4, 4)
    plain = layer_attributions(_Hand(), x, torch.tensor([0]))
    inplace = layer_attributions(_Hand(inplace=True), x, torch.tensor([0]))
    assert [n for n, _ in plain] == [n for n, _ in inplace] == ["input", "relu"]
    for (_, a), (_, b) in zip(plain, inplace, strict=True):
        torch.testing.assert_close(a, b)
    # the pre-activation is kept: z = 2x < 0 on the first half, where dy/dz = 0 for Saliency
    assert (plain[1][1][0, 0].flatten()[:8] == 0).all()


def _paper_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1
    mask = torch.zeros(3, 32, 32, dtype=torch.bool)
    mask[:, 6:20, 10:28] = True
    return x, torch.tensor([0, 4, 9]), mask


@pytest.mark.parametrize("method", [None, "rectgrad"])
def test_paper_cnn_shapes_names_and_range(paper_cnn, method) -> None:
    x, targets, mask = _paper_batch()
    rule = RectGrad(paper_cnn, percentile=98, padding_trick=True) if method else None
    result = noise_accumulation(paper_cnn, x, targets, mask, method=rule)
    # the dense ReLU (classifier.2) has no spatial map and is left out
    assert result.layers == ("input", "features.1", "features.3", "features.6", "features.8")
    share = result.background_share
    assert share.shape == (3, 5) and share.dtype == torch.float32
    assert ((share >= 0) & (share <= 1)).all()
    assert not paper_cnn.features[1]._forward_pre_hooks  # hooks removed


def test_input_layer_equals_background_fraction_of_the_methods_own_maps(paper_cnn) -> None:
    x, targets, mask = _paper_batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        gxi = InputXGradient(paper_cnn).attribute(x, target=targets)
    rectgrad = RectGrad(paper_cnn, percentile=98, padding_trick=True)
    rg = rectgrad.attribute(x, target=targets, final_threshold=False)
    for method, attribution in ((None, gxi), (rectgrad, rg)):
        expected = background_mass(to_map(attribution), mask, normalize=True)
        got = noise_accumulation(paper_cnn, x, targets, mask, method=method).background_share[:, 0]
        torch.testing.assert_close(got, expected)


def test_padding_trick_zeroes_the_border_at_every_conv_output(paper_cnn) -> None:
    """Appendix C.1: the gradient w.r.t. a conv output (here the following ReLU's input) has its
    1-pixel border zeroed; without the trick it does not."""
    x, targets, _ = _paper_batch()
    with_trick = dict(layer_attributions(paper_cnn, x, targets,
                                         method=RectGrad(paper_cnn, 98, padding_trick=True)))
    without = dict(layer_attributions(paper_cnn, x, targets,
                                      method=RectGrad(paper_cnn, 98, padding_trick=False)))
    for layer in ("features.1", "features.3", "features.6", "features.8"):
        border = with_trick[layer].clone()
        border[..., 1:-1, 1:-1] = 0
        assert border.abs().max() == 0, layer
        assert not torch.allclose(with_trick[layer], without[layer])
    assert not torch.allclose(with_trick["input"], without["input"])


def test_rectgrad_puts_less_mass_off_the_object_than_saliency(shapes16_case) -> None:
    # Paper Fig. 6 on the shipped model: at the input, RectGrad's share of |map| off the object
    # (0.46 mean) is below Saliency's gradient x input (0.58) on the reference machine.
    case = shapes16_case
    rule = RectGrad(case.model, percentile=98, padding_trick=True)
    sal = noise_accumulation(case.model, case.images, case.predictions, case.masks)
    rg = noise_accumulation(case.model, case.images, case.predictions, case.masks, method=rule)
    diff = (sal.background_share - rg.background_share)[:, 0]
    assert diff.mean().item() > 0.05 and (diff > 0).float().mean().item() > 0.6


def test_all_zero_map_is_nan_with_one_warning() -> None:
    x = torch.ones(2, 1, 4, 4, dtype=torch.float64)
    x[1] = 0.0  # z = 0: every product is 0
    with pytest.warns(RuntimeWarning, match="2 of 4 values are undefined"):
        result = noise_accumulation(_Hand(), x, torch.tensor([0, 0]), LEFT.expand(2, 4, 4))
    assert torch.isnan(result.background_share[1]).all()
    assert not torch.isnan(result.background_share[0]).any()


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x)).flatten(1)


def test_models_without_relu_modules_and_bad_arguments_raise() -> None:
    x, t = torch.ones(1, 1, 4, 4), torch.tensor([0])
    with pytest.raises(ValueError, match="no nn.ReLU module was called"):
        noise_accumulation(_Functional(), x, t, LEFT)
    with pytest.raises(ValueError, match="method must be None"):
        noise_accumulation(_Hand(), x.double(), t, LEFT, method="rectgrad")
    with pytest.raises(ValueError, match="foreground must be a bool tensor of shape"):
        noise_accumulation(_Hand(), x.double(), t, LEFT[:, :2])
    with pytest.raises(ValueError, match="targets must be an int64 tensor"):
        noise_accumulation(_Hand(), x.double(), torch.tensor([0, 1]), LEFT)
