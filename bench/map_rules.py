"""The map post-processing rule of a run: the paper's asymmetric one, one rule for all, or both.

The paper's rule (PROTOCOL.md "Turning attributions into maps") gives the baselines a final
threshold at the 95th percentile of each map and RectGrad none (its q = 98 already acts inside).
A ranking that depends on that asymmetry says more about the post-processing than about the
methods, so a run can also score every map metric under the *uniform* rule: every method's map,
RectGrad's included, final-thresholded at the same percentile (``evaluation.uniform_percentile``).
Uniform-rule values are stored under their own metric names, ``<metric>@uniform``
(:func:`metrics.resolve_metric`), so that both rules live side by side in every table.
"""

from __future__ import annotations

from bench.config import RunConfig
from methods import METHODS
from metrics import UNIFORM_SUFFIX, MetricSpec, resolve_metric

__all__ = ["run_metric_names", "map_percentile", "uniform_pairs"]


def _uniform_applies(name: str) -> bool:
    spec = resolve_metric(name)
    return spec.kind == "per_image" and spec.map_processing == "paper"


def run_metric_names(config: RunConfig) -> tuple[str, ...]:
    """The metrics a run scores: ``config.metrics`` under ``evaluation.map_rule``.

    ``"paper"``: as configured. ``"uniform"``: each per-image metric of the paper's maps replaced
    by its ``@uniform`` variant, in place. ``"both"``: the configured ones, then the ``@uniform``
    variants (so the paper's rule stays the headline: the first metric of each concept).
    """
    names = list(config.metrics)
    rule = config.evaluation.map_rule
    if rule == "uniform":
        names = [n + UNIFORM_SUFFIX if _uniform_applies(n) else n for n in names]
    elif rule == "both":
        names += [n + UNIFORM_SUFFIX for n in config.metrics if _uniform_applies(n)]
    return tuple(dict.fromkeys(names))


def map_percentile(config: RunConfig, method: str, spec: MetricSpec) -> float | None:
    """The final-threshold percentile ``method``'s maps get for ``spec`` (None: no threshold)."""
    if spec.map_processing == "paper":
        return METHODS.get(method).map_percentile
    if spec.map_processing == "uniform":
        return float(config.evaluation.uniform_percentile)
    return None


def uniform_pairs(names: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """``(metric, metric@uniform)`` for every metric of ``names`` scored under both rules."""
    present = set(names)
    return [(n, n + UNIFORM_SUFFIX) for n in names if n + UNIFORM_SUFFIX in present]
