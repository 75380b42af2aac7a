"""Paired comparisons of the methods of each metric, and whether the run resolves the metric.

For each metric the *reference* is the best real method (role ``"method"``) by its headline value
(the median over images; the ROAR AUC / KAR AOC for retraining metrics). Every other method,
chance baselines and controls included, is compared with it on the same images
(:func:`metrics.compare.paired_image_test`: Wilcoxon signed-rank, paired bootstrap interval) or the
same retraining seeds and test images (:mod:`bench.stages.roar_compare`: a bootstrap over seeds
and test images from the cells' per-image correctness; the paired t over seeds when that is not
stored); the p-values of one metric are Holm-adjusted; the verdict is ``worse``/``better``
(separated, by direction) when the adjusted p is below 0.05 and the interval excludes 0
(:func:`metrics.compare.separation`), else ``not_separable``. Retraining metrics are also
compared with each chance baseline (the paired difference from Random, also stored per interval
kind in ``differences``).

A metric is *resolved* (``resolution`` table) when at least one real method is separated from the
reference; otherwise the reason is stored (one retraining seed, all methods equal, no method
separated) and the report marks nothing for it. A retraining metric is first checked at its scale:
unless a difference of 0.03 from Random lies at 2 standard errors, the reason is "not resolved at
this scale" with the measured standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from bench.pipeline import RunContext
from bench.stages.roar_compare import RoarComparisons
from methods import METHODS
from metrics import METRICS, MetricSpec
from metrics.compare import PairedTest, holm, paired_image_test, separation

__all__ = ["compare_and_resolve", "reference_method"]


def reference_method(spec: MetricSpec, headline: Mapping[str, float]) -> str | None:
    """The best real method (role ``"method"``) by headline value, or None when there is none."""
    real = {m: v for m, v in headline.items() if METHODS.get(m).role == "method" and np.isfinite(v)}
    if not real:
        return None
    pick = max if spec.higher_is_better else min
    return pick(real, key=real.__getitem__)


def compare_and_resolve(
    ctx: RunContext,
    per_image: Mapping[str, Mapping[str, np.ndarray]],
    per_seed: Mapping[str, Mapping[str, Sequence[float]]],
) -> None:
    """Store the comparisons and the resolution of every metric of the run."""
    comparisons: list[dict[str, Any]] = []
    resolution: list[dict[str, Any]] = []
    for name, by_method in per_image.items():
        spec = METRICS.get(name)
        headline = {m: float(np.nanmedian(v)) for m, v in by_method.items() if np.isfinite(v).any()}
        rows, reason = _compare(spec, headline, by_method, _image_test)
        comparisons += rows
        resolution.append(dict(metric=name, resolved=int(reason == ""), reason=reason))
    differences: list[dict[str, Any]] = []
    for name, by_method in per_seed.items():
        spec = METRICS.get(name)
        headline = {m: float(np.mean(v)) for m, v in by_method.items() if len(v)}
        roar = RoarComparisons(ctx, spec, by_method)
        rows, reason = _compare(spec, headline, roar.names, roar.test)
        chance_rows, difference_rows = roar.versus_chance(_row)
        comparisons += rows + chance_rows
        differences += difference_rows
        if by_method and max(len(v) for v in by_method.values()) < 2:
            reason = "one retraining seed: no interval over retrained models, so no method can " \
                     "be told apart"
        reason = roar.scale_reason() or reason
        resolution.append(dict(metric=name, resolved=int(reason == ""), reason=reason))
    ctx.store.put_rows("comparisons", ctx.run_id, comparisons, replace_where={})
    ctx.store.put_rows("differences", ctx.run_id, differences, replace_where={})
    ctx.store.put_rows("resolution", ctx.run_id, resolution, replace_where={})


def _image_test(a: np.ndarray, b: np.ndarray) -> PairedTest:
    return paired_image_test(torch.from_numpy(a), torch.from_numpy(b))


def _compare(
    spec: MetricSpec, headline: Mapping[str, float], values: Mapping[str, Any], test: Any,
) -> tuple[list[dict[str, Any]], str]:
    """Rows of every method against the reference, and the reason the metric is not resolved
    (empty when it is)."""
    reference = reference_method(spec, headline)
    if reference is None:
        return [], "no real method has a value"
    others = [m for m in values if m != reference]
    results = [test(values[m], values[reference]) for m in others]
    adjusted = holm([r.p_value for r in results])
    rows = [_row(spec, reference, reference, None, None)]
    rows += [_row(spec, m, reference, r, p) for m, r, p in zip(others, results, adjusted, strict=True)]
    real = [r for r in rows[1:] if METHODS.get(r["method"]).role == "method"]
    finite = [v for m, v in headline.items() if METHODS.get(m).role == "method"]
    if len(set(finite)) <= 1 and len(finite) > 1:
        return rows, "every method scores the same"
    if real and all(r["verdict"] == "not_separable" for r in real):
        return rows, "no method is separated from the best by the paired test"
    return rows, ""


def _row(
    spec: MetricSpec, method: str, reference: str, result: PairedTest | None, p: float | None
) -> dict[str, Any]:
    base = dict(metric=spec.name, method=method, reference=reference)
    if result is None:
        return dict(base, statistic="difference", value=0.0, low=None, high=None, interval="none",
                    p_value=None, test=None, n=None, verdict="reference")
    return dict(base, statistic="difference", value=result.difference, low=result.low,
                high=result.high, interval=result.interval, p_value=p, test=result.test,
                n=result.n, verdict=_verdict(spec, result, p))


def _verdict(spec: MetricSpec, result: PairedTest, p: float | None) -> str:
    verdict = separation(result.difference, result.low, result.high, p, spec.higher_is_better)
    return "not_separable" if verdict == "untested" else verdict
