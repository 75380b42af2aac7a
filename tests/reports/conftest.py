"""Fixtures: realistic result stores of schema 3 written through ``bench.store.ResultStore``.

The writer and the cases it holds are in ``fixture_store.py`` (its docstring lists them); it is
loaded by path because test modules cannot import each other under ``--import-mode=importlib``
(and ``benchmarks/report_speed.py`` loads it the same way).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest


def _load_fixture_store() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "rectbench_fixture_store", Path(__file__).with_name("fixture_store.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURE = _load_fixture_store()


@pytest.fixture(scope="session")
def fx() -> ModuleType:
    """The fixture store module: ``write_store`` and the constants behind the stored rows."""
    return FIXTURE


@pytest.fixture
def store_writer() -> Callable[..., Path]:
    """``fixture_store.write_store``, for tests that need a store of another shape."""
    return FIXTURE.write_store


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder holding the small store (five methods, seven metrics, every table)."""
    return FIXTURE.write_store(tmp_path / "run")


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small store's run folder after ``build_report(run_dir, figures=True)``, built once
    per session for the tests that only read the outputs."""
    from reports import build_report

    run_dir = FIXTURE.write_store(tmp_path_factory.mktemp("built") / "run")
    build_report(run_dir, figures=True)
    return run_dir
