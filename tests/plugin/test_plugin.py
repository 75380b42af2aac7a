"""The pytest plugin as a new user meets it: a test file in a folder outside the project, run in a
fresh interpreter with an empty HOME (nothing cached, nothing trained: the case ships with rectbench)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bench
from bench.pytest_plugin import golden_diff

pytestmark = pytest.mark.slow

USER_TEST = textwrap.dedent('''
    from captum.attr import InputXGradient


    def test_input_x_gradient_is_pinned(rectbench_case, rectbench_evaluate, rectbench_golden):
        assert rectbench_case.images.shape[1:] == (3, 16, 16)
        assert rectbench_case.masks.shape == rectbench_case.images.shape[:1] + (16, 16)
        assert rectbench_case.patch_box == (0, 0, 3, 3)
        scores = rectbench_evaluate(InputXGradient)
        rectbench_golden("input_x_gradient", scores)
''')


def _pytest(folder: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The same rectbench as this test imports (a checkout on PYTHONPATH or the installed one).
    env = {**os.environ, "PYTHONPATH": str(Path(bench.__file__).resolve().parents[1]), "HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, env=env, timeout=600)


def test_a_user_project_pins_an_unregistered_method_green_then_red(tmp_path: Path) -> None:
    project, home = tmp_path / "user_project", tmp_path / "home"
    (project / "tests").mkdir(parents=True)
    home.mkdir()
    cache = tmp_path / "rectbench-case-cache"
    (project / "pytest.ini").write_text(f"[pytest]\nrectbench_cache_dir = {cache}\n")
    (project / "tests" / "test_mine.py").write_text(USER_TEST)

    missing = _pytest(project, home)
    assert missing.returncode == 1
    assert "run pytest with --rectbench-update-golden" in missing.stdout

    written = _pytest(project, home, "--rectbench-update-golden")
    assert written.returncode == 0, written.stdout + written.stderr
    golden_file = project / "tests" / "golden" / "input_x_gradient.json"
    golden = json.loads(golden_file.read_text())
    assert set(golden) == {"patch_attribution", "background_mass", "background_fraction",
                           "total_variation", "total_variation_normalized"}
    assert 0.0 < golden["background_fraction"] < 1.0

    green = _pytest(project, home)
    assert green.returncode == 0, green.stdout + green.stderr
    assert "1 passed" in green.stdout

    golden["total_variation"] *= 1.5
    golden_file.write_text(json.dumps(golden))
    red = _pytest(project, home)
    assert red.returncode == 1
    assert "rectbench golden 'input_x_gradient'" in red.stdout
    assert "total_variation: expected" in red.stdout
    assert "background_mass" not in red.stdout.split("differs:")[1].split("(run with")[0]
    # The shipped case: no model was trained or cached, in the ini's cache or under HOME.
    assert not cache.exists() and list(home.rglob("*.pt")) == []


def test_golden_diff_reports_each_metric_readably() -> None:
    lines = golden_diff({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1.0005, "b": 2.5, "d": 1.0}, 1e-3, 0.0)
    assert lines == [
        "  b: expected 2, got 2.5 (diff +0.5, 25.00% relative, allowed 0.001)",
        "  c: expected 3, missing from the scores",
        "  d: 1 has no golden value",
    ]
