"""Display order and labels of methods and metrics, so every table and plot lists them alike.

Names not listed here (a method a user registered, a new Quantus metric) still appear, after the
known ones, in alphabetical order.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "METHOD_ORDER",
    "METHOD_LABELS",
    "METRIC_ORDER",
    "RETRAINING_METRICS",
    "direction_arrow",
    "direction_word",
    "method_label",
    "order_methods",
    "order_metrics",
]

#: The method registry's names in the order the paper's figures use (baselines, RectGrad, Random).
METHOD_ORDER: tuple[str, ...] = (
    "saliency",
    "grad_x_input",
    "guided_backprop",
    "deconvolution",
    "smoothgrad",
    "integrated_gradients",
    "deeplift",
    "rectgrad",
    "rectgrad_prr",
    "random",
)

#: The paper's names for the registry's methods (figure legends, Table 1).
METHOD_LABELS: dict[str, str] = {
    "saliency": "Saliency Map",
    "grad_x_input": "Gradient * Input",
    "guided_backprop": "Guided BP",
    "deconvolution": "Deconvolution",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "IntegGrad",
    "deeplift": "DeepLIFT",
    "rectgrad": "RectGrad",
    "rectgrad_prr": "RectGrad PRR",
    "random": "Random",
}

METRIC_ORDER: tuple[str, ...] = (
    "patch_attribution",
    "background_mass",
    "background_fraction",
    "total_variation",
    "total_variation_normalized",
    "roar_auc",
    "kar_aoc",
)

#: Metrics whose headline statistic is ``value`` (one number per run, from retrained models).
RETRAINING_METRICS: frozenset[str] = frozenset({"roar_auc", "kar_aoc"})


def _ordered(names: Iterable[str], order: tuple[str, ...]) -> list[str]:
    unique = list(dict.fromkeys(names))
    known = [n for n in order if n in unique]
    return known + sorted(n for n in unique if n not in order)


def order_methods(names: Iterable[str]) -> list[str]:
    """Distinct method names in display order (:data:`METHOD_ORDER`, then alphabetical)."""
    return _ordered(names, METHOD_ORDER)


def order_metrics(names: Iterable[str]) -> list[str]:
    """Distinct metric names in display order (:data:`METRIC_ORDER`, then alphabetical)."""
    return _ordered(names, METRIC_ORDER)


def method_label(name: str) -> str:
    """The paper's name of a registry method, or the registry name itself when it has none."""
    return METHOD_LABELS.get(name, name)


def direction_arrow(higher_is_better: bool) -> str:
    """``"↑"`` when higher is better, ``"↓"`` when lower is better."""
    return "↑" if higher_is_better else "↓"


def direction_word(higher_is_better: bool) -> str:
    """``"higher"`` or ``"lower"`` (the word that is better), as written to ``scores.csv``."""
    return "higher" if higher_is_better else "lower"
