"""What a run records besides scores (issue 10): all-zero maps counted and warned about, every
image subset stratified and stored, metric image-set overrides (the paper's total variation on the
training images), background mass as the paper's total, the deviations from the paper's protocol,
paired comparisons that never take a chance baseline as the reference."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe
from bench.runner import run_benchmark
from methods import METHODS, MethodSpec, create_method

pytestmark = pytest.mark.slow


class HalfZero:
    """Saliency, but exactly zero for images 2 and 3 of every 4 in a batch (a method failing
    silently on half the images; the two probe images of the run's validation stay non-zero, so
    the run starts and the failure is only seen in the maps)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.inner = create_method("saliency", model)

    def attribute(self, inputs: torch.Tensor, target: object = None,
                  additional_forward_args: object = None) -> torch.Tensor:
        values = self.inner.attribute(inputs, target=target)
        keep = (torch.arange(len(inputs)) % 4 < 2).to(values.device)
        return values * keep.view(-1, 1, 1, 1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    METHODS.register("half_zero", MethodSpec("half_zero", HalfZero, {}, "test", "test"))
    config = RunConfig(
        preset="records", methods=("saliency", "half_zero", "random"),
        metrics=("total_variation", "background_mass", "total_variation_normalized",
                 "quantus.Sparseness", "roar_auc"),
        data=DataConfig(source="synthetic", n_train=200, n_test=48, synthetic_classes=4,
                        image_size=16),
        train=TrainRecipe(epochs=2, batch_size=50),
        evaluation=EvalConfig(n_images=16, masked_per_class=3, n_quantus=8, batch_size=16,
                              gallery=4, image_sets={"total_variation": "train"}),
        roar=RoarConfig(fractions=(0.25, 0.75), seeds=(0, 1), modes=("roar",), n_train=80,
                        n_test=20, epochs=1),
    )
    messages: list[str] = []
    out = tmp_path_factory.mktemp("records") / "run"
    try:
        run_benchmark(config, out, progress=False, echo=messages.append)
    finally:
        METHODS.unregister("half_zero")
    yield out, messages


def _table(out: Path, query: str) -> pd.DataFrame:
    con = sqlite3.connect(out / "results.sqlite")
    try:
        return pd.read_sql_query(query, con)
    finally:
        con.close()


def test_all_zero_maps_are_counted_and_warned_about(run: tuple[Path, list[str]]) -> None:
    out, messages = run
    checks = _table(out, "SELECT method, image_set, n_images, n_zero FROM map_checks")
    eval_row = checks[(checks["method"] == "half_zero") & (checks["image_set"] == "eval")].iloc[0]
    assert eval_row["n_zero"] == eval_row["n_images"] // 2 == 8
    assert (checks.loc[checks["method"] == "saliency", "n_zero"] == 0).all()
    assert any("half_zero gave 8 all-zero map(s) of 16 on the eval images" in m for m in messages)


def test_subsets_are_stratified_seeded_and_recorded(run: tuple[Path, list[str]]) -> None:
    out, _ = run
    sets = _table(out, "SELECT image_set, position, source_index, label FROM image_sets")
    counts = sets.groupby("image_set").size().to_dict()
    assert counts["eval"] == 16 and counts["train"] == 200 and counts["roar_train"] == 80
    subset = sets[sets["image_set"] == "masked_q8"]
    masked = sets[sets["image_set"] == "masked"]
    assert len(subset) == 8 and set(subset["source_index"]) <= set(masked["source_index"])
    # class-balanced: the subset's class counts differ by at most one where the masked set allows
    per_class = subset["label"].value_counts()
    available = masked["label"].value_counts()
    assert all(per_class[c] >= min(2, available[c]) for c in per_class.index)
    for name in ("eval", "roar_train"):
        labels = sets.loc[sets["image_set"] == name, "label"]
        assert labels.value_counts().max() - labels.value_counts().min() <= 1


def test_total_variation_on_the_training_images_and_background_total(
    run: tuple[Path, list[str]]
) -> None:
    out, _ = run
    n = _table(out, "SELECT metric, COUNT(*) AS n FROM image_scores WHERE method='saliency' "
                    "GROUP BY metric").set_index("metric")["n"]
    assert n["total_variation"] == 200 and n["total_variation_normalized"] == 16
    scores = _table(out, "SELECT method, metric, statistic, value FROM scores")
    total = scores[(scores["metric"] == "background_mass") & (scores["statistic"] == "total")]
    per_image = _table(out, "SELECT value FROM image_scores WHERE method='saliency' AND "
                            "metric='background_mass'")["value"]
    assert total.set_index("method").loc["saliency", "value"] == pytest.approx(per_image.sum())


def test_deviations_from_the_paper_are_recorded(run: tuple[Path, list[str]]) -> None:
    out, _ = run
    notes = _table(out, "SELECT kind, text FROM notes")
    texts = list(notes.loc[notes["kind"] == "deviation", "text"])
    assert "train.epochs = 2 (the paper: 20)" in texts
    assert "data.source = synthetic (the paper: cifar10)" in texts


def test_comparisons_are_paired_and_never_against_a_chance_baseline(
    run: tuple[Path, list[str]]
) -> None:
    out, _ = run
    comparisons = _table(out, "SELECT * FROM comparisons")
    references = comparisons[comparisons["verdict"] == "reference"]
    assert set(references["method"]) <= {"saliency", "half_zero"}
    norm_tv = comparisons[(comparisons["metric"] == "total_variation_normalized")
                          & (comparisons["method"] == "random")].iloc[0]
    # paired on the images where both are defined (half_zero's zero maps have no normalised TV)
    assert norm_tv["test"] == "wilcoxon_signed_rank" and norm_tv["n"] in (8, 16)
    # ROAR: each method against the best real method, and each against Random, paired by seed
    # and by test image (a bootstrap over both, from the cells' per-image correctness)
    roar = comparisons[comparisons["metric"] == "roar_auc"]
    assert set(roar["test"].dropna()) == {"paired_bootstrap_seeds_images"}
    assert set(roar.loc[roar["reference"] == "random", "method"]) == {"saliency", "half_zero"}
    resolution = _table(out, "SELECT metric, resolved, reason FROM resolution").set_index("metric")
    paper_maps = {"total_variation", "background_mass", "total_variation_normalized"}
    assert set(resolution.index) == paper_maps | {f"{m}@uniform" for m in paper_maps} | {
        "quantus.Sparseness", "roar_auc"}  # the uniform rule's copies too (map_rule "both")
