"""Stage ``summary``: the tidy ``scores`` table from the stored per-image values and cells.

Per-image metrics: the median over images with a bootstrap interval over images, and the mean.
Retraining metrics: the ROAR AUC / KAR AOC of the mean-over-seeds curves, with the range of the
per-seed scores as the interval when there are several seeds. Each row says what its interval is
over (``interval``, see ``common.schema.INTERVAL_KINDS``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from bench.pipeline import RunContext
from bench.stages.retraining import retraining_modes
from metrics import MetricSpec, score_cells, summarize

__all__ = ["summarise", "SCORE_COLUMNS"]

SCORE_COLUMNS = ["method", "metric", "higher_is_better", "statistic", "value", "low", "high",
                 "interval", "n"]


def summarise(ctx: RunContext) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    per_image = [spec for spec in ctx.metrics if spec.kind == "per_image"]
    retraining = [spec for spec in ctx.metrics if spec.kind == "retraining"]
    for method in ctx.config.methods:
        for spec in per_image:
            rows += _per_image_rows(ctx, method, spec)
        if retraining:
            rows += _retraining_rows(ctx, method, retraining)
    ctx.store.put_scores(ctx.run_id, rows)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _per_image_rows(ctx: RunContext, method: str, spec: MetricSpec) -> list[dict[str, Any]]:
    values = ctx.store.image_scores(ctx.run_id, method, spec.name)
    if values.size == 0:
        return []
    s = summarize(torch.from_numpy(values))
    common = dict(method=method, metric=spec.name, higher_is_better=int(spec.higher_is_better), n=s.n)
    return [
        dict(common, statistic="median", value=s.median, low=s.ci_low, high=s.ci_high,
             interval="bootstrap_images"),
        dict(common, statistic="mean", value=s.mean, low=None, high=None, interval="none"),
    ]


def _retraining_rows(
    ctx: RunContext, method: str, specs: list[MetricSpec]
) -> list[dict[str, Any]]:
    roar = ctx.config.roar
    modes = retraining_modes(ctx)
    cells = ctx.store.roar_cells(ctx.run_id, method)
    grid = [(m, float(f), int(s)) for m in modes for f in roar.fractions for s in roar.seeds]
    if not cells or any(cell not in cells for cell in grid):
        return []
    table = pd.DataFrame([(*cell, cells[cell]) for cell in grid],
                         columns=["mode", "fraction", "seed", "accuracy"])
    result = score_cells(table, roar.fractions, roar.seeds, modes)
    rows = []
    for spec in specs:
        mode = str(spec.retraining_mode)
        per_seed = result.seed_score(mode)
        several = len(per_seed) > 1
        rows.append(dict(method=method, metric=spec.name, higher_is_better=int(spec.higher_is_better),
                         statistic="value", value=result.score(mode), n=len(per_seed),
                         low=per_seed.min() if several else None,
                         high=per_seed.max() if several else None,
                         interval="seed_range" if several else "none"))
    return rows
