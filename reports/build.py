"""Write a run's report: ``report.html`` (self-contained), ``scores.csv``, ``leaderboard.csv``
and, on request, each figure as PNG."""

from __future__ import annotations

from html import escape
from pathlib import Path

from .board import Board
from .controls import controls_section
from .page import document
from .sections import (
    curves_section,
    facts_section,
    gallery_section,
    paper_section,
    significance_section,
    summary_section,
)
from .store import RunTables, load_run
from .tables import tidy_scores

__all__ = ["build_report", "render_report"]


def render_report(tables: RunTables, *, figure_dir: Path | None = None,
                  board: Board | None = None) -> str:
    """The report page of one run (HTML text); writes each figure's PNG to ``figure_dir`` if
    given. Every figure is drawn once. ``board``: the run's :class:`Board`, when already built."""
    run = tables.run
    board = board or Board.of(tables)
    sections = [
        ("summary", "1. Leaderboard", summary_section(tables, board)),
        ("significance", "2. Significance against the best method",
         significance_section(board)),
        ("paper", "3. The paper's experiments, from this run",
         paper_section(tables, board, figure_dir)),
        ("controls", "4. Validity controls", controls_section(tables, board)),
        ("curves", "5. Other experiments", curves_section(tables, board, figure_dir)),
        ("gallery", "6. Attribution gallery", gallery_section(tables, board)),
        ("facts", "7. Run facts", facts_section(tables, board)),
    ]
    title = f"rectbench report: {run.preset} · {run.dataset} · {run.model}"
    body = f"<h1>{escape(title)}</h1>" + "".join(
        f'<section id="{key}"><h2>{escape(name)}</h2>{html}</section>'
        for key, name, html in sections
    )
    return document(title, body)


def build_report(run_dir: Path, *, run_id: str | None = None, figures: bool = False) -> Path:
    """Write ``report.html``, ``scores.csv`` and ``leaderboard.csv`` of a run folder.

    Reads ``run_dir/results.sqlite`` only and computes nothing beyond formatting and ranking.

    Args:
        run_dir: The run folder.
        run_id: Which stored run to report (default: the most recently started one).
        figures: Also write each figure as ``run_dir/figures/<name>.png``.

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: ``run_dir`` or its store is missing.
        ValueError: the store is not a rectbench store or holds no run.
    """
    run_dir = Path(run_dir)
    tables = load_run(run_dir, run_id)
    figure_dir = None
    if figures:
        figure_dir = run_dir / "figures"
        figure_dir.mkdir(exist_ok=True)
    board = Board.of(tables)
    html = render_report(tables, figure_dir=figure_dir, board=board)
    tidy_scores(tables.scores, board.catalog).to_csv(run_dir / "scores.csv", index=False)
    board.frame().to_csv(run_dir / "leaderboard.csv", index=False)
    out = run_dir / "report.html"
    out.write_text(html, encoding="utf-8")
    return out
