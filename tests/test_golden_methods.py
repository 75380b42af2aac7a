"""Every registered method pinned with the project's own pytest plugin (golden files in tests/golden).

The case is the plugin's shipped one (bench/assets: weights and inputs, SHA-256 checked), so the
goldens pin the methods, not the machine; tolerances: ``bench.pytest_plugin.METRIC_TOLERANCES``.
Regenerate after an intended change (one command, all methods):
``pytest tests/test_golden_methods.py --rectbench-update-golden``.
"""

from __future__ import annotations

import pytest
import torch

from methods import available_methods


@pytest.mark.parametrize("method", available_methods())
def test_method_scores_match_golden(method: str, rectbench_evaluate, rectbench_golden) -> None:
    rectbench_golden(f"method_{method}", rectbench_evaluate(method))


def test_the_case_model_learned_the_task(rectbench_case) -> None:
    assert rectbench_case.accuracy > 0.9


def test_the_case_is_the_shipped_16px_one_with_the_patch_at_the_top_left(rectbench_case) -> None:
    case = rectbench_case
    assert case.source == "shipped"
    assert case.images.shape == (32, 3, 16, 16) and case.images.dtype == torch.float32
    assert -1.0 <= float(case.images.min()) and float(case.images.max()) <= 1.0
    assert case.patch_box == (0, 0, 3, 3)
    # The same 5x5 patch on every image, and never part of an object mask.
    patch = case.images[:, :, :5, :5]
    assert torch.equal(patch, patch[:1].expand_as(patch))
    assert not case.masks[:, :5, :5].any()
    assert case.masks.flatten(1).any(1).all()
    assert sorted(case.labels.unique().tolist()) == [0, 1, 2, 3]
