"""Aggregation of per-image metric values: median, mean and a bootstrap interval of the median.

The one aggregation step every per-image metric shares, so that every table reports the same
statistics computed the same way.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

__all__ = ["Summary", "summarize"]

# Bootstrap replicates are drawn in blocks so the (replicates, n) matrix stays below this many
# elements (~64 MB of float64) even for 50,000 values.
_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class Summary:
    """Statistics of one metric over images.

    Attributes:
        median: Median of the defined values (mean of the two middle ones for an even count).
        mean: Mean of the defined values.
        ci_low, ci_high: Percentile-bootstrap interval of the median (95 % by default).
        n: Number of defined (non-NaN) values used.
        n_nan: Number of NaN values dropped.
    """

    median: float
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_nan: int = 0


def summarize(
    values: torch.Tensor, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Summary:
    """Median, mean and percentile-bootstrap interval of the median of per-image values.

    NaNs (undefined values) are dropped and counted in ``n_nan``. The bootstrap resamples the
    ``n`` defined values with replacement ``n_boot`` times from a generator seeded by ``seed``
    (deterministic), takes each replicate's median and reports the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles (linear interpolation, as numpy's percentile). With no
    defined value every statistic is NaN (one warning).

    Args:
        values: Tensor (N,) of per-image values, any float dtype and device.
        n_boot: Number of bootstrap replicates, >= 1.
        seed: Seed of the resampling.
        confidence: Interval coverage in (0, 1).

    Returns:
        :class:`Summary` (floats; computed in float64).

    Example:
        >>> s = summarize(torch.tensor([1.0, 2.0, float("nan"), 4.0]))
        >>> s.median, s.mean, s.n, s.n_nan
        (2.0, 2.3333333333333335, 3, 1)
    """
    if not isinstance(values, torch.Tensor) or values.ndim != 1:
        raise ValueError("values must be a 1-D tensor of per-image values (N,)")
    if not values.is_floating_point():
        raise ValueError(f"values must be floating point, got dtype {values.dtype}")
    if values.numel() == 0:
        raise ValueError("values is empty (N = 0)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an int >= 1, got {n_boot!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")

    data = values.detach().to(device="cpu", dtype=torch.float64)
    defined = data[~torch.isnan(data)]
    n, n_nan = int(defined.numel()), int(data.numel() - defined.numel())
    if n == 0:
        warnings.warn("summarize: every value is NaN; all statistics are NaN", RuntimeWarning, 2)
        return Summary(math.nan, math.nan, math.nan, math.nan, 0, n_nan)

    generator = torch.Generator().manual_seed(seed)
    block = max(1, _BLOCK_ELEMENTS // n)
    medians = torch.cat(
        [
            _row_medians(
                defined[torch.randint(n, (min(block, n_boot - start), n), generator=generator)]
            )
            for start in range(0, n_boot, block)
        ]
    )
    tail = (1.0 - confidence) / 2
    low, high = torch.quantile(medians, torch.tensor([tail, 1.0 - tail], dtype=torch.float64))
    return Summary(
        median=float(_row_medians(defined.unsqueeze(0))[0]),
        mean=float(defined.mean()),
        ci_low=float(low),
        ci_high=float(high),
        n=n,
        n_nan=n_nan,
    )


def _row_medians(rows: torch.Tensor) -> torch.Tensor:
    # torch.median returns the lower middle value for even counts; the usual median averages both.
    ordered = rows.sort(dim=1).values
    width = rows.shape[1]
    return (ordered[:, (width - 1) // 2] + ordered[:, width // 2]) / 2
