"""The report's validity checks, from the stored tables: controls against the real methods, the
blurred controls against their methods, and whether each ranking survives one map rule for all.

- A control (role ``"control"``: the Sobel edge map, a blurred map ``X+blur``) carries no more
  information about the model than the methods it stands beside. A stored paired comparison in
  which a control is ``better`` than a metric's best real method says that the metric rewards
  something else (edges, smoothness).
- ``control_pairs``: ``X+blur`` against ``X`` on the same images or seeds. Blurring cannot add
  information about the model, so a metric that prefers the blurred map rewards smoothness; on
  ROAR/KAR this is the pitfall of Song, Cha, Seo (arXiv:2304.13836), warned beside Table 1.
- ``rule_agreement``: Kendall's tau between the real methods' rankings under the paper's map rule
  and under the uniform rule (``<metric>@uniform``), with the best methods of both.

Nothing here computes a statistic: it reads stored verdicts and values, compares and formats them.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from .board import Board
from .render import format_number, method_html, metric_header, note_html, warning_html
from .store import RunTables

__all__ = ["controls_section", "control_warnings", "blur_warnings", "rule_rows"]

_SONG = "Song, Cha, Seo, arXiv 2304.13836"


def _in_catalog_order(rows: pd.DataFrame, board: Board, method_column: str) -> pd.DataFrame:
    """``rows`` sorted by the catalog's metric order, then its method order."""
    if rows.empty:
        return rows
    metrics = {m: i for i, m in enumerate(board.catalog.order_metrics(rows["metric"]))}
    methods = {m: i for i, m in enumerate(board.catalog.order_methods(rows[method_column]))}
    keys = rows["metric"].map(metrics) * len(methods) + rows[method_column].map(methods)
    return rows.iloc[keys.argsort(kind="stable")]


def control_warnings(tables: RunTables, board: Board) -> list[str]:
    """One line per (metric, control) whose stored comparison with the metric's best real
    method is ``better``."""
    cat = board.catalog
    rows = board.comparisons  # against the best real method only (not ROAR/KAR's vs Random)
    if rows.empty:
        return []
    lines = []
    for r in _in_catalog_order(rows, board, "method").itertuples():
        if r.verdict != "better" or cat.role(str(r.method)) != "control":
            continue
        lines.append(
            f"{cat.metric_label(r.metric)}: the control {cat.method_label(r.method)} scores "
            f"better than the best real method, {cat.method_label(r.reference)} (difference "
            f"{format_number(r.value)}, p = {format_number(r.p_value)}): this metric rewards "
            "something a control has without explaining the model (edges, smoothness).")
    return lines


def blur_warnings(tables: RunTables, board: Board, *, retraining: bool) -> list[str]:
    """Lines for the blurred controls that improve on their method: of the retraining metrics
    (``retraining=True``, shown beside ROAR/KAR) or of the per-image ones."""
    cat = board.catalog
    lines = []
    for r in _in_catalog_order(tables.control_pairs, board, "control").itertuples():
        if cat.is_retraining(str(r.metric)) != retraining or pd.isna(r.value):
            continue
        improves = (r.value > 0) == cat.higher_is_better(str(r.metric)) and r.value != 0
        what = (f"Blurring {cat.method_label(r.method)}'s map ({cat.method_label(r.control)}) "
                f"improves its {cat.metric_label(r.metric)} by {format_number(abs(r.value))}")
        if r.verdict == "better":
            lines.append(f"{what} (p = {format_number(r.p_value)}, {r.test}): the metric rewards "
                         f"smoothness, which carries no information about the model ({_SONG}).")
        elif r.verdict == "untested" and improves:
            lines.append(f"{what} in this run, untested (one retraining seed); if it holds, the "
                         f"metric rewards smoothness ({_SONG}).")
    return lines


def _control_table(tables: RunTables, board: Board) -> str:
    """Controls x metrics: the stored verdict against the best real method, and how many real
    methods the control's headline value beats."""
    cat = board.catalog
    controls = [m for m in board.values.index if cat.role(m) == "control"]
    metrics = [m for m in board.metrics if board.values[m].notna().any()]
    if not controls or not metrics:
        return ""
    real = [m for m in board.values.index if cat.can_be_best(m)]
    verdicts = {(str(r.method), str(r.metric)): str(r.verdict)
                for r in board.comparisons.itertuples()} if not board.comparisons.empty else {}
    head = "".join(metric_header(cat, m) for m in metrics)
    body = ""
    for control in controls:
        cells = ""
        for metric in metrics:
            value = board.values.at[control, metric]
            if pd.isna(value):
                cells += '<td class="na">–</td>'
                continue
            others = board.values.loc[real, metric].dropna()
            higher = cat.higher_is_better(metric)
            beaten = int(((others < value) if higher else (others > value)).sum())
            verdict = verdicts.get((control, metric), "")
            css = ' class="v-better"' if verdict == "better" else ""
            text = f"beats {beaten} of {len(others)}" + (f"; {verdict.replace('_', ' ')}"
                                                          if verdict else "")
            cells += f"<td{css}>{escape(text)}</td>"
        body += f'<tr><td class="text">{method_html(cat, control)}</td>{cells}</tr>'
    return (f'<div class="scroll"><table id="controls"><thead><tr><th class="text">Control</th>'
            f"{head}</tr></thead><tbody>{body}</tbody></table></div>"
            '<p class="muted">Each cell: how many real methods the control\'s headline value '
            "beats, then the stored paired verdict against the metric's best real method. A "
            "control that beats real methods is a reason to doubt what the metric measures.</p>")


