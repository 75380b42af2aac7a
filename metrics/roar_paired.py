"""Paired differences of two methods' ROAR/KAR scores, over retraining seeds and test images.

Two methods' cells at one (fraction, seed) are trained from the same initialisation on the same
batch order and tested on the same test images (occluded by each method), so their difference is
paired twice: by seed and by test image. With the per-image correctness of every cell, a score is
linear in it: ``score = sign * sum_f w_f * mean_s mean_i correct[f, s, i]`` (+ 1 for KAR), where
``w`` are the weights of :func:`metrics.curves.curve_area` (the curve's mean height) and
``sign`` is +1 for ROAR (AUC) and -1 for KAR (AOC = 1 - AUC). The difference of two methods is
therefore the mean over seeds s and images i of ``e[s, i] = sign * sum_f w_f (a - b)[f, s, i]``,
and its uncertainty has two sources:

- seeds (retraining noise): the spread of the per-seed differences ``mean_i e[s, i]``, a paired t
  over seeds (the test images are the same for every seed, so this misses image sampling);
- test images (which images were drawn): a paired bootstrap of ``mean_s e[s, i]`` over images;
- both at once: a bootstrap that resamples seeds and images independently (what the comparisons
  use; with one seed it is the image bootstrap).

Lower is better for both scores, so a negative difference means method A beats method B.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from metrics.compare import PairedTest, paired_seed_test
from metrics.curves import curve_area

__all__ = ["PairedDifference", "paired_difference", "area_weights"]

# Bootstrap replicates are drawn in blocks of at most this many resampled indices.
_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class PairedDifference:
    """Score of A minus score of B, with the three paired intervals.

    Attributes:
        value: The difference (A - B); negative: A has the lower (better) score.
        seeds: Paired t over seeds (interval ``t_seeds``; NaN with one seed).
        images: Paired bootstrap over test images, seeds averaged (``bootstrap_pairs``).
        both: Bootstrap over seeds and test images (``bootstrap_models_images``).
        sd_seeds: SD over seeds of the per-seed differences (NaN with one seed).
        se_images: Standard error from the test images alone: ``sd_i(mean_s e) / sqrt(M)``.
        n_seeds, n_images: S and M.
    """

    value: float
    seeds: PairedTest
    images: PairedTest
    both: PairedTest
    sd_seeds: float
    se_images: float
    n_seeds: int
    n_images: int

    def standard_error(self, seed_sd: float | None = None) -> float:
        """``sqrt(sd_seeds^2 / S + se_images^2)``; ``seed_sd`` replaces ``sd_seeds`` (e.g. a
        calibration figure for a one-seed run). NaN when the seed SD is unknown."""
        sd = self.sd_seeds if seed_sd is None else float(seed_sd)
        return math.sqrt(sd**2 / self.n_seeds + self.se_images**2)


def area_weights(fractions: Sequence[float]) -> torch.Tensor:
    """w (F,) float64 with ``curve_area(fractions, y) == w @ y`` for every curve y."""
    eye = torch.eye(len(fractions), dtype=torch.float64)
    return torch.tensor([curve_area(fractions, row.tolist()) for row in eye], dtype=torch.float64)


def paired_difference(
    a: torch.Tensor,
    b: torch.Tensor,
    fractions: Sequence[float],
    mode: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedDifference:
    """Compare method A's ROAR (or KAR) cells with method B's.

    Args:
        a, b: bool (F, S, M): whether the model retrained at fraction f with seed s classifies test
            image i correctly, for the F ``fractions`` (increasing), S seeds and M test images;
            the same seeds and images for both methods.
        fractions: The F fractions of the curve.
        mode: "roar" (score: AUC) or "kar" (score: AOC = 1 - AUC).
        n_boot: Bootstrap replicates.
        seed: Seed of the bootstrap's generator.
        confidence: Level of the intervals.

    Returns:
        :class:`PairedDifference`. Bootstrap p-values are two-sided,
        ``min(1, 2 * min(#(D* <= 0) + 1, #(D* >= 0) + 1) / (n_boot + 1))`` (never 0: the smallest
        is ``2 / (n_boot + 1)``); 1.0 when every paired difference is zero.
    """
    if mode not in ("roar", "kar"):
        raise ValueError(f"mode must be 'roar' or 'kar', got {mode!r}")
    if a.dim() != 3 or a.shape != b.shape or a.dtype != torch.bool or b.dtype != torch.bool:
        raise ValueError(f"a and b must be bool tensors of one shape (F, S, M), got "
                         f"{tuple(a.shape)} {a.dtype} and {tuple(b.shape)} {b.dtype}")
    if a.shape[0] != len(fractions) or a.shape[2] == 0:
        raise ValueError(f"a holds {a.shape[0]} fractions and {a.shape[2]} images; expected "
                         f"{len(fractions)} fractions and at least one image")
    sign = 1.0 if mode == "roar" else -1.0
    weights = area_weights(fractions).view(-1, 1, 1)
    e = sign * (weights * (a.double() - b.double())).sum(0)  # (S, M)
    n_seeds, n_images = e.shape
    per_seed = e.mean(1)
    seeds_test = paired_seed_test(per_seed.tolist(), [0.0] * n_seeds, confidence=confidence)
    per_image = e.mean(0)
    generator = torch.Generator().manual_seed(seed)
    images = _bootstrap(e.mean(0, keepdim=True), n_boot, generator, resample_seeds=False)
    both = _bootstrap(e, n_boot, generator, resample_seeds=True)
    value = float(e.mean())
    exact_zero = not bool((e != 0).any())
    sd_seeds = float(per_seed.std(unbiased=True)) if n_seeds > 1 else math.nan
    se_images = float(per_image.std(unbiased=True)) / math.sqrt(n_images) if n_images > 1 else 0.0
    return PairedDifference(
        value,
        seeds_test,
        _test(value, images, confidence, exact_zero, "paired_bootstrap_images", "bootstrap_pairs",
              n_images),
        _test(value, both, confidence, exact_zero, "paired_bootstrap_seeds_images",
              "bootstrap_models_images", n_seeds * n_images),
        sd_seeds,
        se_images,
        n_seeds,
        n_images,
    )


def _bootstrap(
    e: torch.Tensor, n_boot: int, generator: torch.Generator, *, resample_seeds: bool
) -> torch.Tensor:
    """Replicates (n_boot,) of ``mean(e)`` with images (columns), and seeds (rows) when asked,
    resampled with replacement."""
    n_seeds, n_images = e.shape
    block = max(1, _BLOCK_ELEMENTS // n_images)
    out = []
    for start in range(0, n_boot, block):
        count = min(block, n_boot - start)
        index = torch.randint(n_images, (count, n_images), generator=generator)
        tallies = torch.zeros(count, n_images, dtype=torch.float64)
        tallies.scatter_add_(1, index, torch.ones(count, n_images, dtype=torch.float64))
        means = (tallies @ e.T) / n_images  # (count, S): each seed's mean over resampled images
        if resample_seeds and n_seeds > 1:
            rows = torch.randint(n_seeds, (count, n_seeds), generator=generator)
            means = means.gather(1, rows)
        out.append(means.mean(1))
    return torch.cat(out)


def _test(
    value: float, replicates: torch.Tensor, confidence: float, exact_zero: bool, test: str,
    interval: str, n: int,
) -> PairedTest:
    tail = (1 - confidence) / 2
    low, high = torch.quantile(replicates, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    if exact_zero:
        p_value = 1.0
    else:
        below = int((replicates <= 0).sum()) + 1
        above = int((replicates >= 0).sum()) + 1
        p_value = min(1.0, 2 * min(below, above) / (replicates.numel() + 1))
    return PairedTest(value, float(low), float(high), p_value, test, interval, n)
