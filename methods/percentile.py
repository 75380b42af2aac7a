"""Per-example "nearest rank" percentiles by selection, as RectGrad's threshold needs them.

The RectGrad paper thresholds each layer at the q-th percentile of ``a * R`` over the units of one
example (appendix B). The authors' percentile is the "nearest rank" one, which is what
``torch.quantile(..., interpolation="nearest")`` returns; this module reproduces that value
exactly, with a selection (``torch.topk`` on the shorter tail, O(n) per row) instead of a sort.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["nearest_rank", "per_example_percentile", "check_percentile"]


def check_percentile(percentile: float, name: str = "percentile") -> float:
    """Return ``percentile`` as a float in [0, 100]; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 100], got {percentile!r}")
    value = float(percentile)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"{name} must be a number in [0, 100], got {percentile!r}")
    return value


def nearest_rank(percentile: float, n: int, dtype: torch.dtype) -> int:
    """0-based rank of the q-th "nearest" percentile among ``n`` sorted values.

    Equals the index ``torch.quantile(x, q / 100, interpolation="nearest")`` picks for a row of
    ``n`` values of ``dtype``: torch stores ``q / 100`` in the input's dtype, multiplies by
    ``n - 1`` in double precision and rounds half to even (so 24.5 -> 24, but float32's
    0.98 * 25 = 24.5000005 -> 25). Python's ``round`` is also half-to-even.

    Args:
        percentile: q in [0, 100].
        n: Number of values (>= 1).
        dtype: Floating dtype of the values.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    q = torch.tensor(percentile / 100.0, dtype=dtype).item()
    return min(n - 1, max(0, round(q * (n - 1))))


def per_example_percentile(values: Tensor, percentile: float) -> Tensor:
    """The q-th nearest-rank percentile of each example's values.

    Args:
        values: (N, ...) floating tensor; the percentile is taken over all elements of each
            example (dim 0 is the batch). A 0-d tensor counts as one example of one value.
        percentile: q in [0, 100] (not re-validated here; see :func:`check_percentile`).

    Returns:
        (N,) tensor, same dtype and device: for each example the value at 0-based rank
        ``nearest_rank(q, n, dtype)`` of its sorted values, equal to
        ``torch.quantile(row, q / 100, interpolation="nearest")``.
    """
    rows = values.reshape(1, -1) if values.dim() == 0 else values.reshape(values.shape[0], -1)
    n = rows.shape[1]
    rank = nearest_rank(percentile, n, rows.dtype)
    # The value at rank r is the smallest of the n - r largest values, or the largest of the r + 1
    # smallest; topk on the shorter side is a selection far cheaper than kthvalue for q near 100.
    if rank >= n // 2:
        return rows.topk(n - rank, dim=1, largest=True, sorted=False).values.amin(dim=1)
    return rows.topk(rank + 1, dim=1, largest=False, sorted=False).values.amax(dim=1)
