"""Stored results carry provenance keys: a rerun after a changed method (code version or default
setting) recomputes that method's maps, scores and ROAR/KAR cells, and only those (issue 10)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe
from bench.runner import run_benchmark
from methods import METHODS

pytestmark = pytest.mark.slow

SMALL = RunConfig(
    preset="small", methods=("saliency", "rectgrad", "random"),
    metrics=("total_variation", "background_fraction", "roar_auc"),
    data=DataConfig(source="synthetic", n_train=200, n_test=40, synthetic_classes=4, image_size=16),
    train=TrainRecipe(epochs=1, batch_size=50),
    evaluation=EvalConfig(n_images=16, masked_per_class=3, n_quantus=0, batch_size=16, gallery=2),
    roar=RoarConfig(fractions=(0.25, 0.75), seeds=(0,), modes=("roar",), n_train=80, n_test=20,
                    epochs=1),
)


def _state(out: Path) -> tuple[dict, dict, set[str], set[str]]:
    con = sqlite3.connect(out / "results.sqlite")
    keys = {(k, n): v for k, n, v in con.execute("SELECT kind, name, key FROM artifacts")}
    cells = {(m, f): a for m, f, a in con.execute("SELECT method, fraction, accuracy FROM roar_cells")}
    con.close()
    maps = {p.name for p in (out / "cache" / "maps").iterdir()}
    models = {p.name for p in (out / "cache" / "models").iterdir()}
    return keys, cells, maps, models


@pytest.fixture
def swap_rectgrad() -> Iterator[object]:
    """Yields a function that re-registers rectgrad with another default percentile; the stock
    entry is restored afterwards."""
    stock = METHODS.get("rectgrad")

    def swap(percentile: float) -> None:
        METHODS.replace("rectgrad", replace(stock, defaults={**stock.defaults,
                                                             "percentile": percentile}))

    try:
        yield swap
    finally:
        METHODS.replace("rectgrad", stock)


def test_a_changed_default_recomputes_that_method_only(tmp_path: Path, swap_rectgrad) -> None:
    out = tmp_path / "run"
    first = run_benchmark(SMALL, out, progress=False, echo=lambda _: None)
    before = _state(out)
    swap_rectgrad(95.0)  # an upgrade changed rectgrad's default percentile

    messages: list[str] = []
    again = run_benchmark(SMALL, out, progress=False, echo=messages.append)
    after = _state(out)
    assert again.run_id == first.run_id  # the same configuration, the same run
    changed = {k for k in before[0] if before[0][k] != after[0].get(k)}
    assert changed and all("rectgrad" in name for _, name in changed), changed
    assert after[3] == before[3]  # no model retrained
    new_maps = after[2] - before[2]
    assert len(new_maps) == 4  # rectgrad x (eval, masked, roar_train, roar_test)
    assert {k: v for k, v in after[1].items() if k[0] != "rectgrad"} == {
        k: v for k, v in before[1].items() if k[0] != "rectgrad"}
    assert any("rectgrad: ROAR/KAR cells are stale" in m for m in messages)
    # and a third run changes nothing
    run_benchmark(SMALL, out, progress=False, echo=lambda _: None)
    third = _state(out)
    assert third[0] == after[0] and third[2] == after[2]
