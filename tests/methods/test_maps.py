"""methods.to_map: channel sum and the authors' map post-processing (utils.preprocess)."""

from __future__ import annotations

import pytest
import torch

from methods import to_map


def test_channel_sum_and_positive_part_before_sum() -> None:
    a = torch.zeros(1, 3, 1, 2)
    a[0, :, 0, 0] = torch.tensor([1.0, -3.0, 0.5])
    a[0, :, 0, 1] = torch.tensor([2.0, 2.0, -1.0])
    torch.testing.assert_close(to_map(a), torch.tensor([[[-1.5, 3.0]]]))
    torch.testing.assert_close(to_map(a, positive_only=True), torch.tensor([[[1.5, 4.0]]]))


def _preprocess_reference(maps: torch.Tensor, q1: float, q2: float) -> torch.Tensor:
    """The authors' preprocess on (N, H, W), one map at a time with numpy's linear percentile."""
    out = []
    for m in maps:
        lo = torch.quantile(m.flatten(), q1 / 100)
        hi = torch.quantile(m.flatten(), q2 / 100)
        below = m < lo
        clipped = m.clamp(lo, hi)
        clipped[below] = 0.0 if lo > 0 else lo
        out.append(clipped)
    return torch.stack(out)


def test_final_threshold_hand_case_positive_percentile() -> None:
    """Map values 1..20: p95 (linear) = 1 + 0.95 * 19 = 19.05 > 0 -> below become 0,
    the rest are clipped to [19.05, 20]."""
    a = torch.arange(1.0, 21.0).reshape(1, 1, 4, 5)
    got = to_map(a, final_threshold_percentile=95).flatten()
    expected = torch.zeros(20)
    expected[-1] = 20.0
    torch.testing.assert_close(got, expected)


def test_final_threshold_non_positive_percentile_clips_up() -> None:
    """Values -20..-1: p95 = -1.95 <= 0 -> values below are clipped up to -1.95, not zeroed."""
    a = -torch.arange(20.0, 0.0, -1.0).reshape(1, 1, 4, 5)
    got = to_map(a, final_threshold_percentile=95).flatten()
    expected = torch.full((20,), -1.95)
    expected[-1] = -1.0
    torch.testing.assert_close(got, expected)


def test_final_threshold_and_clip_match_reference_per_map() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, 8, 8, generator=g, dtype=torch.float64)
    a[1] += 3.0  # a map whose p95 is positive
    maps = a.sum(1)
    torch.testing.assert_close(
        to_map(a, final_threshold_percentile=95), _preprocess_reference(maps, 95, 100)
    )
    clipped = to_map(a, clip_percentiles=(0.5, 99.5))
    lo = torch.quantile(maps.flatten(1), 0.005, dim=1)
    hi = torch.quantile(maps.flatten(1), 0.995, dim=1)
    torch.testing.assert_close(clipped, maps.clamp(lo[:, None, None], hi[:, None, None]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"final_threshold_percentile": 101}, "final_threshold_percentile"),
        ({"clip_percentiles": (99.5, 0.5)}, "clip_percentiles"),
        ({"clip_percentiles": (1.0,)}, "clip_percentiles"),
    ],
)
def test_bad_options_raise(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        to_map(torch.zeros(1, 3, 2, 2), **kwargs)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="N, C, H, W"):
        to_map(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="NaN"):
        to_map(torch.full((1, 3, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="floating"):
        to_map(torch.zeros(1, 3, 2, 2, dtype=torch.long))
