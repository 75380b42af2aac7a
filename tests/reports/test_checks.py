"""Warnings read off the stored cells: suspicious curves, leakage, all-zero maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reports import (
    Catalog,
    curve_warnings,
    leakage_flags,
    leakage_table,
    load_run,
    zero_map_warnings,
)


def _cells(rows: list[tuple[str, str, float, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["method", "mode", "fraction", "seed", "accuracy"])


def test_wrong_way_curves_are_named_and_noise_is_not() -> None:
    cells = _cells([
        # a: ROAR rises by 0.05 from 10 % to 90 % removed -> suspicious
        ("a", "roar", 0.1, 0, 0.60), ("a", "roar", 0.9, 0, 0.65),
        # b: KAR falls by 0.005 only (below the 0.01 tolerance) -> fine
        ("b", "kar", 0.1, 0, 0.50), ("b", "kar", 0.9, 0, 0.495),
        # c: KAR falls by 0.04 but the seeds spread 0.1 at 90 % -> within noise
        ("c", "kar", 0.1, 0, 0.50), ("c", "kar", 0.9, 0, 0.41), ("c", "kar", 0.9, 1, 0.51),
        # d: KAR falls by 0.1 -> suspicious
        ("d", "kar", 0.1, 0, 0.60), ("d", "kar", 0.5, 0, 0.55), ("d", "kar", 0.9, 0, 0.50),
    ])
    catalog = Catalog(pd.DataFrame({"method": ["a", "b", "c", "d"], "label": ["A", "B", "C", "D"],
                                    "role": "method", "color": None}), Catalog.empty().metrics)
    warnings = curve_warnings(cells, catalog)
    assert warnings == {
        "roar": "ROAR accuracy rises as more is removed for A (0.600 at 10% → 0.650 at 90%): "
                "the removal order may not follow the map, or retraining is too noisy at this "
                "scale",
        "kar": "KAR accuracy falls as more is kept for D (0.600 at 10% → 0.500 at 90%): the "
               "removal order may not follow the map, or retraining is too noisy at this scale",
    }


def test_leakage_above_the_retrained_accuracy_flags_that_score(run_dir: Path) -> None:
    tables = load_run(run_dir)
    table = leakage_table(tables.leakage, tables.roar_cells)
    exceeding = table[table["exceeds"]]
    assert exceeding[["method", "mode", "fraction"]].values.tolist() == [["saliency", "roar", 0.9]]
    row = exceeding.iloc[0]
    assert row["leakage"] == pytest.approx(0.505) and row["retrained"] == pytest.approx(
        0.7 - (0.2 + 0.3 * 0.45) * 0.9)
    flags = leakage_flags(table, Catalog.of(tables))
    assert list(flags) == [("saliency", "roar_auc")]
    assert "90%" in flags[("saliency", "roar_auc")]


def test_zero_maps_warn_per_method(run_dir: Path) -> None:
    tables = load_run(run_dir)
    assert zero_map_warnings(tables.map_checks, Catalog.of(tables)) == [
        "RectGrad: all-zero maps (2 of 11 on patch); their scores are those of an empty map, "
        "not of the method's explanation"]
