"""The marker rule and the overall rank (issue 16), on hand-made rows and on the fixture store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from reports import Board, Catalog, against_the_best, load_run, metric_verdicts, overall_rank


def _catalog(roles: dict[str, str], metrics: dict[str, tuple[str, int]]) -> Catalog:
    """``metrics``: {id: (concept, headline)}; every metric lower-is-better."""
    methods = pd.DataFrame({"method": list(roles), "label": [m.upper() for m in roles],
                            "role": list(roles.values()), "color": None})
    rows = pd.DataFrame({"metric": list(metrics), "label": list(metrics),
                         "higher_is_better": 0, "kind": "per_image",
                         "concept": [c for c, _ in metrics.values()],
                         "headline": [h for _, h in metrics.values()]})
    return Catalog(methods, rows)


def _tests(metric: str, verdicts: dict[str, str], reference: str) -> pd.DataFrame:
    return pd.DataFrame({"metric": metric, "method": list(verdicts), "reference": reference,
                         "verdict": list(verdicts.values()), "test": "wilcoxon_signed_rank"})


ROLES = {"a": "method", "b": "method", "c": "method", "ctrl": "control", "rnd": "chance"}
NO_RESOLUTION = pd.DataFrame({"metric": [], "resolved": [], "reason": []})


def test_a_tie_shares_the_star_and_the_control_that_scores_best_gets_none() -> None:
    values = pd.DataFrame({"m": [1.0, 1.1, 3.0, 0.2, 5.0]}, index=list(ROLES))
    tests = _tests("m", {"a": "reference", "b": "not_separable", "c": "worse", "ctrl": "better",
                         "rnd": "worse"}, "a")
    verdict = metric_verdicts(values, tests, NO_RESOLUTION, _catalog(ROLES, {"m": ("x", 1)}))["m"]
    assert verdict.best == ("a", "b")
    assert verdict.usable and verdict.test == "wilcoxon_signed_rank"


def test_comparisons_against_the_chance_baseline_never_decide_a_verdict() -> None:
    """ROAR/KAR store each method against the best and against Random; whichever rows come last
    must not matter (on main the rows against Random, stored last for KAR, gave "better")."""
    values = pd.DataFrame({"m": [1.0, 1.1, 3.0, 0.2, 5.0]}, index=list(ROLES))
    catalog = _catalog(ROLES, {"m": ("x", 1)})
    best = _tests("m", {"a": "reference", "b": "not_separable", "c": "worse", "ctrl": "better",
                        "rnd": "worse"}, "a")
    chance = _tests("m", {"a": "better", "b": "better", "c": "better", "ctrl": "better"}, "rnd")
    for rows in (pd.concat([best, chance]), pd.concat([chance, best])):
        kept = against_the_best(rows, catalog)
        assert set(kept["reference"]) == {"a"}
        assert metric_verdicts(values, kept, NO_RESOLUTION, catalog)["m"].best == ("a", "b")
    mixed = metric_verdicts(values, pd.concat([best, chance]), NO_RESOLUTION, catalog)["m"]
    assert mixed.best != ("a", "b")  # what unfiltered rows did


def test_an_unresolved_metric_marks_nothing_and_keeps_its_reason() -> None:
    values = pd.DataFrame({"m": [1.0, 2.0, 3.0, 4.0, 5.0]}, index=list(ROLES))
    tests = _tests("m", {"a": "reference", "b": "worse", "c": "worse"}, "a")
    resolution = pd.DataFrame({"metric": ["m"], "resolved": [0],
                               "reason": ["one retraining seed: no interval"]})
    verdict = metric_verdicts(values, tests, resolution, _catalog(ROLES, {"m": ("x", 1)}))["m"]
    assert verdict.best == () and not verdict.resolved
    assert verdict.reason == "one retraining seed: no interval"


@pytest.mark.parametrize(
    ("values", "verdicts", "reason"),
    [
        ([2.0, 2.0, 2.0, 1.0, 9.0], {"a": "reference", "b": "worse", "c": "worse"},
         "every real method scores the same"),
        ([1.0, 1.1, 1.2, 1.0, 9.0], {"a": "reference", "b": "not_separable",
                                     "c": "not_separable"}, "separates no real method"),
    ],
)
def test_a_metric_that_does_not_separate_marks_nothing(
    values: list[float], verdicts: dict[str, str], reason: str
) -> None:
    frame = pd.DataFrame({"m": values}, index=list(ROLES))
    verdict = metric_verdicts(frame, _tests("m", verdicts, "a"), NO_RESOLUTION,
                              _catalog(ROLES, {"m": ("x", 1)}))["m"]
    assert verdict.best == () and not verdict.separates and reason in verdict.reason


def test_without_stored_comparisons_nothing_is_marked() -> None:
    values = pd.DataFrame({"m": [1.0, 2.0, 3.0, 0.5, 4.0]}, index=list(ROLES))
    empty = _tests("m", {}, "a")
    verdict = metric_verdicts(values, empty, NO_RESOLUTION, _catalog(ROLES, {"m": ("x", 1)}))["m"]
    assert verdict.best == () and not verdict.tested and not verdict.usable


def test_rank_uses_headline_metrics_only_and_the_same_metrics_for_every_method() -> None:
    # p and q are headline metrics; r is not; c lacks q, so c is not ranked.
    roles = {"a": "method", "b": "method", "c": "method", "d": "method", "ctrl": "control",
             "rnd": "chance"}
    cat = _catalog(roles, {"p": ("patch", 1), "q": ("noise", 1), "r": ("noise", 0)})
    values = pd.DataFrame({"p": [1.0, 2.0, 3.0, 4.0, 0.1, 5.0],
                           "q": [3.0, 1.0, None, 7.0, 0.1, 5.0],
                           "r": [9.0, 9.0, 1.0, 9.0, 1.0, 1.0]}, index=list(roles))
    tests = pd.concat([
        _tests("p", {"a": "reference", "b": "worse", "c": "worse", "d": "worse"}, "a"),
        _tests("q", {"b": "reference", "a": "not_separable", "d": "worse"}, "b"),
        _tests("r", {"c": "reference", "a": "worse", "b": "worse", "d": "worse"}, "c"),
    ])
    verdicts = metric_verdicts(values, tests, NO_RESOLUTION, cat)
    rank = overall_rank(values, verdicts, cat)
    assert rank.metrics == ("p", "q")
    # p: a 1, b 2, d 3 (c unranked); q: b and a share rank 1 (not separable), d 3
    assert rank.ranks.to_dict() == {"a": 1.0, "b": 1.5, "d": 3.0}
    assert rank.unranked["c"] == "no value of q"
    assert "control" in rank.unranked["ctrl"] and "chance" in rank.unranked["rnd"]


def test_the_fixture_store_follows_the_rule(run_dir: Path) -> None:
    board = Board.of(load_run(run_dir))
    best = {m: v.best for m, v in board.verdicts.items()}
    assert best == {
        "patch_attribution": ("rectgrad",),  # the control is better, never starred
        "background_mass": ("rectgrad",),
        "background_fraction": ("grad_x_input", "rectgrad"),  # a tie shares the star
        "total_variation": ("rectgrad",),  # the control scores best (1 < 3)
        "roar_auc": (),  # not resolved
        "kar_aoc": ("rectgrad",),
        "quantus.Sparseness": (),  # does not separate
    }
    assert board.values.loc["edge_sobel", "total_variation"] < board.values.loc[
        "rectgrad", "total_variation"]
    # Random lacks the scale-dependent headline metrics and is a chance baseline: unranked.
    assert list(board.rank.ranks.index) == ["rectgrad", "grad_x_input", "saliency"]
    assert board.rank.metrics == ("patch_attribution", "background_mass", "total_variation",
                                  "kar_aoc")
    # medians tie at 0 on patch attribution: the stored means are shown beside them
    assert board.means == {("rectgrad", "patch_attribution"): 0.8,
                           ("edge_sobel", "patch_attribution"): 0.3}


def test_one_seed_leaves_roar_and_kar_unmarked(tmp_path: Path,
                                                store_writer: Callable[..., Path]) -> None:
    board = Board.of(load_run(store_writer(tmp_path / "one", seeds=(0,))))
    for metric in ("roar_auc", "kar_aoc"):
        assert board.verdicts[metric].best == ()
        assert board.verdicts[metric].reason == "one retraining seed: no interval"
    assert "kar_aoc" not in board.rank.metrics
