"""Feature-map occlusion (paper Fig. 3): masks, margins, occlusion orders and the two curves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metrics.feature_occlusion import (
    FeatureOcclusionCurves,
    _occlusion_keep,
    downsample_mask,
    feature_occlusion,
    logit_margin,
)

# Object: the top-left 2x2 block of a 4x4 image plus one stray pixel at (3, 3).
MASK = torch.zeros(1, 4, 4, dtype=torch.bool)
MASK[0, :2, :2] = True
MASK[0, 3, 3] = True


class _ObjectOnly(nn.Module):
    """conv 1x1 (1 -> 2 channels, weights 1 and 2) -> ReLU (occluded layer) -> logits
    ``(sum of the ReLU output over the object units, 0)``: background units cannot matter."""

    def __init__(self, object_mask: torch.Tensor) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        self.relu = nn.ReLU()
        self.register_buffer("object_mask", object_mask.view(1, 1, *object_mask.shape[-2:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv(x))
        score = (h * self.object_mask).flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_downsample_mask_modes_by_hand() -> None:
    # 2x2 cells: top-left all object (4/4), bottom-right 1/4, the others 0/4
    assert downsample_mask(MASK, (2, 2), "area")[0].tolist() == [[True, False], [False, False]]
    assert downsample_mask(MASK, (2, 2), "max")[0].tolist() == [[True, False], [False, True]]
    # nearest picks pixel (2i, 2j): (0,0) object, (2,2) background
    assert downsample_mask(MASK, (2, 2), "nearest")[0].tolist() == [[True, False], [False, False]]
    assert downsample_mask(MASK, (4, 4), "max") is MASK
    with pytest.raises(ValueError, match="mask_downsample must be"):
        downsample_mask(MASK, (2, 2), "bicubic")


def test_logit_margin_by_hand() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 1.0]])
    assert logit_margin(logits, torch.tensor([0, 0])).tolist() == [0.5, -4.0]
    assert logit_margin(logits, torch.tensor(2)).tolist() == [-0.5, -3.0]


def test_occlusion_orders_zero_exactly_the_requested_share_of_the_region_nested() -> None:
    region = MASK[0]  # 5 pixels x 3 channels = 15 units
    fractions = torch.linspace(0, 1, 6, dtype=torch.float64)
    keep = _occlusion_keep(region, 3, 7, fractions, torch.Generator().manual_seed(0))
    assert keep.shape == (7, 6, 48)
    zeroed = (~keep).sum(dim=2)
    expected = torch.round(fractions * 15).long()  # 0, 3, 6, 9, 12, 15
    assert (zeroed == expected).all()
    inside = region.reshape(1, -1).expand(3, -1).reshape(-1)
    assert keep[:, :, ~inside].all()  # background units are never touched
    assert (keep[:, 1:] <= keep[:, :-1]).all()  # each step zeroes a superset of the previous one
    assert not torch.equal(keep[0], keep[1])  # trials use different orders


def test_background_curve_is_exactly_flat_when_the_logit_ignores_the_background() -> None:
    model = _ObjectOnly(MASK[0]).eval()
    x = torch.ones(2, 1, 4, 4)
    x[1] *= 0.5
    curves = feature_occlusion(model, x, torch.tensor([0, 0]), MASK.expand(2, 4, 4),
                               model.relu, trials=5, steps=6, seed=3)
    assert isinstance(curves, FeatureOcclusionCurves)
    assert curves.object_margins.shape == curves.background_margins.shape == (2, 5, 6)
    # 5 object pixels x (1 + 2) per pixel = 15 for image 0, 7.5 for image 1
    full = torch.tensor([15.0, 7.5]).view(2, 1, 1)
    assert torch.equal(curves.background_margins, full.expand(2, 5, 6))
    # the object curve starts at the full margin, ends at 0 (logit 0 vs 0), and falls monotonically
    assert torch.equal(curves.object_margins[..., 0], full[..., 0].expand(2, 5))
    assert torch.equal(curves.object_margins[..., -1], torch.zeros(2, 5))
    assert (curves.object_margins[..., 1:] <= curves.object_margins[..., :-1]).all()
    assert curves.object_margins[..., 1:-1].std() > 0  # random orders: trials differ


def test_curves_are_deterministic_given_the_seed() -> None:
    model = _ObjectOnly(MASK[0]).eval()
    x = torch.ones(1, 1, 4, 4)
    run = [feature_occlusion(model, x, torch.tensor([0]), MASK, model.relu, trials=4, steps=5,
                             seed=s) for s in (7, 7, 8)]
    assert torch.equal(run[0].object_margins, run[1].object_margins)
    assert not torch.equal(run[0].object_margins, run[2].object_margins)


def test_summary_mean_and_percentile_interval_by_hand() -> None:
    margins = torch.arange(8.0).view(2, 2, 2)  # step 0: 0, 2, 4, 6; step 1: 1, 3, 5, 7
    curves = FeatureOcclusionCurves(torch.tensor([0.0, 1.0]), margins, margins)
    s = curves.summary("object", interval=50)
    assert s.mean.tolist() == [3.0, 4.0]
    # 25th / 75th percentiles of (0, 2, 4, 6), linear interpolation: 1.5 and 4.5
    assert s.low.tolist() == [1.5, 2.5] and s.high.tolist() == [4.5, 5.5]
    with pytest.raises(ValueError, match="region must be"):
        curves.summary("edge")


def test_empty_region_gives_nan_curves_with_one_warning() -> None:
    model = _ObjectOnly(MASK[0]).eval()
    everything = torch.ones(1, 4, 4, dtype=torch.bool)
    with pytest.warns(RuntimeWarning, match="0 images without object units and 1 without background"):
        curves = feature_occlusion(model, torch.ones(1, 1, 4, 4), torch.tensor([0]), everything,
                                   model.relu, trials=2, steps=3)
    assert torch.isnan(curves.background_margins).all()
    assert not torch.isnan(curves.object_margins).any()


def test_hook_is_removed_and_caller_tensors_untouched() -> None:
    model = _ObjectOnly(MASK[0]).eval()
    x = torch.ones(1, 1, 4, 4)
    feature_occlusion(model, x, torch.tensor([0]), MASK, model.relu, trials=2, steps=3)
    assert not model.relu._forward_hooks and torch.equal(x, torch.ones(1, 1, 4, 4))


def test_mask_reaches_a_pooled_layer_of_the_paper_cnn(paper_cnn) -> None:
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[:, 8:24, 8:24] = True
    curves = feature_occlusion(paper_cnn, x, torch.tensor([3]), mask, paper_cnn.features[6],
                               trials=2, steps=3)  # ReLU after conv3: 64 x 16 x 16
    assert curves.object_margins.shape == (1, 2, 3)
    assert curves.object_margins[..., 0].eq(curves.background_margins[..., 0]).all()


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.relu(x)).flatten(1))


def test_bad_layers_and_arguments_raise() -> None:
    model = _Twice()
    x, t = torch.ones(1, 1, 4, 4), torch.tensor([0])
    with pytest.raises(ValueError, match="called exactly once per forward pass, it was called 2"):
        feature_occlusion(model, x, t, MASK, model.relu)
    with pytest.raises(ValueError, match=r"must output a \(N, C, h, w\) tensor"):
        feature_occlusion(model, x, t, MASK, model.fc)
    with pytest.raises(ValueError, match="layer must be a submodule of model"):
        feature_occlusion(model, x, t, MASK, nn.ReLU())
    with pytest.raises(ValueError, match="targets must be an int64 tensor"):
        feature_occlusion(model, x, torch.tensor([0.0]), MASK, model.relu)
    with pytest.raises(ValueError, match="foreground must be a bool tensor"):
        feature_occlusion(model, x, t, MASK.float(), model.relu)
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        feature_occlusion(model, x, t, MASK, model.relu, steps=1)
