"""The layers' import arrows: bench -> metrics -> methods -> common; reports -> common; only the
CLI (``bench.cli``) joins the runner and the reports.

Every ``import`` and ``from ... import`` of every module of every package is read from the source
(function-level imports included), so a forbidden arrow fails here even when it is never executed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "methods", "metrics", "bench", "reports")

#: Which of the project's packages each package may import (itself always).
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "methods": {"common"},
    "metrics": {"common", "methods"},
    "bench": {"common", "methods", "metrics"},
    "reports": {"common"},
}
#: Modules allowed one more arrow: the command line builds reports after a run.
EXCEPTIONS: dict[str, set[str]] = {"bench.cli": {"reports"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def forbidden_imports() -> list[str]:
    """``"module -> package"`` for every import that breaks an arrow."""
    problems = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            allowed = ALLOWED[package] | {package} | EXCEPTIONS.get(module, set())
            problems += [f"{module} -> {target}" for target in sorted(_imported_packages(path) - allowed)]
    return problems


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert forbidden_imports() == []


def test_the_scan_sees_function_level_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "methods" / "sneaky.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from bench.runner import run_benchmark\n    import reports\n")
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert forbidden_imports() == ["methods.sneaky -> bench", "methods.sneaky -> reports"]


def test_reports_import_no_compute_layer_at_run_time() -> None:
    code = (
        "import sys, reports; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'bench', 'methods', 'metrics', 'torch'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
