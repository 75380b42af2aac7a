"""Per-example "nearest rank" percentiles by selection, as RectGrad's threshold needs them.

The RectGrad paper thresholds each layer at the q-th percentile of ``a * R`` over the units of one
example (appendix B). The authors' percentile is the "nearest rank" one, which is what
``torch.quantile(..., interpolation="nearest")`` returns; this module reproduces that value
exactly, with a selection instead of a sort.

The selection (:func:`largest_values`) touches each value once in an O(n) reduction and runs
``torch.topk`` only on a short list of candidates: split a row into ``s`` interleaved slices of
``m = n / s`` values (column ``j`` of a (s, m) view is one "chunk"), take each chunk's maximum,
keep the ``k`` chunks with the largest maxima and select among their ``s * k`` values. This is
exact: if a value ``v`` at or above the k-th largest lies in a chunk that was not kept, each of
the ``k`` kept chunks has a maximum ``>= v``, so the candidates still hold ``k`` values ``>= v``.
(NaN counts as the largest value in ``amax`` and in ``topk`` alike, so it is kept the same way.)
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["nearest_rank", "per_example_percentile", "largest_values", "check_percentile"]

#: Rows shorter than this are selected with one ``torch.topk`` (the chunk pass would not pay).
MIN_CHUNKED_ROW = 2048


def check_percentile(percentile: float, name: str = "percentile") -> float:
    """Return ``percentile`` as a float in [0, 100]; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 100], got {percentile!r}")
    value = float(percentile)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise ValueError(f"{name} must be a number in [0, 100], got {percentile!r}")
    return value


@lru_cache(maxsize=256)
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
        ``torch.quantile(row, q / 100, interpolation="nearest")`` (NaN where the row holds a NaN).
    """
    rows = values.reshape(1, -1) if values.dim() == 0 else values.reshape(values.shape[0], -1)
    n = rows.shape[1]
    rank = nearest_rank(percentile, n, rows.dtype)
    # The value at rank r is the smallest of the n - r largest values, or the largest of the r + 1
    # smallest; a selection on the shorter side is far cheaper than kthvalue or a sort. amin/amax
    # propagate NaN, which topk ranks above every number, as torch.quantile does.
    if rank >= n // 2:
        return largest_values(rows, n - rank).amin(dim=1)
    return rows.topk(rank + 1, dim=1, largest=False, sorted=False).values.amax(dim=1)


def largest_values(rows: Tensor, k: int) -> Tensor:
    """The ``k`` largest values of each row, in no particular order (NaN counts as largest).

    The same multiset as ``rows.topk(k, dim=1, sorted=False).values``, selected as described in
    the module docstring when the rows are long, ``k`` short and the tensor on the CPU.

    Args:
        rows: (N, n) floating tensor.
        k: 1 <= k <= n.

    Returns:
        (N, k) tensor.
    """
    num_rows, n = rows.shape
    # CPU only: a GPU's topk is a radix select that this does not beat (measured on an H200)
    slices = _slice_count(n, k) if rows.device.type == "cpu" else 1
    if slices == 1:
        return rows.topk(k, dim=1, sorted=False).values
    # column j of this (N, slices, n / slices) view is chunk j: values j, j + n / slices, ...;
    # its max over dim 1 is an elementwise max of `slices` contiguous runs (one vectorised pass)
    grid = rows.reshape(num_rows, slices, n // slices)
    chunks = grid.amax(dim=1).topk(k, dim=1, sorted=False).indices  # (N, k)
    candidates = grid.gather(2, chunks.unsqueeze(1).expand(num_rows, slices, k))
    return candidates.reshape(num_rows, slices * k).topk(k, dim=1, sorted=False).values


@lru_cache(maxsize=256)
def _slice_count(n: int, k: int) -> int:
    """Number of interleaved slices for :func:`largest_values` (1 = one plain ``topk``).

    The two selections cost about ``n / s + s * k``; take the divisor ``s`` of ``n`` that
    minimises it, and only when it beats one ``topk`` over ``n`` by a clear margin.
    """
    if n < MIN_CHUNKED_ROW:
        return 1
    best, best_cost = 1, float(n)
    for s in range(2, min(n // k, 256) + 1):
        cost = n / s + s * k
        if n % s == 0 and cost < best_cost:
            best, best_cost = s, cost
    return best if best_cost < 0.6 * n else 1
