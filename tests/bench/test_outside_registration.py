"""A method and a metric registered from outside the project run through every stage unchanged.

The method is a chance baseline (a centre-bias map that ignores the model) and the metric is
scored on the masked images; the runner must read both from their specs alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.presets import get_preset
from bench.runner import run_benchmark
from methods import METHODS, MethodSpec
from metrics import METRICS, MetricInputs, MetricSpec
from reports import build_report, load_run, run_leaderboard

pytestmark = pytest.mark.slow


class CentreBias:
    """Chance baseline: every pixel's attribution is minus its squared distance to the centre."""

    def __init__(self, model: torch.nn.Module, power: float = 2.0) -> None:
        self.power = power

    def attribute(self, inputs: torch.Tensor, target: object = None,
                  additional_forward_args: object = None) -> torch.Tensor:
        n, c, h, w = inputs.shape
        ys = torch.arange(h, dtype=inputs.dtype) - (h - 1) / 2
        xs = torch.arange(w, dtype=inputs.dtype) - (w - 1) / 2
        distance = ys.view(-1, 1).abs() ** self.power + xs.view(1, -1).abs() ** self.power
        return (-distance).expand(n, c, h, w).to(inputs.device).clone()


def object_share(inputs: MetricInputs) -> torch.Tensor:
    """Share of |map| on the object (higher is better); needs the masks."""
    assert inputs.foreground is not None
    magnitude = inputs.maps.abs()
    return (magnitude * inputs.foreground).sum(dim=(1, 2)) / magnitude.sum(dim=(1, 2))


@pytest.fixture
def outside_entries() -> Iterator[None]:
    METHODS.register("centre_bias", MethodSpec(
        "centre_bias", CentreBias, {"power": 2.0}, "centre-bias chance baseline", "a test",
        map_percentile=None, label="Centre bias", role="chance", meaningful_scale=False,
    ))
    METRICS.register("object_share", MetricSpec(
        "object_share", object_share, ("maps", "foreground"), True, "share on the object",
        "per_image", label="Object share", image_set="masked", scale_dependent=False,
    ))
    try:
        yield
    finally:
        METHODS.unregister("centre_bias")
        METRICS.unregister("object_share")


def test_an_outside_chance_method_and_masked_metric_run_through_every_stage(
    outside_entries: None, tmp_path: Path
) -> None:
    smoke = get_preset("smoke")
    config = replace(
        smoke,
        methods=("saliency", "rectgrad", "centre_bias"),
        metrics=("object_share", "total_variation", "background_fraction", "roar_auc"),
        data=replace(smoke.data, n_train=400, n_test=100),
        roar=replace(smoke.roar, n_train=200, n_test=60, epochs=1),
    )
    result = run_benchmark(config, tmp_path / "run", progress=False, echo=lambda _: None)
    build_report(tmp_path / "run", run_id=result.run_id)

    tables = load_run(tmp_path / "run", result.run_id)
    board = run_leaderboard(tables).set_index("method")
    assert "centre_bias" in board.index and "object_share" in board.columns
    assert board["object_share"].notna().all()
    # a chance method with no meaningful scale gets no scale-dependent metric ...
    assert board.loc["centre_bias", "background_fraction"] == pytest.approx(
        1 - board.loc["centre_bias", "object_share"], abs=0.2)
    assert pd_isna(board.loc["centre_bias", "total_variation"])
    # ... its ROAR/KAR ranks pixels by its maps, and the metric saw the masked images only.
    assert not pd_isna(board.loc["centre_bias", "roar_auc"])
    con = sqlite3.connect(tmp_path / "run" / "results.sqlite")
    counts = dict(con.execute(
        "SELECT metric, COUNT(*) FROM image_scores WHERE method='saliency' GROUP BY metric"))
    con.close()
    assert counts["object_share"] == counts["background_fraction"] != counts["total_variation"]

    html = (tmp_path / "run" / "report.html").read_text()
    assert "Centre bias" in html and "Object share" in html
    assert 'data-method="centre_bias"' in html
    row = html.split('data-method="centre_bias"')[1].split("</tr>")[0]
    assert "★" not in row  # a chance baseline is never marked best


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
