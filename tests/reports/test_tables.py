"""The tables of the report and the CSVs: views of the stored ``scores`` table, ranked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from reports import (
    PUBLISHED_TABLE1,
    Catalog,
    best_methods,
    combined_leaderboard,
    confidence_table,
    headline_scores,
    leaderboard_table,
    load_run,
    metric_directions,
    table1,
    tidy_scores,
)

METRIC_COLUMNS = [
    "patch_attribution",
    "background_mass",
    "total_variation",
    "roar_auc",
    "kar_aoc",
    "quantus.Sparseness",
]


@pytest.fixture
def scores(run_dir: Path) -> pd.DataFrame:
    return load_run(run_dir).scores


@pytest.fixture
def catalog(run_dir: Path) -> Catalog:
    return Catalog.of(load_run(run_dir))


def test_tidy_scores_columns_direction_and_order(scores: pd.DataFrame, catalog: Catalog) -> None:
    tidy = tidy_scores(scores, catalog)
    assert list(tidy.columns) == [
        "run_id", "method", "metric", "direction", "higher_is_better",
        "statistic", "value", "low", "high", "interval", "n",
    ]  # fmt: skip
    assert len(tidy) == len(scores) == 40
    # fixed order: metrics in display order, then methods in display order, then statistic
    assert list(dict.fromkeys(tidy["metric"])) == METRIC_COLUMNS
    first = tidy[tidy["metric"] == "patch_attribution"]
    assert list(first["method"]) == [
        m for m in ("saliency", "grad_x_input", "rectgrad", "random") for _ in (0, 1)
    ]
    assert list(first["statistic"][:2]) == ["mean", "median"]
    assert set(tidy.loc[tidy["metric"] == "quantus.Sparseness", "direction"]) == {"higher"}
    assert set(tidy.loc[tidy["metric"] == "kar_aoc", "direction"]) == {"lower"}


def test_tidy_scores_rejects_a_foreign_table() -> None:
    with pytest.raises(ValueError, match="scores: missing column\\(s\\) statistic"):
        tidy_scores(
            pd.DataFrame({"run_id": [], "method": [], "metric": [], "higher_is_better": []})
        )


def test_headline_is_median_for_per_image_and_value_for_retraining(
    scores: pd.DataFrame, facts: SimpleNamespace, catalog: Catalog
) -> None:
    head = headline_scores(scores, catalog).set_index(["method", "metric"])
    assert len(head) == 4 * 6
    assert head.loc[("rectgrad", "patch_attribution"), "statistic"] == "median"
    assert head.loc[("rectgrad", "patch_attribution"), "value"] == 1.0  # not the stored mean 1.514
    assert head.loc[("saliency", "roar_auc"), "statistic"] == "value"
    assert head.loc[("saliency", "roar_auc"), "value"] == pytest.approx(0.55)
    assert head.loc[("random", "kar_aoc"), "low"] == pytest.approx(0.434)


def test_headline_falls_back_to_mean_when_no_median_is_stored(scores: pd.DataFrame, catalog: Catalog) -> None:
    only_mean = scores[
        ~((scores["metric"] == "total_variation") & (scores["statistic"] == "median"))
    ]
    head = headline_scores(only_mean, catalog).set_index(["method", "metric"])
    assert head.loc[("rectgrad", "total_variation"), "statistic"] == "mean"
    expected_mean = float(np.mean(3.0 * np.exp(0.3 * (np.arange(11) - 5))))
    assert head.loc[("rectgrad", "total_variation"), "value"] == pytest.approx(expected_mean)


def test_leaderboard_values_and_direction_aware_mean_rank(scores: pd.DataFrame, catalog: Catalog) -> None:
    board = leaderboard_table(scores, catalog)
    assert list(board.columns) == ["method", *METRIC_COLUMNS, "rank"]
    assert list(board["method"]) == ["rectgrad", "grad_x_input", "saliency", "random"]
    row = board.set_index("method")
    assert row.loc["grad_x_input", "patch_attribution"] == 4.0
    assert row.loc["random", "quantus.Sparseness"] == pytest.approx(0.1)
    assert row.loc["rectgrad", "kar_aoc"] == pytest.approx(0.34)
    # rectgrad best everywhere (Sparseness: highest is best); grad_x_input 2,2,3,2,2,2;
    # saliency 3,3,2,3,3,3; random last everywhere
    assert list(board["rank"]) == pytest.approx([1.0, 13 / 6, 17 / 6, 4.0])


def test_leaderboard_ties_share_the_best_rank_and_missing_values_are_skipped() -> None:
    rows = [
        ("a", "m1", 0, 1.0), ("b", "m1", 0, 1.0), ("c", "m1", 0, 2.0),
        ("a", "m2", 1, 5.0), ("b", "m2", 1, 9.0),  # c has no m2
    ]  # fmt: skip
    scores = pd.DataFrame(
        [("r", m, metric, hib, "median", v, None, None, "none", 10) for m, metric, hib, v in rows],
        columns=[
            "run_id",
            "method",
            "metric",
            "higher_is_better",
            "statistic",
            "value",
            "low",
            "high",
            "interval",
            "n",
        ],
    )
    board = leaderboard_table(scores).set_index("method")
    assert board.loc["a", "rank"] == pytest.approx(1.5)  # m1 tie: 1, m2: 2
    assert board.loc["b", "rank"] == pytest.approx(1.0)
    assert board.loc["c", "rank"] == pytest.approx(3.0)
    assert np.isnan(board.loc["c", "m2"])
    assert best_methods(scores) == {"m1": ["b", "a"], "m2": ["b"]}  # leaderboard order


def test_leaderboard_refuses_several_runs(scores: pd.DataFrame, catalog: Catalog) -> None:
    two = pd.concat([scores, scores.assign(run_id="other")])
    with pytest.raises(ValueError, match="holds 2 runs"):
        leaderboard_table(two, catalog)


def test_metric_directions(scores: pd.DataFrame, facts: SimpleNamespace, catalog: Catalog) -> None:
    assert metric_directions(scores, catalog) == {m: facts.DIRECTIONS[m] for m in METRIC_COLUMNS}


def test_best_methods(scores: pd.DataFrame, catalog: Catalog) -> None:
    assert best_methods(scores, catalog) == {m: ["rectgrad"] for m in METRIC_COLUMNS}


def test_confidence_table_tells_real_differences_from_overlaps(scores: pd.DataFrame, catalog: Catalog) -> None:
    table = confidence_table(scores, catalog)
    assert list(table.columns) == [
        "metric", "direction", "method", "statistic", "value", "low", "high", "interval", "n", "overlaps_best",
    ]  # fmt: skip
    verdict = table.set_index(["metric", "method"])["overlaps_best"]
    # roar_auc intervals: rectgrad [0.52, 0.54], grad_x_input [0.53, 0.55], saliency [0.54, 0.56],
    # random [0.546, 0.566]
    assert bool(verdict[("roar_auc", "rectgrad")]) is True
    assert bool(verdict[("roar_auc", "grad_x_input")]) is True
    assert bool(verdict[("roar_auc", "saliency")]) is True  # touches at 0.54
    assert bool(verdict[("roar_auc", "random")]) is False
    # patch attribution: grad_x_input [3.6, 4.4] vs rectgrad [0.9, 1.1]
    assert bool(verdict[("patch_attribution", "grad_x_input")]) is False


def test_confidence_table_marks_missing_intervals(scores: pd.DataFrame, catalog: Catalog) -> None:
    no_ci = scores.assign(low=np.nan, high=np.nan)
    assert confidence_table(no_ci, catalog)["overlaps_best"].isna().all()


def test_table1_beside_the_published_numbers(scores: pd.DataFrame, catalog: Catalog) -> None:
    table = table1(scores, catalog)
    assert list(table.columns) == [
        "method",
        "label",
        "roar_auc",
        "roar_auc_paper",
        "kar_aoc",
        "kar_aoc_paper",
    ]
    assert list(table["method"]) == list(PUBLISHED_TABLE1)
    rows = table.set_index("method")
    assert rows.loc["rectgrad", "label"] == "RectGrad"
    assert rows.loc["rectgrad", "roar_auc"] == pytest.approx(0.53)
    assert rows.loc["rectgrad", "roar_auc_paper"] == pytest.approx(0.5385)
    assert rows.loc["deeplift", "kar_aoc_paper"] == pytest.approx(0.3928)
    assert np.isnan(rows.loc["deeplift", "kar_aoc"])  # not in this run


def test_table1_appends_methods_the_paper_lacks(scores: pd.DataFrame, catalog: Catalog) -> None:
    extra = scores[scores["method"] == "rectgrad"].assign(method="rectgrad_prr")
    table = table1(pd.concat([scores, extra]), catalog)
    assert list(table["method"])[-1] == "rectgrad_prr"
    # not in the run's stored catalog: labelled by its registry name
    assert table.iloc[-1]["label"] == "rectgrad_prr"
    assert table.iloc[-1]["kar_aoc"] == pytest.approx(0.34)
    assert np.isnan(table.iloc[-1]["kar_aoc_paper"])


def test_combined_leaderboard_one_row_per_run_and_method(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    quick = load_run(store_writer(tmp_path / "q", run_id="q1"))
    smoke = load_run(
        store_writer(tmp_path / "s", run_id="s1", preset="smoke", dataset="synthetic",
                     methods=("rectgrad", "random"), with_retraining=False)
    )  # fmt: skip
    board = combined_leaderboard([quick, smoke])
    assert list(board.columns) == [
        "run_id",
        "preset",
        "dataset",
        "model",
        "method",
        "rank",
        *METRIC_COLUMNS,
    ]
    assert len(board) == 6
    assert list(board["run_id"]) == ["q1"] * 4 + ["s1"] * 2
    smoke_rows = board[board["run_id"] == "s1"].set_index("method")
    assert list(smoke_rows["rank"]) == [1.0, 2.0]  # ranked within its own run
    assert smoke_rows["roar_auc"].isna().all()
    assert set(smoke_rows["dataset"]) == {"synthetic"}
