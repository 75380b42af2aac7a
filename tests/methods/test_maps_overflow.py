"""Issue 11: to_map never returns inf or NaN for finite attributions near the float32 limit; it
recomputes in float64 or raises ValueError with the reason."""

from __future__ import annotations

import pytest
import torch

from methods import to_map


def test_channel_sum_overflow_raises_with_reason() -> None:
    """3 channels of 3e38 sum to 9e38 > float32's 3.4e38: was all inf (and all NaN with the
    95th-percentile threshold)."""
    attributions = torch.full((2, 3, 4, 4), 3e38)
    for kwargs in ({}, {"final_threshold_percentile": 95.0}, {"clip_percentiles": (1, 99)}):
        with pytest.raises(ValueError, match=r"maps overflow torch.float32: .* 9e\+38"):
            to_map(attributions, **kwargs)
    # the same values in float64 fit: 3 x float32(3e38) everywhere
    wide = attributions.double()
    assert torch.equal(to_map(wide), 3 * wide[:, 0])


def test_percentile_interpolation_overflow_is_recomputed_in_float64() -> None:
    """Map [-3e38, 3e38]: the 95th percentile is -3e38 + 0.95 * 6e38 = 2.7e38 > 0, so -3e38 is set
    to 0. In float32 the interpolation's 6e38 overflowed and the map came back unchanged."""
    attributions = torch.tensor([-3e38, 3e38]).reshape(1, 1, 1, 2)
    got = to_map(attributions, final_threshold_percentile=95.0)
    assert got.dtype == torch.float32
    assert got.flatten().tolist() == [0.0, pytest.approx(3e38, rel=1e-6)]
    clipped = to_map(attributions, clip_percentiles=(50.0, 100.0))
    assert clipped.flatten().tolist() == [0.0, pytest.approx(3e38, rel=1e-6)]


def test_large_but_fitting_values_come_back_exactly() -> None:
    """A channel sum that overflows only transiently (3e38 + 3e38 - 3e38) is exact in float64."""
    attributions = torch.tensor([3e38, 3e38, -3e38]).reshape(1, 3, 1, 1).repeat(1, 1, 2, 2)
    got = to_map(attributions)
    torch.testing.assert_close(got, torch.full((1, 2, 2), 3e38))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_nonfinite_attributions_raise(bad) -> None:
    attributions = torch.zeros(1, 3, 2, 2)
    attributions[0, 1, 1, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        to_map(attributions)


def test_float16_overflow_raises() -> None:
    attributions = torch.full((1, 3, 2, 2), 30000.0, dtype=torch.float16)
    with pytest.raises(ValueError, match="float16"):
        to_map(attributions)
