"""HTML fragments of the report's tables; every value is escaped and comes from a stored table."""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape

import pandas as pd

from .names import Catalog, direction_arrow
from .tables import best_methods, confidence_table, headline_scores, leaderboard_table

__all__ = [
    "combined_leaderboard_html",
    "confidence_html",
    "facts_html",
    "format_number",
    "leaderboard_html",
    "note_html",
    "table1_html",
]


def format_number(value: object) -> str:
    """A stored number for display: 4 significant digits, thousands without an exponent, ``""``
    for a missing one."""
    if value is None or pd.isna(value):  # type: ignore[arg-type]
        return ""
    number = float(value)  # type: ignore[arg-type]
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.4g}"


def _sort_key(value: object) -> str:
    return "" if value is None or pd.isna(value) else repr(float(value))  # type: ignore[arg-type]


def note_html(text: str) -> str:
    """A highlighted note (why a section is omitted, why numbers are not comparable)."""
    return f'<p class="note">{escape(text)}</p>'


def facts_html(rows: Iterable[tuple[str, str]], *, table_id: str) -> str:
    """A two-column label/value table."""
    body = "".join(
        f'<tr><th class="text">{escape(k)}</th><td class="text">{escape(v)}</td></tr>'
        for k, v in rows
    )
    return f'<table id="{escape(table_id)}"><tbody>{body}</tbody></table>'


def _interval(low: object, high: object) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):  # type: ignore[arg-type]
        return ""
    return f' <span class="ci">[{format_number(low)} – {format_number(high)}]</span>'


def leaderboard_html(scores: pd.DataFrame, catalog: Catalog | None = None) -> str:
    """One run's leaderboard as a sortable table (``id="leaderboard"``).

    Headers show each metric's direction (↓ lower is better, ↑ higher); the best value of each
    column is marked (class ``best`` and a star; never for a chance baseline or a control); stored
    intervals appear under each value; rows come in rank order.
    """
    catalog = catalog or Catalog.empty()
    board = leaderboard_table(scores, catalog)
    head = headline_scores(scores, catalog).set_index(["method", "metric"])
    best = best_methods(scores, catalog)
    metrics = [c for c in board.columns if c not in ("method", "rank")]
    directions = (
        head.reset_index().drop_duplicates("metric").set_index("metric")["higher_is_better"]
    )
    statistics = head.reset_index().drop_duplicates("metric").set_index("metric")["statistic"]
    header = '<th class="text" data-col="method">method</th><th data-col="rank" data-better="lower" title="mean rank over the metrics, lower is better">rank ↓</th>'
    for metric in metrics:
        hib = bool(directions[metric])
        better = "higher" if hib else "lower"
        header += (
            f'<th data-col="{escape(metric)}" data-better="{better}" '
            f'title="{escape(metric)}: {escape(str(statistics[metric]))}; {better} is better">'
            f"{escape(catalog.metric_label(metric))} {direction_arrow(hib)}</th>"
        )
    body = ""
    for _, row in board.iterrows():
        method = str(row["method"])
        cells = (
            f'<td class="text" data-sort="{escape(method)}" title="{escape(method)}">'
            f"{escape(catalog.method_label(method))}</td>"
            f'<td data-sort="{_sort_key(row["rank"])}">{format_number(row["rank"])}</td>'
        )
        for metric in metrics:
            value = row[metric]
            stored = head.loc[(method, metric)] if (method, metric) in head.index else None
            interval = "" if stored is None else _interval(stored["low"], stored["high"])
            is_best = method in best.get(metric, [])
            marker = ' <span aria-label="best">★</span>' if is_best else ""
            css = ' class="best"' if is_best else ""
            cells += f'<td{css} data-sort="{_sort_key(value)}">{format_number(value)}{marker}{interval}</td>'
        body += f'<tr data-method="{escape(method)}">{cells}</tr>'
    leaders = "; ".join(
        f"{escape(catalog.metric_label(metric))}: "
        f"{escape(', '.join(catalog.method_label(m) for m in best[metric]))}"
        for metric in metrics
        if metric in best
    )
    return (
        '<table id="leaderboard" class="sortable">'
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        f"<p><strong>Best per metric</strong> — {leaders}</p>"
        '<p class="muted">Values: the median over images (per-image metrics) or the single score '
        "(ROAR AUC, KAR AOC); [low – high]: the stored interval (bootstrap over images, or over "
        "seeds). ★ marks the best value of a column among the methods (never a chance baseline or a "
        "control). Click a header to sort.</p>"
    )


