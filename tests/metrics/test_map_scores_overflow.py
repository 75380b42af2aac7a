"""Issue 11: the map scores never return inf or NaN for finite maps near the float32 limit: they
recompute in float64, and raise ValueError with the reason when the result cannot fit."""

from __future__ import annotations

import pytest
import torch

from metrics import background_mass, patch_attribution, total_variation


def _checkerboard(value: float) -> torch.Tensor:
    """4x4 map: +value on even squares, -value on odd ones: every neighbour difference is 2v."""
    sign = (torch.arange(4).reshape(4, 1) + torch.arange(4)) % 2 * -2 + 1
    return (sign * value).float().unsqueeze(0)


def test_total_variation_overflow_raises() -> None:
    """24 neighbour pairs x |2 * 3e38| = 1.44e40: was inf."""
    with pytest.raises(ValueError, match=r"total_variation overflows torch.float32: .*1.44e\+40"):
        total_variation(_checkerboard(3e38))
    assert total_variation(_checkerboard(3e38).double()).item() == pytest.approx(1.44e40)


def test_normalised_scores_stay_finite_near_the_limit() -> None:
    """TV / sum|map| = 24 * 6e38 / (16 * 3e38) = 3: was inf / inf = NaN."""
    maps = _checkerboard(3e38)
    ratio = total_variation(maps, normalize=True)
    assert ratio.dtype == torch.float32 and ratio.item() == pytest.approx(3.0)
    # background mass off a foreground of the 8 positive squares: 8 * 3e38 / (16 * 3e38) = 0.5
    foreground = maps > 0
    assert background_mass(maps, foreground, normalize=True).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="background_mass overflows torch.float32"):
        background_mass(maps, foreground)


def test_patch_attribution_overflow_raises() -> None:
    with pytest.raises(ValueError, match="patch_attribution overflows torch.float32"):
        patch_attribution(torch.full((1, 8, 8), 3e38))


def test_ordinary_maps_unchanged_bit_for_bit() -> None:
    """The float64 path is taken only on overflow: ordinary float32 scores are the plain sums."""
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(3, 16, 16, generator=g)
    expected = (maps[:, 1:] - maps[:, :-1]).abs().sum((1, 2)) + (
        maps[:, :, 1:] - maps[:, :, :-1]).abs().sum((1, 2))
    assert torch.equal(total_variation(maps), expected)
