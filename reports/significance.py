"""The significance matrix: per method and metric, the stored paired test's verdict against the
metric's reference (its best real method), with the test named in each column's header."""

from __future__ import annotations

from html import escape

import pandas as pd

from .board import Board
from .render import format_number, method_html, metric_header

__all__ = ["TEST_NAMES", "VERDICT_TEXT", "significance_html", "test_name"]

#: Readable names of the stored tests (``comparisons.test``); others are shown with spaces.
TEST_NAMES: dict[str, str] = {
    "wilcoxon_signed_rank": "Wilcoxon signed-rank over images",
    "paired_t_over_seeds": "paired t over seeds",
    "sign_test": "sign test over images",
}

#: (cell text, css class) per stored verdict.
VERDICT_TEXT: dict[str, tuple[str, str]] = {
    "reference": ("best", "v-ref"),
    "not_separable": ("not separable", "v-tie"),
    "worse": ("worse", "v-worse"),
    "better": ("better", "v-better"),
}


def test_name(test: str) -> str:
    """The readable name of a stored test."""
    return TEST_NAMES.get(test, test.replace("_", " "))


def _cell(board: Board, row: pd.Series | None, css_column: str) -> str:
    if row is None:
        return f'<td class="na {css_column}">–</td>'
    text, css = VERDICT_TEXT.get(str(row["verdict"]), (str(row["verdict"]), ""))
    ref = board.catalog.method_label(str(row["reference"]))
    detail = ""
    if row["verdict"] != "reference":
        detail = (f"difference to {ref}: {format_number(row['value'])} "
                  f"[{format_number(row['low'])} – {format_number(row['high'])}] "
                  f"({row['interval']}), p = {format_number(row['p_value'])}, n = "
                  f"{format_number(row['n'])}")
        p = f' <span class="ci">p = {format_number(row["p_value"])}</span>'
    else:
        detail, p = f"the reference: {ref}", ""
    classes = " ".join(c for c in (css, css_column) if c)
    return f'<td class="{classes}" title="{escape(detail)}">{escape(text)}{p}</td>'


def significance_html(board: Board) -> str:
    """Methods x metrics: better / not separable / worse than the best, or a note when the run
    stored no comparisons."""
    comparisons = board.comparisons
    if comparisons.empty:
        return ""
    by_key = {(str(r["method"]), str(r["metric"])): r for _, r in comparisons.iterrows()}
    metrics = [m for m in board.metrics if (comparisons["metric"] == m).any()]
    headers = []
    for metric in metrics:
        verdict = board.verdicts[metric]
        css = "" if verdict.resolved else "unresolved"
        sub = test_name(verdict.test) if verdict.test else "no test"
        headers.append(metric_header(board.catalog, metric, sub=sub, css=css,
                                     tooltip=verdict.reason))
    body = ""
    for method in board.catalog.order_methods(board.values.index):
        cells = "".join(
            _cell(board, by_key.get((method, m)), "" if board.verdicts[m].resolved else
                  "unresolved")
            for m in metrics
        )
        role = board.catalog.role(method)
        body += (f'<tr data-method="{escape(method)}" data-role="{escape(role)}">'
                 f'<td class="text">{method_html(board.catalog, method)}</td>{cells}</tr>')
    table = (f'<table id="significance"><thead><tr><th class="text">Method</th>{"".join(headers)}'
             f"</tr></thead><tbody>{body}</tbody></table>")
    return (
        f'<div class="scroll">{table}</div>'
        '<p class="muted">Each cell: the stored paired test of the method against the column\'s '
        "best real method (the reference), named under each header; hover a cell for the "
        "difference, its interval, p and n. \"better\" can only happen to a chance baseline or a "
        "control; greyed columns are not resolved in this run.</p>"
    )
