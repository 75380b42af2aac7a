"""The leaderboard across runs: one table per (data set, model, protocol), so runs that differ in
any of these are never ranked together; each row links to its run's report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pandas as pd

from .board import Board
from .board_html import marker_legend, value_cell
from .names import Catalog, concept_label
from .page import document
from .render import format_number, method_html, metric_header, sort_key
from .store import RunTables, list_run_ids, load_run

__all__ = ["build_leaderboard", "combined_leaderboard", "group_key"]


def group_key(tables: RunTables) -> tuple[str, str, str]:
    """``(data set, model, protocol)``: runs are ranked together only when all three agree."""
    return (tables.run.dataset, tables.run.model, tables.run.protocol or "unrecorded")


def _groups(runs: Sequence[RunTables]) -> dict[tuple[str, str, str], list[RunTables]]:
    groups: dict[tuple[str, str, str], list[RunTables]] = {}
    for tables in runs:
        if not tables.scores.empty:
            groups.setdefault(group_key(tables), []).append(tables)
    return groups


def _headline(boards: Sequence[Board]) -> list[str]:
    metrics: list[str] = []
    for board in boards:
        metrics += [m for _, m in board.headline_columns() if m not in metrics]
    return metrics


def _rows(runs: Sequence[RunTables], boards: Sequence[Board]) -> list[tuple[int, Board, str]]:
    """(run position, board, method) in rank order within the group (unranked last)."""
    rows = [(i, board, m) for i, board in enumerate(boards) for m in board.methods]
    return sorted(rows, key=lambda r: (r[1].rank_of(r[2]) is None, r[1].rank_of(r[2]) or 0, r[0]))


def combined_leaderboard(runs: Sequence[RunTables]) -> pd.DataFrame:
    """Every run's leaderboard stacked: ``dataset, model, protocol, run_id, preset, method,
    rank`` (within the row's own run) and each group's headline metrics (NaN where absent)."""
    frames = []
    for (dataset, model, protocol), members in _groups(runs).items():
        for tables in members:
            board = Board.of(tables)
            frame = board.frame().loc[:, ["method", "rank", *_headline([board])]]
            for position, (key, value) in enumerate((("dataset", dataset), ("model", model),
                                                     ("protocol", protocol),
                                                     ("run_id", tables.run.run_id),
                                                     ("preset", tables.run.preset))):
                frame.insert(position, key, value)
            frames.append(frame)
    fixed = ["dataset", "model", "protocol", "run_id", "preset", "method", "rank"]
    if not frames:
        return pd.DataFrame(columns=fixed)
    stacked = pd.concat(frames, ignore_index=True)
    metrics = Catalog.of(runs).order_metrics(c for c in stacked.columns if c not in fixed)
    return stacked.loc[:, [*fixed, *metrics]]


def _run_link(tables: RunTables, run_dir: Path, out: Path) -> str:
    report = run_dir / "report.html"
    text = escape(tables.run.preset)
    title = f"run {tables.run.run_id}"
    if not report.is_file():
        return f'<span title="{escape(title)}: no report.html yet">{text}</span>'
    href = Path(os.path.relpath(report.resolve(), out.resolve())).as_posix()
    return f'<a href="{escape(href)}" title="{escape(title)}">{text}</a>'


def _group_html(number: int, key: tuple[str, str, str], members: list[tuple[RunTables, Path]],
                out: Path) -> str:
    boards = [Board.of(t) for t, _ in members]
    catalog = Catalog.of([t for t, _ in members])
    metrics = _headline(boards)
    head = ('<th class="text">Method</th><th class="text">Run</th><th data-better="lower" '
            'title="rank within the row\'s own run">Rank ↓</th>')
    head += "".join(metric_header(catalog, m, sub=concept_label(catalog.concept(m) or "")) for m in metrics)
    body = ""
    for i, board, method in _rows([t for t, _ in members], boards):
        tables, run_dir = members[i]
        rank = board.rank_of(method)
        cells = (f'<td class="text">{method_html(catalog, method)}</td>'
                 f'<td class="text">{_run_link(tables, run_dir, out)}</td>'
                 f'<td data-sort="{sort_key(rank)}">{format_number(rank) or "–"}</td>')
        cells += "".join(value_cell(board, method, m) if m in board.metrics else
                         '<td class="na" data-sort="">–</td>' for m in metrics)
        body += (f'<tr data-preset="{escape(tables.run.preset)}" data-run="{escape(tables.run.run_id)}"'
                 f' data-method="{escape(method)}" data-role="{escape(catalog.role(method))}">'
                 f"{cells}</tr>")
    dataset, model, protocol = key
    return (f"<h2>{escape(dataset)} · {escape(model)} · protocol {escape(protocol)}</h2>"
            f'<div class="scroll"><table id="group-{number}" class="sortable combined"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def build_leaderboard(run_dirs: Sequence[Path], out: Path) -> tuple[Path, Path]:
    """Combine runs into ``out/leaderboard.csv`` and ``out/leaderboard.html``.

    Every run stored in each folder; one table per (data set, model, protocol); each row links
    to its run's ``report.html`` (relative to ``out``) with the run id in a tooltip.

    Raises:
        ValueError: ``run_dirs`` is empty, or a folder's store is not a rectbench store.
        FileNotFoundError: a folder or its store is missing.
    """
    if not run_dirs:
        raise ValueError("run_dirs: expected at least one run folder")
    pairs = [(load_run(Path(d), run_id), Path(d)) for d in run_dirs
             for run_id in list_run_ids(Path(d))]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "leaderboard.csv"
    combined_leaderboard([t for t, _ in pairs]).to_csv(csv_path, index=False)
    groups: dict[tuple[str, str, str], list[tuple[RunTables, Path]]] = {}
    for tables, run_dir in pairs:
        if not tables.scores.empty:
            groups.setdefault(group_key(tables), []).append((tables, run_dir))
    presets = sorted({t.run.preset for t, _ in pairs})
    options = '<option value="">all</option>' + "".join(
        f'<option value="{escape(p)}">{escape(p)}</option>' for p in presets)
    body = (
        "<h1>rectbench leaderboard across runs</h1>"
        f"<p>{len(pairs)} run(s) from {len(run_dirs)} folder(s), in {len(groups)} group(s). Runs "
        "are ranked together only when they share the data set, the model and the protocol (a "
        "hash of the data, model, training and evaluation settings); each group has its own "
        "table. Rank: within the row's own run (headline metrics only; chance baselines and "
        "controls never ranked). Click a run to open its report.</p>"
        f'<p><label>Preset <select class="filter" id="filter-preset" data-key="preset">{options}'
        "</select></label></p>"
        + "".join(_group_html(i, k, v, out) for i, (k, v) in enumerate(groups.items(), 1)) + marker_legend()
    )
    html_path = out / "leaderboard.html"
    html_path.write_text(document("rectbench leaderboard", body), encoding="utf-8")
    return csv_path, html_path
