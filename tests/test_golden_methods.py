"""Every registered method pinned with the project's own pytest plugin (golden files in tests/golden).

Regenerate after an intended change: ``pytest tests/test_golden_methods.py --rectbench-update-golden``.
"""

from __future__ import annotations

import pytest

from methods import available_methods


@pytest.mark.parametrize("method", available_methods())
def test_method_scores_match_golden(method: str, rectbench_evaluate, rectbench_golden) -> None:
    rectbench_golden(f"method_{method}", rectbench_evaluate(method))


def test_the_case_model_learned_the_task(rectbench_case) -> None:
    assert rectbench_case.accuracy > 0.7
