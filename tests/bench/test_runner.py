"""End-to-end runs of the runner on small synthetic data: outputs, resumption, kill -9, determinism."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe
from bench.presets import PAPER_METRICS
from bench.runner import RunResult, run_benchmark
from reports import build_report, load_run, run_leaderboard

pytestmark = pytest.mark.slow

TINY = RunConfig(
    preset="tiny",
    description="test-sized run",
    methods=("saliency", "guided_backprop", "rectgrad", "random"),
    metrics=PAPER_METRICS,
    data=DataConfig(source="synthetic", n_train=400, n_test=80, synthetic_classes=4),
    train=TrainRecipe(epochs=2, batch_size=50),
    evaluation=EvalConfig(n_images=24, masked_per_class=4, n_quantus=0, batch_size=32, gallery=2),
    roar=RoarConfig(fractions=(0.2, 0.8), seeds=(0,), n_train=160, n_test=40, epochs=1),
)


def _quiet(_: str) -> None:
    pass


def leaderboard_of(result: RunResult) -> pd.DataFrame:
    """The run's leaderboard as the report computes it (one row per method, by name)."""
    tables = load_run(result.run_dir, result.run_id)
    return run_leaderboard(tables).set_index("method")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tiny")
    result = run_benchmark(TINY, out, progress=False, echo=_quiet)
    build_report(out, run_id=result.run_id)
    return out, result


def test_a_run_writes_every_output_and_scores_every_method_and_metric(tiny_run) -> None:
    out, result = tiny_run
    for name in ("results.sqlite", "config.toml", "environment.json", "scores.csv", "leaderboard.csv",
                 "report.html"):
        assert (out / name).is_file(), name
    board = leaderboard_of(result)
    assert sorted(board.index) == sorted(TINY.methods)
    # evaluation.map_rule = "both" (the default): the map metrics under the uniform rule too
    uniform = {f"{m}@uniform" for m in PAPER_METRICS if m not in ("roar_auc", "kar_aoc")}
    assert set(board.columns) == set(PAPER_METRICS) | uniform | {"rank"}
    # Random gets no scale-dependent masses (noise on an arbitrary scale); everything else is scored.
    scale_dependent = ["patch_attribution", "background_mass", "total_variation"]
    scale_dependent += [f"{m}@uniform" for m in scale_dependent]
    assert board.loc["random", scale_dependent].isna().all()
    # (the rank needs a headline metric the paired tests resolve: none may be at this size)
    scored = board.drop(columns="rank")
    assert scored.drop(index="random").notna().all().all(), board
    assert scored.drop(columns=scale_dependent).notna().all().all(), board
    # ROAR/KAR scores are means of accuracies in [0, 1]; per-image masses are non-negative.
    assert ((board["roar_auc"] >= 0) & (board["roar_auc"] <= 1)).all()
    assert (board.drop(index="random")[scale_dependent] >= 0).all().all()
    assert ((board["background_fraction"] >= 0) & (board["background_fraction"] <= 1)).all()
    scores = pd.read_csv(out / "scores.csv")
    assert {"method", "metric", "statistic", "value"} <= set(scores.columns)
    con = sqlite3.connect(out / "results.sqlite")
    accuracy = con.execute("SELECT model_accuracy FROM runs").fetchone()[0]
    stages = dict(con.execute("SELECT stage, seconds FROM stages ORDER BY position").fetchall())
    cells = con.execute("SELECT COUNT(*) FROM roar_cells").fetchone()[0]
    con.close()
    assert accuracy > 0.4  # 4 classes: chance is 0.25
    assert list(stages) == ["estimates", "data", "models", "images", "maps", "scores", "gallery",
                            "retraining", "leakage", "summary", "robustness", "total"]
    assert cells == len(TINY.methods) * 2 * 2  # methods x modes x fractions x seeds


def test_rerun_reuses_everything_and_gives_the_same_leaderboard(tiny_run) -> None:
    out, first = tiny_run
    again = run_benchmark(TINY, out, progress=False, echo=_quiet)
    pd.testing.assert_frame_equal(leaderboard_of(again), leaderboard_of(first))
    # Nothing is retrained or recomputed: the rerun skips the training and ROAR work entirely.
    assert again.stages["retraining"] < 0.2 * first.stages["retraining"]
    assert again.stages["models"] < 0.2 * first.stages["models"]
    assert again.stages["maps"] < 0.2 * first.stages["maps"]


def test_same_seed_same_machine_same_leaderboard_in_a_fresh_folder(tiny_run, tmp_path: Path) -> None:
    out, first = tiny_run
    other = run_benchmark(TINY, tmp_path / "other", progress=False, echo=_quiet)
    pd.testing.assert_frame_equal(leaderboard_of(other), leaderboard_of(first))


def test_fresh_discards_stored_results(tiny_run, tmp_path: Path) -> None:
    config = replace(TINY, methods=("saliency",), metrics=("total_variation",))
    out = tmp_path / "f"
    run_benchmark(config, out, progress=False, echo=_quiet)
    (out / "cache" / "marker").write_text("x")
    run_benchmark(config, out, fresh=True, progress=False, echo=_quiet)
    assert not (out / "cache" / "marker").exists()


def test_unknown_method_and_metric_names_list_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="valid names: saliency"):
        run_benchmark(replace(TINY, methods=("salency",)), tmp_path, echo=_quiet)
    with pytest.raises(KeyError, match="unknown metric 'tv'"):
        run_benchmark(replace(TINY, metrics=("tv",)), tmp_path, echo=_quiet)
