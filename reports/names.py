"""Display order, labels, colours, roles and directions of methods and metrics.

Everything comes from the run's stored ``methods`` and ``metrics`` tables (written by the runner
from the registries' specs), so a method or metric registered outside the project is shown with its
own label and colour and in the run's order. Names a table does not list (an older run in a
combined leaderboard) still appear, after the listed ones, alphabetically, labelled by their name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from .store import TABLE_COLUMNS, RunTables

__all__ = ["CONCEPT_LABELS", "Catalog", "SPARE_COLORS", "concept_label", "direction_arrow", "direction_word"]

#: Column titles of the headline table, one per concept a metric can measure (``MetricSpec.concept``).
CONCEPT_LABELS: dict[str, str] = {
    "patch": "Patch",
    "background": "Background",
    "noise": "Noise",
    "roar": "ROAR",
    "kar": "KAR",
}

#: Colours for methods stored without one (matplotlib's tab10 without red, and greys last).
SPARE_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a",
)


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS[table]})


@dataclass(frozen=True)
class Catalog:
    """The stored ``methods`` and ``metrics`` rows of one or more runs (first listing wins).

    Attributes:
        methods: Columns of the ``methods`` table, one row per method, in display order.
        metrics: Columns of the ``metrics`` table, one row per metric, in display order.
    """

    methods: pd.DataFrame
    metrics: pd.DataFrame

    def __post_init__(self) -> None:
        # One dict per table: a report looks names up thousands of times, .loc costs ~0.5 ms.
        object.__setattr__(self, "_methods", _lookup(self.methods, "method"))
        object.__setattr__(self, "_metrics", _lookup(self.metrics, "metric"))

    @classmethod
    def empty(cls) -> Catalog:
        """No stored names: alphabetical order, names as labels, spare colours."""
        return cls(_empty("methods"), _empty("metrics"))

    @classmethod
    def of(cls, runs: RunTables | Sequence[RunTables]) -> Catalog:
        """The catalog of one run, or the union of several (in the order given)."""
        tables = [runs] if isinstance(runs, RunTables) else list(runs)
        methods = [t.methods for t in tables if not t.methods.empty]
        metrics = [t.metrics for t in tables if not t.metrics.empty]
        return cls(
            pd.concat(methods).drop_duplicates("method") if methods else _empty("methods"),
            pd.concat(metrics).drop_duplicates("metric") if metrics else _empty("metrics"),
        )

    # -- order ----------------------------------------------------------------------------------
    def order_methods(self, names: Iterable[str]) -> list[str]:
        """Distinct method names in display order (stored order, then alphabetical)."""
        return _ordered(names, list(self.methods["method"]))

    def order_metrics(self, names: Iterable[str]) -> list[str]:
        """Distinct metric names in display order (stored order, then alphabetical)."""
        return _ordered(names, list(self.metrics["metric"]))

    # -- methods --------------------------------------------------------------------------------
    def _method(self, name: str, column: str) -> object:
        return self._methods.get(name, {}).get(column)  # type: ignore[attr-defined]

    def method_label(self, name: str) -> str:
        """The method's display label (its name when none is stored)."""
        return str(self._method(name, "label") or name)

    def role(self, name: str) -> str:
        """``"method"``, ``"chance"`` or ``"control"`` (``"method"`` when none is stored)."""
        return str(self._method(name, "role") or "method")

    def can_be_best(self, name: str) -> bool:
        """Chance baselines and controls are never marked best."""
        return self.role(name) == "method"

    def palette(self, methods: Iterable[str]) -> dict[str, str]:
        """One colour per method: its stored colour, else the next spare one."""
        ordered = list(dict.fromkeys(methods))
        spare = iter(c for c in SPARE_COLORS * 4)
        colors: dict[str, str] = {}
        for name in ordered:
            stored = self._method(name, "color")
            colors[name] = str(stored) if stored else next(spare)
        return colors

    # -- metrics --------------------------------------------------------------------------------
    def _metric(self, name: str, column: str) -> object:
        return self._metrics.get(name, {}).get(column)  # type: ignore[attr-defined]

    def metric_label(self, name: str) -> str:
        """The metric's display label (its name when none is stored)."""
        return str(self._metric(name, "label") or name)

    def is_retraining(self, name: str) -> bool:
        """Whether the metric comes from retrained models (one value per run, no image values)."""
        return self._metric(name, "kind") == "retraining"

    def higher_is_better(self, name: str) -> bool:
        """The metric's stored direction (False, lower is better, when none is stored)."""
        return bool(self._metric(name, "higher_is_better") or False)

    def concept(self, name: str) -> str | None:
        """What the metric measures (``patch``, ``background``, ...), or None."""
        value = self._metric(name, "concept")
        return str(value) if value else None

    def is_scale_dependent(self, name: str) -> bool:
        """Whether the metric's value scales with the map (a chance baseline has none)."""
        return bool(self._metric(name, "scale_dependent") or False)

    def headline_metrics(self) -> dict[str, str]:
        """``{concept: metric}``: the metric representing each concept in the overall rank, in
        stored order. Read from a stored ``headline`` column where the store has one; otherwise
        the first stored metric of each concept."""
        flagged = "headline" in self.metrics.columns and self.metrics["headline"].notna().any()
        chosen: dict[str, str] = {}
        for _, row in self.metrics.iterrows():
            concept = row["concept"]
            if not concept or pd.isna(concept) or concept in chosen:
                continue
            if not flagged or bool(row["headline"]):
                chosen[str(concept)] = str(row["metric"])
        return chosen

    def axis_label(self, name: str, higher_is_better: bool | None = None) -> str:
        """``"<label> (↓ lower is better)"`` for plot axes (the stored direction by default)."""
        hib = self.higher_is_better(name) if higher_is_better is None else higher_is_better
        return f"{self.metric_label(name)} ({direction_arrow(hib)} {direction_word(hib)} is better)"


def _lookup(frame: pd.DataFrame, key: str) -> dict[str, dict[str, object]]:
    """``{name: {column: value}}`` of a catalog table, first row per name, missing values left
    out (so that ``.get`` gives None)."""
    out: dict[str, dict[str, object]] = {}
    for row in frame.to_dict("records"):
        name = str(row[key])
        if name not in out:
            out[name] = {c: v for c, v in row.items() if v is not None and not pd.isna(v)}
    return out


def concept_label(concept: str) -> str:
    """The headline table's column title of a concept."""
    return CONCEPT_LABELS.get(concept, concept.replace("_", " ").capitalize())


def _ordered(names: Iterable[str], order: list[str]) -> list[str]:
    unique = list(dict.fromkeys(names))
    known = [n for n in order if n in unique]
    return known + sorted(n for n in unique if n not in order)


def direction_arrow(higher_is_better: bool) -> str:
    """``"↑"`` when higher is better, ``"↓"`` when lower is better."""
    return "↑" if higher_is_better else "↓"


def direction_word(higher_is_better: bool) -> str:
    """``"higher"`` or ``"lower"`` (the word that is better), as written to ``scores.csv``."""
    return "higher" if higher_is_better else "lower"
