"""The CSVs' tables: views of the stored ``scores`` table, the leaderboard, Table 1, and the
cross-run table grouped by (data set, model, protocol)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from reports import (
    PUBLISHED_TABLE1,
    Catalog,
    combined_leaderboard,
    headline_scores,
    leaderboard_table,
    load_run,
    metric_directions,
    table1,
    tidy_scores,
)


@pytest.fixture
def scores(run_dir: Path) -> pd.DataFrame:
    return load_run(run_dir).scores


@pytest.fixture
def catalog(run_dir: Path) -> Catalog:
    return Catalog.of(load_run(run_dir))


def test_tidy_scores_columns_direction_and_order(scores: pd.DataFrame, catalog: Catalog,
                                                 fx: ModuleType) -> None:
    tidy = tidy_scores(scores, catalog)
    assert list(tidy.columns) == [
        "run_id", "method", "metric", "direction", "higher_is_better",
        "statistic", "value", "low", "high", "interval", "n",
    ]  # fmt: skip
    assert len(tidy) == len(scores)
    assert list(dict.fromkeys(tidy["metric"])) == list(fx.METRICS)
    first = tidy[tidy["metric"] == "patch_attribution"]  # Random has no scale-dependent value
    assert list(first["method"]) == [m for m in ("saliency", "grad_x_input", "rectgrad",
                                                 "edge_sobel") for _ in (0, 1)]
    assert list(first["statistic"][:2]) == ["mean", "median"]
    assert set(tidy.loc[tidy["metric"] == "quantus.Sparseness", "direction"]) == {"higher"}
    assert set(tidy["interval"]) == {"bootstrap_images", "none", "t_seeds"}


def test_tidy_scores_rejects_a_foreign_table() -> None:
    with pytest.raises(ValueError, match="scores: missing column\\(s\\) statistic"):
        tidy_scores(pd.DataFrame({"run_id": [], "method": [], "metric": [],
                                  "higher_is_better": []}))


def test_headline_is_median_for_per_image_and_value_for_retraining(
    scores: pd.DataFrame, catalog: Catalog
) -> None:
    head = headline_scores(scores, catalog).set_index(["method", "metric"])
    assert head.loc[("saliency", "patch_attribution"), "statistic"] == "median"
    assert head.loc[("saliency", "patch_attribution"), "value"] == 5.0  # not the stored mean
    assert head.loc[("saliency", "roar_auc"), "statistic"] == "value"
    assert head.loc[("random", "kar_aoc"), "low"] == pytest.approx(0.444 - 0.012)


def test_headline_falls_back_to_mean_when_no_median_is_stored(
    scores: pd.DataFrame, catalog: Catalog, fx: ModuleType
) -> None:
    only_mean = scores[~((scores["metric"] == "total_variation")
                         & (scores["statistic"] == "median"))]
    head = headline_scores(only_mean, catalog).set_index(["method", "metric"])
    assert head.loc[("rectgrad", "total_variation"), "statistic"] == "mean"
    assert head.loc[("rectgrad", "total_variation"), "value"] == pytest.approx(
        float(np.mean(fx.per_image_values(3.0, 11))))


def test_leaderboard_table_values_and_rank(run_dir: Path, fx: ModuleType) -> None:
    tables = load_run(run_dir)
    board = leaderboard_table(tables.scores, Catalog.of(tables), comparisons=tables.comparisons,
                              resolution=tables.resolution)
    assert list(board.columns) == ["method", *fx.METRICS, "rank"]
    # ranked methods first in rank order, then the unranked ones in display order
    assert list(board["method"]) == ["rectgrad", "grad_x_input", "saliency", "random",
                                     "edge_sobel"]
    rows = board.set_index("method")
    # rank over patch, background mass, total variation, KAR (ROAR unresolved):
    # grad_x_input 2, 2, 3, 2 -> 2.25; saliency 3, 3, 2, 3 -> 2.75
    assert rows["rank"].tolist()[:3] == [1.0, 2.25, 2.75]
    assert rows[["rank"]].loc[["random", "edge_sobel"]].isna().all().all()
    assert rows.loc["grad_x_input", "patch_attribution"] == 4.0
    assert np.isnan(rows.loc["random", "total_variation"])


def test_leaderboard_table_without_comparisons_ranks_nobody(scores: pd.DataFrame,
                                                            catalog: Catalog) -> None:
    board = leaderboard_table(scores, catalog)
    assert board["rank"].isna().all()


def test_leaderboard_refuses_several_runs(scores: pd.DataFrame, catalog: Catalog) -> None:
    two = pd.concat([scores, scores.assign(run_id="other")])
    with pytest.raises(ValueError, match="holds 2 runs"):
        leaderboard_table(two, catalog)


def test_metric_directions(scores: pd.DataFrame, catalog: Catalog, fx: ModuleType) -> None:
    directions = metric_directions(scores, catalog)
    assert list(directions) == list(fx.METRICS)
    assert directions["quantus.Sparseness"] is True and directions["kar_aoc"] is False


def test_table1_beside_the_published_numbers(scores: pd.DataFrame, catalog: Catalog) -> None:
    table = table1(scores, catalog)
    assert list(table.columns) == ["method", "label", "roar_auc", "roar_auc_paper", "kar_aoc",
                                   "kar_aoc_paper"]
    assert list(table["method"]) == [*PUBLISHED_TABLE1, "edge_sobel"]
    rows = table.set_index("method")
    assert rows.loc["rectgrad", "roar_auc"] == pytest.approx(0.53)
    assert rows.loc["rectgrad", "roar_auc_paper"] == pytest.approx(0.5385)
    assert np.isnan(rows.loc["deeplift", "kar_aoc"])  # not in this run
    assert rows.loc["edge_sobel", "label"] == "Edge (Sobel)"
    assert rows.loc["deeplift", "label"] == "DeepLIFT"  # the paper's name, not the id


def test_combined_leaderboard_groups_by_dataset_model_protocol(
    tmp_path: Path, store_writer: Callable[..., Path], fx: ModuleType
) -> None:
    quick = load_run(store_writer(tmp_path / "q", run_id="q1"))
    other = load_run(store_writer(tmp_path / "o", run_id="o1", protocol="p-other",
                                  methods=("rectgrad", "saliency", "random")))
    board = combined_leaderboard([quick, other])
    assert list(board.columns[:7]) == ["dataset", "model", "protocol", "run_id", "preset",
                                       "method", "rank"]
    # headline metrics only
    assert list(board.columns[7:]) == ["patch_attribution", "background_mass",
                                       "total_variation", "roar_auc", "kar_aoc"]
    assert list(board["protocol"]) == ["p-3f2a9c"] * 5 + ["p-other"] * 3
    other_rows = board[board["run_id"] == "o1"].set_index("method")
    assert other_rows["rank"].tolist()[:2] == [1.0, 2.0]  # ranked within its own group
