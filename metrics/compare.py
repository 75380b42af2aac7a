"""Paired comparisons of two methods on the same images or the same retraining seeds.

A leaderboard's "best" needs a paired test: two methods scored on the same images (or retrained
with the same seeds) differ by much less than their marginal intervals suggest, because most of the
variation is the images' (the seeds'). Two tests:

- :func:`paired_image_test`: per-image values of two methods on the same images. The difference
  of medians (the headline statistic) with a paired percentile-bootstrap interval (the same image
  indices resampled for both), and the two-sided Wilcoxon signed-rank p-value of the per-image
  differences (zero differences dropped, as Wilcoxon's original rule).
- :func:`paired_seed_test`: one score per retraining seed for each method (ROAR AUC, KAR AOC),
  paired by seed: the mean difference with a t-interval and the paired t-test's p-value.

:func:`holm` adjusts the p-values of the comparisons of one metric for their number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

__all__ = ["PairedTest", "paired_image_test", "paired_seed_test", "holm", "separation", "ALPHA"]

#: Significance level of every verdict (after Holm's adjustment within a metric).
ALPHA = 0.05

# Bootstrap replicates are drawn in blocks of at most this many resampled values.
_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class PairedTest:
    """The result of a paired comparison of method A with method B.

    Attributes:
        difference: Statistic of A minus statistic of B (median for images, mean for seeds).
        low, high: Interval of the difference at the requested confidence (NaN when undefined).
        p_value: Two-sided p-value of "no difference" (NaN when undefined, 1.0 when every
            paired difference is exactly zero).
        test: The test's name: ``"wilcoxon_signed_rank"`` or ``"paired_t_over_seeds"``.
        interval: What the interval is over: ``"bootstrap_pairs"`` or ``"t_seeds"``.
        n: Number of pairs used.
    """

    difference: float
    low: float
    high: float
    p_value: float
    test: str
    interval: str
    n: int


def _medians(rows: torch.Tensor) -> torch.Tensor:
    ordered = rows.sort(dim=-1).values
    width = rows.shape[-1]
    return (ordered[..., (width - 1) // 2] + ordered[..., width // 2]) / 2


def paired_image_test(
    a: torch.Tensor, b: torch.Tensor, *, n_boot: int = 2000, seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Compare per-image values ``a`` and ``b`` (N,) of two methods on the same N images.

    Pairs where either value is NaN are dropped. The difference is ``median(a) - median(b)``;
    its interval resamples the image indices ``n_boot`` times (seeded) and takes the percentiles
    of the replicate differences; the p-value is Wilcoxon's signed-rank test of ``a - b``.

    Raises:
        ValueError: ``a`` and ``b`` are not 1-D tensors of the same length.
    """
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D tensors of equal length, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    x = a.detach().cpu().double()
    y = b.detach().cpu().double()
    keep = ~(torch.isnan(x) | torch.isnan(y))
    x, y = x[keep], y[keep]
    n = int(x.numel())
    if n == 0:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, "wilcoxon_signed_rank",
                          "bootstrap_pairs", 0)
    difference = float(_medians(x) - _medians(y))
    generator = torch.Generator().manual_seed(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    replicates = []
    for start in range(0, n_boot, block):
        index = torch.randint(n, (min(block, n_boot - start), n), generator=generator)
        replicates.append(_medians(x[index]) - _medians(y[index]))
    tail = (1 - confidence) / 2
    low, high = torch.quantile(torch.cat(replicates), torch.tensor([tail, 1 - tail],
                                                                    dtype=torch.float64))
    deltas = (x - y).numpy()
    if not np.any(deltas != 0):
        p_value = 1.0
    else:
        p_value = float(stats.wilcoxon(deltas[deltas != 0], zero_method="wilcox").pvalue)
    return PairedTest(difference, float(low), float(high), p_value, "wilcoxon_signed_rank",
                      "bootstrap_pairs", n)


def paired_seed_test(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95
) -> PairedTest:
    """Compare per-seed scores ``a`` and ``b`` of two methods retrained with the same seeds.

    The difference is the mean of ``a_s - b_s`` over seeds s, with a Student-t interval and the
    paired t-test's p-value. With fewer than two seeds the interval and p-value are NaN; with
    identical differences across seeds (zero spread) the p-value is 1.0 for a zero difference
    and 0.0 otherwise.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must hold one score per seed each, got {x.shape} and {y.shape}")
    deltas = x - y
    n = int(deltas.size)
    mean = float(deltas.mean()) if n else math.nan
    if n < 2:
        return PairedTest(mean, math.nan, math.nan, math.nan, "paired_t_over_seeds", "t_seeds", n)
    sd = float(deltas.std(ddof=1))
    if sd == 0.0:
        return PairedTest(mean, mean, mean, 1.0 if mean == 0 else 0.0, "paired_t_over_seeds",
                          "t_seeds", n)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    p_value = float(stats.ttest_1samp(deltas, 0.0).pvalue)
    return PairedTest(mean, mean - half, mean + half, p_value, "paired_t_over_seeds", "t_seeds", n)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN entries stay NaN and do not count).

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    values = [float(p) for p in p_values]
    defined = sorted((p, i) for i, p in enumerate(values) if not math.isnan(p))
    m = len(defined)
    adjusted = list(values)
    running = 0.0
    for rank, (p, i) in enumerate(defined):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def separation(
    difference: float, low: float | None, high: float | None, p_value: float | None,
    higher_is_better: bool, alpha: float = ALPHA,
) -> str:
    """The verdict on A - B: ``"better"`` or ``"worse"`` for A (by the metric's direction) when
    the (adjusted) p-value is below ``alpha`` *and* the interval excludes 0; otherwise
    ``"not_separable"``; ``"untested"`` when there is no p-value.

    Both are required because the test and the interval need not be about the same statistic:
    the Wilcoxon signed-rank test is about the paired differences' location, the interval about
    the difference of the medians, and the two can disagree (even in sign) when the differences
    are skewed. An interval that is not defined (NaN, or None) leaves the decision to the test.
    """
    if p_value is None or not math.isfinite(p_value):
        return "untested"
    lo = math.nan if low is None else float(low)
    hi = math.nan if high is None else float(high)
    straddles = math.isfinite(lo) and math.isfinite(hi) and lo <= 0 <= hi
    if p_value >= alpha or difference == 0 or not math.isfinite(difference) or straddles:
        return "not_separable"
    better = difference > 0 if higher_is_better else difference < 0
    return "better" if better else "worse"