def table1_html(table: pd.DataFrame) -> str:
    """The Table 1 layout (method | ROAR AUC | KAR AOC), this run beside the published numbers."""
    header = (
        '<tr><th class="text" rowspan="2">method</th><th colspan="2">ROAR AUC ↓</th>'
        '<th colspan="2">KAR AOC ↓</th></tr>'
        "<tr><th>this run</th><th>paper</th><th>this run</th><th>paper</th></tr>"
    )
    body = ""
    for _, row in table.iterrows():
        body += (
            f'<tr><td class="text" title="{escape(str(row["method"]))}">{escape(str(row["label"]))}</td>'
            f"<td>{format_number(row['roar_auc'])}</td><td>{format_number(row['roar_auc_paper'])}</td>"
            f"<td>{format_number(row['kar_aoc'])}</td><td>{format_number(row['kar_aoc_paper'])}</td></tr>"
        )
    return f'<table id="table1"><thead>{header}</thead><tbody>{body}</tbody></table>'


def confidence_html(scores: pd.DataFrame, catalog: Catalog | None = None) -> str:
    """Every headline value with its interval and n, and whether it overlaps the best method's."""
    catalog = catalog or Catalog.empty()
    table = confidence_table(scores, catalog)
    header = (
        '<tr><th class="text">metric</th><th class="text">method</th><th>value</th>'
        '<th>interval</th><th>n</th><th class="text">vs. best</th></tr>'
    )
    body = ""
    for _, row in table.iterrows():
        overlap = row["overlaps_best"]
        verdict = (
            "no interval"
            if pd.isna(overlap)
            else ("overlaps the best (not distinguishable)" if overlap else "differs from the best")
        )
        interval = (
            ""
            if pd.isna(row["low"]) or pd.isna(row["high"])
            else f"{format_number(row['low'])} – {format_number(row['high'])}"
        )
        n = "" if pd.isna(row["n"]) else str(int(row["n"]))
        body += (
            f'<tr><td class="text" title="{escape(str(row["metric"]))}">'
            f"{escape(catalog.metric_label(str(row['metric'])))} "
            f"{direction_arrow(row['direction'] == 'higher')}</td>"
            f'<td class="text" title="{escape(str(row["method"]))}">'
            f"{escape(catalog.method_label(str(row['method'])))}</td>"
            f"<td>{format_number(row['value'])}</td><td>{interval}</td><td>{n}</td>"
            f'<td class="text">{verdict}</td></tr>'
        )
    return f'<table id="confidence"><thead>{header}</thead><tbody>{body}</tbody></table>'


def combined_leaderboard_html(
    board: pd.DataFrame, directions: dict[str, bool], catalog: Catalog
) -> str:
    """The cross-run leaderboard (``id="combined"``), sortable, with preset and data-set filters.

    Args:
        board: :func:`reports.tables.combined_leaderboard`'s table.
        directions: ``{metric: higher_is_better}`` for the metric columns.
        catalog: Labels of the methods and metrics (the runs' stored catalogs).
    """
    catalog = catalog or Catalog.empty()
    fixed = ["run_id", "preset", "dataset", "model", "method", "rank"]
    metrics = [c for c in board.columns if c not in fixed]
    filters = ""
    for key, label in (("preset", "Preset"), ("dataset", "Data set")):
        options = '<option value="">all</option>' + "".join(
            f'<option value="{escape(str(v))}">{escape(str(v))}</option>'
            for v in sorted(board[key].astype(str).unique())
        )
        filters += (
            f'<label>{label} <select class="filter" id="filter-{key}" data-key="{key}">'
            f"{options}</select></label> "
        )
    header = "".join(f'<th class="text">{escape(c)}</th>' for c in fixed[:5])
    header += '<th data-better="lower">rank ↓</th>'
    for metric in metrics:
        hib = directions.get(metric, False)
        header += (
            f'<th data-better="{"higher" if hib else "lower"}" title="{escape(metric)}">'
            f"{escape(catalog.metric_label(metric))} {direction_arrow(hib)}</th>"
        )
    body = ""
    for _, row in board.iterrows():
        cells = "".join(f'<td class="text">{escape(str(row[c]))}</td>' for c in fixed[:4])
        method = str(row["method"])
        cells += (f'<td class="text" title="{escape(method)}">'
                  f"{escape(catalog.method_label(method))}</td>")
        for column in ["rank", *metrics]:
            cells += f'<td data-sort="{_sort_key(row[column])}">{format_number(row[column])}</td>'
        body += (
            f'<tr data-preset="{escape(str(row["preset"]))}" '
            f'data-dataset="{escape(str(row["dataset"]))}">{cells}</tr>'
        )
    return (
        f"<p>{filters}</p>"
        '<table id="combined" class="sortable">'
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        '<p class="muted">rank: the mean rank within the row\'s own run. Values: the median over '
        "images, or the single ROAR AUC / KAR AOC score.</p>"
    )
