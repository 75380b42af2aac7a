"""Stage ``robustness``: does a ranking survive the map rule, and does blurring a map help it?

After ``summary``, from the stored scores:

- ``rule_agreement``: for each metric scored under both map rules (``evaluation.map_rule =
  "both"``: ``<metric>`` and ``<metric>@uniform``), Kendall's tau-b
  (:func:`scipy.stats.kendalltau`) between the headline values (medians) of the real methods
  (role ``"method"``) under the paper's rule and under the uniform rule, its two-sided p-value
  and the number of methods. tau = 1: the same order; NaN: fewer than two methods, or one rule
  scores them all the same.
- ``control_pairs``: for each blurred control ``X+blur`` of the run whose method ``X`` is in the
  run too, per metric: ``X+blur`` minus ``X`` on the same images (Wilcoxon signed-rank, paired
  bootstrap interval of the difference of medians) or the same retraining seeds (paired t over
  seeds); p-values Holm-adjusted within each metric; verdict ``better`` when blurring improves
  the score (adjusted p < 0.05 and an interval clear of 0: :func:`metrics.compare.separation`),
  ``untested`` with one retraining seed. Post-processing cannot add
  information about the model, so ``better`` on ROAR/KAR is the pitfall of Song, Cha, Seo
  (arXiv:2304.13836): the metric rewards smoothness.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from bench.map_rules import uniform_pairs
from bench.pipeline import RunContext
from bench.stages.summary import retraining_row
from methods import METHODS
from metrics import MetricSpec
from metrics.compare import PairedTest, holm, paired_image_test, paired_seed_test, separation

__all__ = ["check_robustness", "needs_robustness", "rule_agreement_rows", "blur_pairs"]


def blur_pairs(methods: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``(control, method)`` for every ``X+blur`` of ``methods`` whose ``X`` is there too."""
    present = set(methods)
    pairs = []
    for name in methods:
        base = METHODS.get(name).derived_from
        if base is not None and METHODS.get(name).role == "control" and base in present:
            pairs.append((name, base))
    return pairs


def needs_robustness(ctx: RunContext) -> bool:
    """Whether the run has a metric under both rules or a blurred control with its method."""
    names = [spec.name for spec in ctx.metrics]
    return bool(uniform_pairs(names)) or bool(blur_pairs(ctx.config.methods))


def check_robustness(ctx: RunContext, scores: pd.DataFrame) -> None:
    names = [spec.name for spec in ctx.metrics]
    real = [m for m in ctx.config.methods if METHODS.get(m).role == "method"]
    rows = rule_agreement_rows(scores, uniform_pairs(names), real)
    ctx.store.put_rows("rule_agreement", ctx.run_id, rows, replace_where={})
    pairs = blur_pairs(ctx.config.methods)
    control_rows = []
    for spec in ctx.metrics:
        control_rows += _control_rows(ctx, spec, pairs)
    ctx.store.put_rows("control_pairs", ctx.run_id, control_rows, replace_where={})


def rule_agreement_rows(scores: pd.DataFrame, pairs: list[tuple[str, str]],
                        real: list[str]) -> list[dict[str, Any]]:
    """One row per (metric, metric@uniform) pair: Kendall's tau of the real methods' medians."""
    medians = scores[scores["statistic"] == "median"].set_index(["method", "metric"])["value"]
    rows = []
    for paper, uniform in pairs:
        both = [m for m in real if np.isfinite(medians.get((m, paper), np.nan))
                and np.isfinite(medians.get((m, uniform), np.nan))]
        tau = p = math.nan
        if len(both) >= 2:
            a = [float(medians[(m, paper)]) for m in both]
            b = [float(medians[(m, uniform)]) for m in both]
            with warnings.catch_warnings():  # constant input: NaN, said in the report
                warnings.simplefilter("ignore", RuntimeWarning)
                result = stats.kendalltau(a, b)
            tau, p = float(result.statistic), float(result.pvalue)
        rows.append(dict(metric=paper, kendall_tau=None if math.isnan(tau) else tau,
                         p_value=None if math.isnan(p) else p, n=len(both)))
    return rows


def _control_rows(ctx: RunContext, spec: MetricSpec,
                  pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    results: list[tuple[str, str, PairedTest]] = []
    for control, method in pairs:
        if spec.kind == "per_image":
            a = ctx.store.image_scores(ctx.run_id, control, spec.name)
            b = ctx.store.image_scores(ctx.run_id, method, spec.name)
            if a.size == 0 or a.shape != b.shape:
                continue
            result = paired_image_test(torch.from_numpy(a), torch.from_numpy(b))
        else:
            _, a_seeds = retraining_row(ctx, control, spec)
            _, b_seeds = retraining_row(ctx, method, spec)
            if not a_seeds or len(a_seeds) != len(b_seeds):
                continue
            result = paired_seed_test(a_seeds, b_seeds)
        results.append((control, method, result))
    adjusted = holm([r.p_value for _, _, r in results])
    return [
        dict(metric=spec.name, control=control, method=method, statistic="difference",
             value=r.difference, low=r.low, high=r.high, interval=r.interval, p_value=p,
             test=r.test, n=r.n,
             verdict=separation(r.difference, r.low, r.high, p, spec.higher_is_better))
        for (control, method, r), p in zip(results, adjusted, strict=True)
    ]


