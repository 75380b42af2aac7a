"""Every registered method pinned with the project's own pytest plugin (golden files in tests/golden).

The case is the plugin's shipped one (bench/assets: weights and inputs, SHA-256 checked), so the
goldens pin the methods, not the machine; tolerances: ``bench.pytest_plugin.METRIC_TOLERANCES``
(and :data:`RTOL_OVERRIDES` for the methods the drift probe shows to be more sensitive).
Regenerate after an intended change (one command, all methods):
``pytest tests/test_golden_methods.py --rectbench-update-golden``.
"""

from __future__ import annotations

import pytest
import torch

from methods import available_methods

#: Methods whose scores move more than the per-metric tolerances allow when the weights move by a
#: few ulps (benchmarks/golden_drift.py, probe of weights x (1 + 1e-6 z)): SmoothGrad's background
#: mass 2.8e-3 and background fraction 3.2e-3 relative (5 draws; its 50 noisy maps put many pixels
#: near the 95th-percentile threshold). The plugin's rule, 10x the probe rounded up: 5e-2.
RTOL_OVERRIDES: dict[str, float] = {"smoothgrad": 5e-2}


@pytest.mark.parametrize("method", available_methods())
def test_method_scores_match_golden(method: str, rectbench_evaluate, rectbench_golden) -> None:
    rectbench_golden(f"method_{method}", rectbench_evaluate(method),
                     rtol=RTOL_OVERRIDES.get(method))


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
