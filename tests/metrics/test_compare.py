"""Paired comparisons: agreement with SciPy's tests, Holm's adjustment, and why pairing matters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from metrics import summarize
from metrics.compare import holm, paired_image_test, paired_seed_test, separation


def test_holm_matches_the_hand_computed_adjustment() -> None:
    # sorted p: 0.01 (x3), 0.03 (x2), 0.04 (x1), running maximum, capped at 1
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan"), 0.02]) == pytest.approx([0.5, float("nan"), 0.04], nan_ok=True)
    assert holm([0.9, 0.8]) == [1.0, 1.0]


def test_paired_seed_test_is_scipys_paired_t_test() -> None:
    a, b = [0.55, 0.53, 0.56], [0.50, 0.51, 0.52]
    result = paired_seed_test(a, b)
    assert result.difference == pytest.approx(np.mean(np.subtract(a, b)))
    assert result.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert (result.test, result.interval, result.n) == ("paired_t_over_seeds", "t_seeds", 3)


def test_one_seed_gives_no_interval_and_no_p_value() -> None:
    result = paired_seed_test([0.5], [0.4])
    assert result.difference == pytest.approx(0.1)
    assert math.isnan(result.p_value) and math.isnan(result.low)


def test_paired_image_test_is_wilcoxons_signed_rank_test() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(60, generator=generator, dtype=torch.float64)
    b = a - 0.05 + 0.02 * torch.randn(60, generator=generator, dtype=torch.float64)
    result = paired_image_test(a, b)
    assert result.p_value == pytest.approx(stats.wilcoxon((a - b).numpy()).pvalue)
    assert result.difference == pytest.approx(float(a.median() - b.median()), abs=0.02)
    assert result.low <= result.difference <= result.high
    assert (result.test, result.interval, result.n) == ("wilcoxon_signed_rank", "bootstrap_pairs", 60)


def test_pairing_separates_a_shift_that_marginal_intervals_cannot() -> None:
    """Two methods whose per-image values differ by a small, consistent shift: their marginal
    bootstrap intervals of the median overlap (the images' spread dominates), the paired test
    separates them (issue 10: 'differs from the best' compared marginal intervals)."""
    generator = torch.Generator().manual_seed(1)
    image_difficulty = 10 * torch.rand(200, generator=generator, dtype=torch.float64)
    a = image_difficulty + 0.3 + 0.05 * torch.randn(200, generator=generator, dtype=torch.float64)
    b = image_difficulty
    sa, sb = summarize(a), summarize(b)
    assert sa.ci_low < sb.ci_high  # marginal intervals overlap
    result = paired_image_test(a, b)
    assert result.p_value < 1e-10 and result.low > 0


def test_identical_values_are_not_separated_and_nan_pairs_are_dropped() -> None:
    a = torch.tensor([0.0, 0.0, 1.0, float("nan")], dtype=torch.float64)
    result = paired_image_test(a, a.clone())
    assert result.p_value == 1.0 and result.difference == 0.0 and result.n == 3
    with pytest.raises(ValueError, match="equal length"):
        paired_image_test(a, a[:2])


def test_separation_needs_the_test_and_the_interval_to_agree() -> None:
    # 0.04 better (lower is better), p 0.01, interval clear of 0: separated
    assert separation(-0.04, -0.06, -0.02, 0.01, higher_is_better=False) == "better"
    assert separation(-0.04, -0.06, -0.02, 0.01, higher_is_better=True) == "worse"
    # the test says separated, the interval of the difference of medians contains 0: not
    assert separation(-0.0003, -0.0043, 0.0041, 1e-6, higher_is_better=False) == "not_separable"
    assert separation(-0.04, -0.06, -0.02, 0.05, higher_is_better=False) == "not_separable"
    assert separation(0.0, -0.01, 0.01, 1e-9, higher_is_better=False) == "not_separable"
    assert separation(0.3, None, None, 0.001, higher_is_better=True) == "better"  # no interval
    assert separation(0.3, 0.1, 0.5, None, higher_is_better=True) == "untested"


def test_skewed_differences_the_signed_rank_test_and_the_median_difference_disagree() -> None:
    """A - B = +0.08 on 20 % of the images, -0.01 on the rest: the signed-rank test finds a
    difference (p ~ 3e-7), but the difference of the medians has an interval around 0, so the
    comparison gives no verdict (the report would otherwise mark a difference it cannot size)."""
    g = torch.Generator().manual_seed(0)
    b = torch.rand(400, generator=g, dtype=torch.float64)
    d = torch.full((400,), -0.01, dtype=torch.float64)
    d[torch.randperm(400, generator=g)[:80]] = 0.08
    result = paired_image_test(b + d, b)
    assert result.p_value < 1e-5
    assert result.low < 0 < result.high
    verdict = separation(result.difference, result.low, result.high, result.p_value, True)
    assert verdict == "not_separable"
