"""Scores of accuracy-vs-fraction curves (ROAR AUC, KAR AOC)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["curve_area"]


def curve_area(fractions: Sequence[float], accuracies: Sequence[float]) -> float:
    """Trapezoidal area under the curve divided by the span of the fractions (its mean height).

    The RectGrad paper (Table 1) does not state its normalisation; the mean height is the one under
    which the Random baseline's ROAR AUC and KAR AOC sum to 1, as its published numbers do
    (0.5562 + 0.4438). ROAR score = ``curve_area`` of the ROAR curve (lower is better, because a
    faithful map removes the informative pixels first and accuracy drops fast); KAR score =
    ``1 - curve_area`` of the KAR curve (lower is better, because keeping the pixels a faithful map
    ranks highest keeps accuracy high).

    Args:
        fractions: At least two strictly increasing numbers in [0, 1].
        accuracies: One finite accuracy per fraction (any units; the result has the same units).

    Returns:
        The mean curve height, a float.

    Example:
        >>> curve_area([0.0, 0.5, 1.0], [1.0, 0.5, 0.5])
        0.625
    """
    x = torch.as_tensor(list(fractions), dtype=torch.float64)
    y = torch.as_tensor(list(accuracies), dtype=torch.float64)
    if x.ndim != 1 or x.numel() < 2:
        raise ValueError(f"fractions must hold at least two numbers, got {list(fractions)!r}")
    if y.shape != x.shape:
        raise ValueError(
            f"accuracies must hold one value per fraction ({x.numel()}), got {y.numel()}"
        )
    if not bool(torch.isfinite(x).all()) or bool((x < 0).any() or (x > 1).any()):
        raise ValueError(f"fractions must be in [0, 1], got {x.tolist()}")
    if not bool((x[1:] > x[:-1]).all()):
        raise ValueError(f"fractions must be strictly increasing, got {x.tolist()}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"accuracies must be finite, got {y.tolist()}")
    return float(torch.trapezoid(y, x) / (x[-1] - x[0]))
