"""A small end-to-end run with the controls, both map rules, class sensitivity and the three
experiments: the rows every stage stores, and the report built from them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe
from bench.runner import RunResult, run_benchmark
from reports import build_report

pytestmark = pytest.mark.slow

CONFIG = RunConfig(
    preset="controls",
    description="controls, map rules and experiments on a tiny synthetic run",
    methods=("saliency", "rectgrad", "sobel", "saliency+blur"),
    metrics=("background_fraction", "total_variation", "class_sensitivity", "roar_auc"),
    data=DataConfig(source="synthetic", n_train=300, n_test=60, synthetic_classes=4,
                    image_size=16, patch_size=6),
    train=TrainRecipe(epochs=2, batch_size=50),
    evaluation=EvalConfig(n_images=24, masked_per_class=4, n_quantus=0, batch_size=32,
                          gallery=0, map_rule="both", occlusion_trials=3, occlusion_steps=3,
                          occlusion_images=4),
    roar=RoarConfig(fractions=(0.25, 0.75), seeds=(0,), modes=("roar",), n_train=100,
                    n_test=40, epochs=1),
    experiments=("feature_occlusion", "noise_accumulation", "threshold_sweep"),
    sweeps=("rectgrad.percentile=0,98,tau=0",),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> RunResult:
    out = tmp_path_factory.mktemp("controls")
    result = run_benchmark(CONFIG, out, progress=False, echo=lambda _: None)
    build_report(out, run_id=result.run_id)
    return result


def _table(run: RunResult, sql: str) -> pd.DataFrame:
    con = sqlite3.connect(run.run_dir / "results.sqlite")
    try:
        return pd.read_sql_query(sql, con)
    finally:
        con.close()


def test_controls_and_uniform_metrics_are_in_the_catalog(run: RunResult) -> None:
    roles = _table(run, "SELECT method, role FROM methods").set_index("method")["role"]
    assert roles.to_dict() == {"saliency": "method", "rectgrad": "method", "sobel": "control",
                               "saliency+blur": "control"}
    metrics = list(_table(run, "SELECT metric FROM metrics ORDER BY position")["metric"])
    assert metrics == list(CONFIG.metrics) + ["background_fraction@uniform",
                                              "total_variation@uniform"]
    assert list(run.stages)[-4:] == ["robustness", "feature_occlusion", "noise_accumulation",
                                     "threshold_sweep"]


def test_the_uniform_rule_changes_rectgrad_only(run: RunResult) -> None:
    scores = _table(run, "SELECT method, metric, image_index, value FROM image_scores")
    values = scores.pivot_table(index=["method", "image_index"], columns="metric", values="value")
    for method, same in (("saliency", True), ("saliency+blur", True), ("rectgrad", False)):
        paper, uniform = values.loc[method, "total_variation"], values.loc[
            method, "total_variation@uniform"]
        assert np.allclose(paper, uniform) == same, method  # 95 for both, or none vs 95
    # Sobel's scale is not an attribution's: no scale-dependent values, the share is there
    sobel = scores[scores["method"] == "sobel"]
    assert "total_variation" not in set(sobel["metric"])
    assert sobel[sobel["metric"] == "background_fraction@uniform"]["value"].notna().all()


def test_class_sensitivity_is_stored_per_image_and_blind_for_sobel(run: RunResult) -> None:
    rows = _table(run, "SELECT method, value FROM image_scores "
                       "WHERE metric = 'class_sensitivity'")
    counts = rows.groupby("method")["value"].size()
    assert set(counts) == {24}  # every eval image, NaN where the class did not flip
    defined = rows.dropna()
    sobel = defined[defined["method"] == "sobel"]["value"]
    assert len(sobel) >= 1 and np.allclose(sobel, 0.0, atol=1e-12)
    median = _table(run, "SELECT method, value, n FROM scores WHERE metric = "
                         "'class_sensitivity' AND statistic = 'median'").set_index("method")
    assert median.loc["saliency", "value"] > 0 and median.loc["saliency", "n"] < 24


def test_rule_agreement_and_control_pairs(run: RunResult) -> None:
    agreement = _table(run, "SELECT * FROM rule_agreement").set_index("metric")
    assert sorted(agreement.index) == ["background_fraction", "total_variation"]
    assert (agreement["n"] == 2).all()  # the two real methods
    assert set(agreement["kendall_tau"].dropna()) <= {-1.0, 1.0}
    pairs = _table(run, "SELECT * FROM control_pairs")
    assert set(pairs["control"]) == {"saliency+blur"} and set(pairs["method"]) == {"saliency"}
    assert len(pairs) == 6  # four metrics and two uniform copies
    roar = pairs.set_index("metric").loc["roar_auc"]
    assert roar["verdict"] == "untested" and roar["test"] == "paired_t_over_seeds"
    assert set(pairs["verdict"]) <= {"better", "worse", "not_separable", "untested"}


def test_curves_of_the_three_experiments(run: RunResult) -> None:
    curves = _table(run, "SELECT * FROM curves")
    occlusion = curves[curves["experiment"] == "feature_occlusion"]
    assert sorted(set(occlusion["series"])) == ["background", "object"]
    assert sorted(set(occlusion["x"])) == [0.0, 0.5, 1.0] and set(occlusion["n"]) <= {4}
    start = occlusion[occlusion["x"] == 0.0]["value"]
    assert start.iloc[0] == pytest.approx(start.iloc[1])  # nothing occluded: the same margin
    noise = curves[curves["experiment"] == "noise_accumulation"].sort_values(["method", "x"])
    assert set(noise["method"]) == {"saliency", "rectgrad"}
    assert list(noise[noise["method"] == "rectgrad"]["x_label"]) == [
        "input", "features.1", "features.3", "features.6", "features.8"]
    assert noise["value"].between(0, 1).all()
    sweep = curves[curves["experiment"] == "sweep:rectgrad.percentile"]
    assert set(sweep["series"]) == {"background_fraction", "total_variation", "class_sensitivity"}
    assert sorted(sweep["x_label"].dropna().unique()) == ["tau=0"]
    # the q = 98 point is the run's RectGrad (the same maps): the same median
    median = _table(run, "SELECT value FROM scores WHERE method = 'rectgrad' AND metric = "
                         "'total_variation' AND statistic = 'median'")["value"].iloc[0]
    at_98 = sweep[(sweep["x"] == 98.0) & (sweep["series"] == "total_variation")]["value"]
    assert at_98.iloc[0] == pytest.approx(median)
    notes = set(_table(run, "SELECT kind FROM notes")["kind"])
    assert {"curve:feature_occlusion", "curve:noise_accumulation"} <= notes


def test_the_report_and_csv_show_them(run: RunResult) -> None:
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    for text in ("4. Validity controls", "One map rule for all", "Does blurring a map improve",
                 "Feature-map occlusion (paper Figure 3)", "(paper Figure 6)", "(paper Figure 4)"):
        assert text in html, text
    csv = pd.read_csv(run.run_dir / "scores.csv")
    assert {"class_sensitivity", "total_variation@uniform"} <= set(csv["metric"])


def test_a_rerun_recomputes_nothing(run: RunResult, tmp_path: Path) -> None:
    before = _table(run, "SELECT * FROM curves ORDER BY experiment, method, series, x")
    again = run_benchmark(CONFIG, run.run_dir, progress=False, echo=lambda _: None)
    after = _table(again, "SELECT * FROM curves ORDER BY experiment, method, series, x")
    pd.testing.assert_frame_equal(before, after)
    assert again.stages["threshold_sweep"] < 0.5 * run.stages["threshold_sweep"]
    assert again.stages["feature_occlusion"] < 0.5 * run.stages["feature_occlusion"]
