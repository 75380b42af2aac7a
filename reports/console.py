"""The end-of-run table for the console: headline columns only, at most 100 characters wide."""

from __future__ import annotations

import textwrap

from .board import Board
from .names import concept_label, direction_arrow
from .render import format_number
from .store import RunTables

__all__ = ["CONSOLE_WIDTH", "console_leaderboard"]

CONSOLE_WIDTH = 100
_NAME, _RANK, _CELL = 18, 6, 12


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(board: Board, method: str, metric: str) -> str:
    row = board.row(method, metric)
    if row is None:
        return "–"
    mark = " *" if board.is_best(method, metric) else ""
    flag = " !" if (method, metric) in board.flags else ""
    return format_number(row["value"]) + mark + flag


def console_leaderboard(tables: RunTables, width: int = CONSOLE_WIDTH) -> str:
    """The run's headline table as plain text: method, rank, one column per concept; then what
    the columns are, which are not resolved, and who is not ranked. No line exceeds ``width``."""
    if tables.scores.empty:
        return "no scores stored"
    board = Board.of(tables)
    columns = board.headline_columns()[: max(1, (width - _NAME - _RANK) // _CELL)]
    cat = board.catalog
    head = f"{'method':<{_NAME}}{'rank':>{_RANK}}" + "".join(
        f"{_fit(concept_label(c) + ' ' + direction_arrow(cat.higher_is_better(m)), _CELL - 1):>{_CELL}}"
        for c, m in columns
    )
    lines = [head, "-" * len(head)]
    for method in board.methods:
        rank = board.rank_of(method)
        line = f"{_fit(cat.method_label(method), _NAME - 1):<{_NAME}}"
        line += f"{format_number(rank) if rank is not None else '–':>{_RANK}}"
        line += "".join(f"{_fit(_cell(board, method, m), _CELL - 1):>{_CELL}}" for _, m in columns)
        lines.append(line)
    notes = ["Columns: " + "; ".join(f"{concept_label(c)} = {cat.metric_label(m)}"
                                     for c, m in columns) + "."]
    notes += [f"{cat.metric_label(m)}: {board.verdicts[m].reason}." for _, m in columns
              if not board.verdicts[m].usable and board.verdicts[m].reason]
    notes.append("* best (not separable from the best by the paired test); ! a warning in "
                 "report.html; rank over the headline metrics, baselines and controls unranked.")
    for note in notes:
        lines += textwrap.wrap(note, width)
    return "\n".join(lines)
