"""Stage ``summary``: the tidy ``scores`` table, the paired comparisons and each metric's resolution.

Scores (``scores`` table), each with what its interval is over (``common.schema.INTERVAL_KINDS``):
per-image metrics store the median with a bootstrap interval over images, the mean, and the
aggregates the metric's spec asks for (``"total"``: the sum over images); retraining metrics store
the ROAR AUC / KAR AOC of the mean-over-seeds curves with a t-interval over seeds (none with one
seed). Comparisons and resolution: :mod:`bench.stages.comparisons`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from bench.pipeline import RunContext
from bench.stages.comparisons import compare_and_resolve
from bench.stages.retraining import retraining_modes
from metrics import MetricSpec, score_cells, summarize

__all__ = ["summarise", "retraining_row", "SCORE_COLUMNS"]

SCORE_COLUMNS = ["method", "metric", "higher_is_better", "statistic", "value", "low", "high",
                 "interval", "n"]


def summarise(ctx: RunContext) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    per_image: dict[str, dict[str, np.ndarray]] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    for spec in ctx.metrics:
        if spec.kind == "per_image":
            per_image[spec.name] = {}
            for method in ctx.config.methods:
                values = ctx.store.image_scores(ctx.run_id, method, spec.name)
                if values.size:
                    per_image[spec.name][method] = values
                    rows += _per_image_rows(method, spec, values)
        else:
            per_seed[spec.name] = {}
            for method in ctx.config.methods:
                row, seeds = retraining_row(ctx, method, spec)
                if row is not None:
                    rows.append(row)
                    per_seed[spec.name][method] = seeds
    ctx.store.put_scores(ctx.run_id, rows)
    compare_and_resolve(ctx, per_image, per_seed)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _per_image_rows(method: str, spec: MetricSpec, values: np.ndarray) -> list[dict[str, Any]]:
    s = summarize(torch.from_numpy(values))
    common = dict(method=method, metric=spec.name, higher_is_better=int(spec.higher_is_better), n=s.n)
    rows = [
        dict(common, statistic="median", value=s.median, low=s.ci_low, high=s.ci_high,
             interval="bootstrap_images"),
        dict(common, statistic="mean", value=s.mean, low=None, high=None, interval="none"),
    ]
    if "total" in spec.aggregates:
        rows.append(dict(common, statistic="total", value=float(np.nansum(values)), low=None,
                         high=None, interval="none"))
    return rows


def retraining_row(
    ctx: RunContext, method: str, spec: MetricSpec
) -> tuple[dict[str, Any] | None, list[float]]:
    """The method's score of a retraining metric and its per-seed scores (None: cells missing);
    also read by :mod:`bench.stages.robustness`."""
    roar = ctx.config.roar
    modes = retraining_modes(ctx)
    mode = str(spec.retraining_mode)
    cells = ctx.store.roar_cells(ctx.run_id, method)
    grid = [(mode, float(f), int(s)) for f in roar.fractions for s in roar.seeds]
    if mode not in modes or any(cell not in cells for cell in grid):
        return None, []
    table = pd.DataFrame([(*cell, cells[cell]) for cell in grid],
                         columns=["mode", "fraction", "seed", "accuracy"])
    result = score_cells(table, roar.fractions, roar.seeds, [mode])
    seeds = [float(v) for v in result.seed_score(mode)]
    low = high = None
    if len(seeds) > 1:
        half = float(stats.t.ppf(0.975, len(seeds) - 1) * np.std(seeds, ddof=1)
                     / math.sqrt(len(seeds)))
        low, high = float(np.mean(seeds)) - half, float(np.mean(seeds)) + half
    row = dict(method=method, metric=spec.name, higher_is_better=int(spec.higher_is_better),
               statistic="value", value=result.score(mode), n=len(seeds), low=low, high=high,
               interval="t_seeds" if len(seeds) > 1 else "none")
    return row, seeds
