"""summarize: median, mean and a percentile bootstrap interval, NaNs dropped and counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import summarize


def test_hand_computed_median_mean_and_nan_count() -> None:
    s = summarize(torch.tensor([4.0, 1.0, float("nan"), 2.0, 3.0]))
    assert (s.median, s.mean, s.n, s.n_nan) == (2.5, 2.5, 4, 1)  # even count: mean of middle two
    assert 1.0 <= s.ci_low <= s.median <= s.ci_high <= 4.0


def test_constant_values_give_a_zero_width_interval() -> None:
    s = summarize(torch.full((7,), 0.25, dtype=torch.float64))
    assert (s.median, s.ci_low, s.ci_high) == (0.25, 0.25, 0.25)


def test_bootstrap_matches_a_numpy_reference_with_the_same_indices() -> None:
    values = torch.randn(51, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    s = summarize(values, n_boot=300, seed=7)
    idx = torch.randint(51, (300, 51), generator=torch.Generator().manual_seed(7)).numpy()
    medians = np.median(values.numpy()[idx], axis=1)
    assert s.ci_low == pytest.approx(np.percentile(medians, 2.5))
    assert s.ci_high == pytest.approx(np.percentile(medians, 97.5))
    assert s.median == pytest.approx(float(np.median(values.numpy())))
    assert summarize(values, n_boot=300, seed=7) == s  # deterministic per seed
    assert summarize(values, n_boot=300, seed=8) != s


def test_interval_of_a_large_sample_covers_the_true_median() -> None:
    values = torch.randn(4000, generator=torch.Generator().manual_seed(0))
    s = summarize(values, n_boot=200)
    assert s.ci_low < 0.0 < s.ci_high and s.ci_high - s.ci_low < 0.15


def test_all_nan_warns_once_and_returns_nan() -> None:
    with pytest.warns(RuntimeWarning, match="every value is NaN"):
        s = summarize(torch.full((3,), float("nan")))
    assert s.n == 0 and s.n_nan == 3 and np.isnan(s.median)


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        (torch.zeros(0), {}, "values is empty"),
        (torch.zeros(2, 2), {}, "1-D"),
        (torch.zeros(3, dtype=torch.int64), {}, "floating"),
        (torch.zeros(3), {"n_boot": 0}, "n_boot"),
    ],
)
def test_bad_input(values: torch.Tensor, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summarize(values, **kwargs)
