"""Paired ROAR/KAR differences over seeds and test images, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from metrics.curves import curve_area
from metrics.roar_paired import area_weights, paired_difference


def _cubes() -> tuple[torch.Tensor, torch.Tensor]:
    """(F=2, S=2, M=2): A gets everything right; B misses some. With fractions (0, 1) the weights
    are (1/2, 1/2), so e[s, i] = (d[0, s, i] + d[1, s, i]) / 2 = [[0, 1/2], [1/2, 1]]."""
    a = torch.ones(2, 2, 2, dtype=torch.bool)
    b = torch.tensor([[[True, False], [False, False]], [[True, True], [True, False]]])
    return a, b


def test_area_weights_reproduce_curve_area() -> None:
    weights = area_weights([0.1, 0.3, 0.9])  # trapezoid (0.1, 0.4, 0.3) over the span 0.8
    assert weights.tolist() == pytest.approx([0.125, 0.5, 0.375])
    curve = [0.9, 0.5, 0.2]
    assert float(weights @ torch.tensor(curve, dtype=torch.float64)) == pytest.approx(
        curve_area([0.1, 0.3, 0.9], curve))


def test_difference_and_its_spreads_by_hand() -> None:
    a, b = _cubes()
    roar = paired_difference(a, b, [0.0, 1.0], "roar", n_boot=4000)
    # scores: A's curve is (1, 1) -> 1; B's curve is (mean(1,0,0,0), mean(1,1,1,0)) = (1/4, 3/4)
    assert roar.value == pytest.approx(1.0 - curve_area([0.0, 1.0], [0.25, 0.75])) == 0.5
    assert roar.sd_seeds == pytest.approx(math.sqrt(0.125))  # per seed: 1/4, 3/4
    assert roar.se_images == pytest.approx(math.sqrt(0.125) / math.sqrt(2))  # per image: 1/4, 3/4
    assert roar.seeds.difference == pytest.approx(0.5) and roar.seeds.n == 2
    assert roar.seeds.p_value == pytest.approx(1 - 2 * math.atan(2) / math.pi)  # t = 2, 1 df
    # image bootstrap: means of 2 resampled images take 1/4, 1/2, 3/4 with chances 1/4, 1/2, 1/4
    assert (roar.images.low, roar.images.high) == (pytest.approx(0.25), pytest.approx(0.75))
    assert roar.images.p_value == pytest.approx(2 / 4001)  # no replicate at or below 0
    assert roar.both.interval == "bootstrap_models_images" and roar.both.n == 4
    assert roar.standard_error() == pytest.approx(math.sqrt(0.125 / 2 + 0.0625))
    assert roar.standard_error(seed_sd=0.0) == pytest.approx(0.25)
    kar = paired_difference(a, b, [0.0, 1.0], "kar", n_boot=200)
    assert kar.value == pytest.approx(-0.5)  # AOC = 1 - AUC: a better curve lowers it


def test_identical_methods_differ_by_exactly_nothing() -> None:
    a, _ = _cubes()
    same = paired_difference(a, a.clone(), [0.0, 1.0], "roar", n_boot=100)
    assert same.value == 0.0 and same.images.p_value == 1.0 and same.both.p_value == 1.0
    assert (same.both.low, same.both.high) == (0.0, 0.0)


def test_seed_resampling_widens_the_interval_only_when_seeds_disagree() -> None:
    g = torch.Generator().manual_seed(0)
    b = torch.rand(3, 4, 2000, generator=g) < 0.5
    flips = torch.rand(3, 4, 2000, generator=g)
    # A beats B by 5 points in seed 0 and 1, by 25 points in seeds 2 and 3
    shift = torch.tensor([0.05, 0.05, 0.25, 0.25]).view(1, 4, 1)
    a = b | (flips < shift)
    d = paired_difference(a, b, [0.1, 0.5, 0.9], "kar", n_boot=2000)
    width = {k: t.high - t.low for k, t in (("images", d.images), ("both", d.both))}
    assert width["both"] > 2 * width["images"]
    one_seed = paired_difference(a[:, :1], b[:, :1], [0.1, 0.5, 0.9], "kar", n_boot=2000)
    assert math.isnan(one_seed.sd_seeds) and math.isnan(one_seed.seeds.low)
    assert one_seed.both.low == pytest.approx(one_seed.images.low, abs=0.01)


def test_inputs_are_checked() -> None:
    a, b = _cubes()
    with pytest.raises(ValueError, match="mode"):
        paired_difference(a, b, [0.0, 1.0], "auc")
    with pytest.raises(ValueError, match="bool tensors"):
        paired_difference(a.float(), b, [0.0, 1.0], "roar")
    with pytest.raises(ValueError, match="fractions"):
        paired_difference(a, b, [0.0, 0.5, 1.0], "roar")
