"""The report's leaderboard tables: the headline table (one column per concept), the full table
(every metric, collapsible, scrolling in its own box) and the sentence saying how the rank is
made. Markers follow :mod:`reports.verdicts`."""

from __future__ import annotations

from html import escape

from .board import Board
from .names import concept_label
from .render import format_number, interval_html, method_html, metric_header, sort_key

__all__ = [
    "board_table_html",
    "full_table_html",
    "headline_table_html",
    "marker_legend",
    "rank_sentence",
    "value_cell",
]

STAR = '<span class="star" aria-label="best">★</span>'


def _status(board: Board, metric: str) -> tuple[str, str]:
    """(css class, short status) of a metric's column."""
    verdict = board.verdicts[metric]
    if not verdict.resolved:
        # The header shows the reason's first clause; the whole of it is the header's tooltip and
        # is printed under the table.
        reason = verdict.reason.split(":")[0] if len(verdict.reason) > 60 else verdict.reason
        return "unresolved", reason if "resolved" in reason else f"not resolved: {reason}"
    if not verdict.separates:
        return "nosep", "does not separate the methods"
    if not verdict.tested:
        return "untested", "no paired test stored: nothing marked"
    return "", ""


def value_cell(board: Board, method: str, metric: str) -> str:
    """One ``<td>``: the stored headline value, its marker, the mean where medians tie at 0, a
    warning sign for a flagged score, and the interval under it."""
    row = board.row(method, metric)
    css, _ = _status(board, metric)
    if row is None:
        return f'<td class="na {css}" data-sort="" title="no value stored">–</td>'
    best = board.is_best(method, metric)
    classes = " ".join(c for c in (css, "best" if best else "") if c)
    parts = [format_number(row["value"])]
    if best:
        parts.append(" " + STAR)
    mean = board.means.get((method, metric))
    if mean is not None:
        parts.append(f' <span class="mean">(mean {format_number(mean)})</span>')
    flag = board.flags.get((method, metric))
    if flag:
        parts.append(f' <span class="flag" title="{escape(flag)}">⚠</span>')
    parts.append(interval_html(row["low"], row["high"]))
    title = (f"{board.catalog.method_label(method)} · {board.catalog.metric_label(metric)}: "
             f"{row['statistic']}; interval: {row['interval']}")
    reason = board.verdicts[metric].reason
    if reason:
        title += f"; {reason}"
    css_attr = f' class="{classes}"' if classes else ""
    return (f'<td{css_attr} data-sort="{sort_key(row["value"])}" title="{escape(title)}">'
            f'{"".join(parts)}</td>')


def _rank_cell(board: Board, method: str) -> str:
    rank = board.rank_of(method)
    if rank is None:
        why = board.rank.unranked.get(method, "not ranked")
        return f'<td class="na" data-sort="" title="{escape(why)}">–</td>'
    return f'<td data-sort="{sort_key(rank)}">{format_number(rank)}</td>'


def _row(board: Board, method: str, metrics: list[str]) -> str:
    role = board.catalog.role(method)
    cells = f'<td class="text">{method_html(board.catalog, method)}</td>' + _rank_cell(board, method)
    cells += "".join(value_cell(board, method, m) for m in metrics)
    css = ' class="baseline"' if role != "method" else ""
    return f'<tr data-method="{escape(method)}" data-role="{escape(role)}"{css}>{cells}</tr>'


def board_table_html(board: Board, metrics: list[str], headers: list[str], *, table_id: str,
                     css: str = "") -> str:
    """A sortable table: method, rank, then one column per metric with the given headers."""
    head = ('<th class="text method" data-col="method">Method</th>'
            '<th class="rank" data-col="rank" data-better="lower" title="mean rank over the '
            'headline metrics; lower is better">Rank ↓</th>' + "".join(headers))
    body = "".join(_row(board, m, metrics) for m in board.methods)
    css_attr = f" {css}" if css else ""
    return (f'<table id="{table_id}" class="sortable{css_attr}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def headline_table_html(board: Board) -> str:
    """One column per concept (its headline metric), every column fitting the page."""
    columns = board.headline_columns()
    headers = []
    for concept, metric in columns:
        css, status = _status(board, metric)
        sub = f"{concept_label(concept)}" + (f" · {status}" if status else "")
        headers.append(metric_header(board.catalog, metric, sub=sub, css=css,
                                     tooltip=board.verdicts[metric].reason))
    return board_table_html(board, [m for _, m in columns], headers, table_id="headline",
                            css="headline")


def full_table_html(board: Board) -> str:
    """Every metric, collapsed under a summary, scrolling horizontally in its own box."""
    headers = []
    for metric in board.metrics:
        css, status = _status(board, metric)
        concept = board.catalog.concept(metric)
        sub = " · ".join(s for s in (concept_label(concept) if concept else "", status) if s)
        headers.append(metric_header(board.catalog, metric, sub=sub, css=css,
                                     tooltip=board.verdicts[metric].reason))
    table = board_table_html(board, board.metrics, headers, table_id="leaderboard")
    return (f"<details id=\"full\"><summary>Every metric ({len(board.metrics)}), with the same "
            f'markers</summary><div class="scroll">{table}</div></details>')


def rank_sentence(board: Board) -> str:
    """How the rank is made, which headline metrics it uses, who is not ranked and why."""
    cat = board.catalog
    used = ", ".join(cat.metric_label(m) for m in board.rank.metrics) or "none"
    left = [
        f"{cat.metric_label(m)} ({board.verdicts[m].reason or 'no paired test stored'})"
        for _, m in board.headline_columns() if m not in board.rank.metrics
    ]
    parts = [
        "Rank: the mean over the headline metric of each concept that resolves and separates the "
        f"methods in this run ({used}) of each method's rank on it (1 = best; methods the paired "
        "test does not separate from the best share rank 1). Every ranked method is ranked on "
        "the same metrics: a method lacking one of them is not ranked, and chance baselines and "
        "controls are never ranked."
    ]
    if left:
        parts.append(f" Left out of the rank: {'; '.join(left)}.")
    unranked = [f"{cat.method_label(m)} ({why})" for m, why in board.rank.unranked.items()]
    if unranked:
        parts.append(f" Not ranked: {'; '.join(unranked)}.")
    return f'<p class="rank-note">{escape("".join(parts))}</p>'


def marker_legend() -> str:
    """What the star, the grey columns and the signs mean."""
    return (
        '<p class="muted">Values: the stored median over images (per-image metrics) or the single '
        "score (retraining metrics); [low – high] under it: the stored interval. ★: the best real "
        "method, shared by every method the paired test does not separate from it; never given to "
        "a chance baseline or a control, nor on a metric the run could not resolve (greyed, with "
        "the reason) or that does not separate the methods. (mean …): the stored mean, shown where "
        "medians tie at 0. ⚠: a warning on that score (hover for it). Click a header to sort.</p>"
    )