def _blur_table(tables: RunTables, board: Board) -> str:
    cat = board.catalog
    pairs = tables.control_pairs
    if pairs.empty:
        return ""
    metrics = cat.order_metrics(pairs["metric"])
    controls = cat.order_methods(pairs["control"])
    cells = {(str(r.control), str(r.metric)): r for r in pairs.itertuples()}
    head = "".join(metric_header(cat, m) for m in metrics)
    body = ""
    for control in controls:
        row = ""
        for metric in metrics:
            r = cells.get((control, metric))
            if r is None:
                row += '<td class="na">–</td>'
                continue
            title = (f"{control} - {r.method}: {format_number(r.value)} [{format_number(r.low)}"
                     f" – {format_number(r.high)}] ({r.interval}), p = "
                     f"{format_number(r.p_value)}, n = {format_number(r.n)}")
            css = ' class="v-better"' if r.verdict == "better" else ""
            row += (f'<td{css} title="{escape(title)}">{escape(str(r.verdict).replace("_", " "))}'
                    f'<span class="ci">{escape(format_number(r.value))}</span></td>')
        body += f'<tr><td class="text">{method_html(cat, control)}</td>{row}</tr>'
    return (f'<div class="scroll"><table id="blur_pairs"><thead><tr><th class="text">Blurred '
            f"control vs its method</th>{head}</tr></thead><tbody>{body}</tbody></table></div>"
            '<p class="muted">Each cell: the paired test of the blurred map against the same '
            "method's map (better: blurring improves the score; the number under it is the "
            "difference, blurred minus original; hover for its interval and p, Holm-adjusted "
            "within the metric). Blurring cannot add information about the model: a metric on "
            f"which it helps rewards smoothness ({_SONG}).</p>")


def rule_rows(tables: RunTables, board: Board) -> list[tuple[str, ...]]:
    """Rows of the rule-agreement table: metric, tau, p, methods, best under each rule, and
    whether the best survives."""
    cat = board.catalog
    rows = []
    order = {m: i for i, m in enumerate(cat.order_metrics(tables.rule_agreement["metric"]))}
    agreement = tables.rule_agreement.sort_values("metric", key=lambda c: c.map(order))
    for r in agreement.itertuples():
        uniform = f"{r.metric}@uniform"
        best = [_best(board, m) for m in (str(r.metric), uniform)]
        same = "–"
        if all(best):
            same = ("yes" if set(best[0]) == set(best[1]) else
                    "partly" if set(best[0]) & set(best[1]) else "no")
        rows.append((cat.metric_label(r.metric), format_number(r.kendall_tau),
                     format_number(r.p_value), format_number(r.n),
                     ", ".join(cat.method_label(m) for m in best[0]) or "none separated",
                     ", ".join(cat.method_label(m) for m in best[1]) or "none separated", same))
    return rows


def _best(board: Board, metric: str) -> tuple[str, ...]:
    verdict = board.verdicts.get(metric)
    return verdict.best if verdict is not None else ()


def _rule_table(tables: RunTables, board: Board) -> str:
    if tables.rule_agreement.empty:
        return note_html("The run scored its map metrics under one rule only "
                         "(evaluation.map_rule): no comparison of the two rankings.")
    header = ["Metric", "Kendall τ", "p", "Methods", "Best, paper's rule",
              "Best, uniform rule", "Same best"]
    head = "".join(f'<th class="text">{escape(h)}</th>' if i in (0, 4, 5) else
                   f"<th>{escape(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(
        f'<td class="text">{escape(v)}</td>' if i in (0, 4, 5) else f"<td>{escape(v)}</td>"
        for i, v in enumerate(row)) + "</tr>" for row in rule_rows(tables, board))
    return (f'<table id="rule_agreement"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table>"
            '<p class="muted">Does a ranking survive one post-processing rule for all? The '
            "paper's rule gives the baselines a final threshold at the 95th percentile of each "
            "map and RectGrad none; the uniform rule thresholds every map, RectGrad's included, "
            "at the same percentile (the <code>@uniform</code> metrics). Kendall τ compares the "
            "real methods' medians under both (1: the same order, 0: unrelated); the best "
            "methods are the starred ones of each metric (paired tests). \"no\": the lead "
            "depends on the post-processing.</p>")


def controls_section(tables: RunTables, board: Board) -> str:
    """Warnings about controls, the controls table, the blur table and the rule agreement."""
    parts = [warning_html(control_warnings(tables, board),
                          title="A control beats every real method")]
    controls = _control_table(tables, board)
    parts.append("<h3>Controls against the real methods</h3>" + (controls or note_html(
        "The run has no control method (the Sobel edge map, a method's map blurred): nothing "
        "to check.")))
    parts.append("<h3>Does blurring a map improve its score?</h3>")
    parts.append(_blur_table(tables, board) or note_html(
        "The run has no blurred control beside its method (a method X run with X+blur)."))
    parts.append("<h3>One map rule for all: does each ranking survive?</h3>"
                 + _rule_table(tables, board))
    return "".join(parts)
