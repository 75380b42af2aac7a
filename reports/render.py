"""Small HTML pieces shared by every table of the report: numbers, labels with their ids in a
tooltip, notes and warnings, plain tables. Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import pandas as pd

from .names import Catalog, direction_arrow, direction_word

__all__ = [
    "facts_html",
    "format_number",
    "interval_html",
    "method_html",
    "metric_header",
    "note_html",
    "plain_table",
    "sort_key",
    "warning_html",
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


def sort_key(value: object) -> str:
    """The ``data-sort`` attribute of a numeric cell (empty for a missing value)."""
    return "" if value is None or pd.isna(value) else repr(float(value))  # type: ignore[arg-type]


def note_html(text: str) -> str:
    """A highlighted note (why a section is omitted, why numbers are not comparable)."""
    return f'<p class="note">{escape(text)}</p>'


def warning_html(lines: Sequence[str], *, title: str = "Warning") -> str:
    """A warning box listing ``lines`` (nothing when there are none)."""
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<div class="warning" role="alert"><strong>{escape(title)}</strong><ul>{items}</ul></div>'


def facts_html(rows: Iterable[tuple[str, str]], *, table_id: str) -> str:
    """A two-column label/value table."""
    body = "".join(
        f'<tr><th class="text">{escape(k)}</th><td class="text">{escape(v)}</td></tr>'
        for k, v in rows
    )
    return f'<table id="{escape(table_id)}"><tbody>{body}</tbody></table>'


def plain_table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[str]], *,
                text_columns: int = 1) -> str:
    """A table of already-formatted cells (escaped here); the first ``text_columns`` columns are
    left-aligned text, the others numbers."""
    def cell(tag: str, i: int, value: str) -> str:
        css = ' class="text"' if i < text_columns else ""
        return f"<{tag}{css}>{escape(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def interval_html(low: object, high: object) -> str:
    """``[low – high]`` on its own line under a value (nothing without an interval)."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):  # type: ignore[arg-type]
        return ""
    return f' <span class="ci">[{format_number(low)} – {format_number(high)}]</span>'


def method_html(catalog: Catalog, method: str) -> str:
    """The method's stored label with its id in a tooltip, and its role when not a method."""
    role = catalog.role(method)
    tag = f' <span class="role">{escape(role)}</span>' if role != "method" else ""
    return (f'<span class="label" title="{escape(method)}">'
            f"{escape(catalog.method_label(method))}</span>{tag}")


def metric_header(catalog: Catalog, metric: str, *, sub: str = "", css: str = "",
                  tooltip: str = "") -> str:
    """A ``<th>`` with the metric's stored label and direction; its id (and ``tooltip``) in the
    ``title``; ``sub`` on a second line."""
    hib = catalog.higher_is_better(metric)
    better = direction_word(hib)
    title = f"{metric}: {better} is better" + (f"; {tooltip}" if tooltip else "")
    css_attr = f' class="{css}"' if css else ""
    sub_html = f'<span class="sub">{escape(sub)}</span>' if sub else ""
    return (
        f'<th{css_attr} data-col="{escape(metric)}" data-better="{better}" '
        f'title="{escape(title)}">{escape(catalog.metric_label(metric))} '
        f"{direction_arrow(hib)}{sub_html}</th>"
    )
