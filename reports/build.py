"""Write a run's report (HTML + CSVs + optional PNGs) and the leaderboard across runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from . import figures
from .facts import env_facts, run_facts, stage_table
from .names import Catalog
from .page import data_uri_img, document
from .paper import PAPER_PRESET, follows_paper
from .render import (
    combined_leaderboard_html,
    confidence_html,
    facts_html,
    format_number,
    leaderboard_html,
    note_html,
    table1_html,
)
from .store import RunTables, list_run_ids, load_run
from .tables import combined_leaderboard, leaderboard_table, metric_directions, table1, tidy_scores

__all__ = ["build_leaderboard", "build_report", "render_report"]


@dataclass(frozen=True)
class _Plot:
    """A figure of the report: its file stem, caption, and how to draw it from the run's tables."""

    stem: str
    caption: str
    draw: Callable[[RunTables], Figure]
    available: Callable[[RunTables], bool]
    missing: str


def _has_image_metric(metric: str) -> Callable[[RunTables], bool]:
    return lambda t: bool((t.image_scores["metric"] == metric).any())


_PAPER_PLOTS: tuple[_Plot, ...] = (
    _Plot(
        "patch_attribution",
        "Figure 7: attribution inside the top-left 8x8 patch, per test image (box plot).",
        lambda t: figures.patch_attribution_figure(t.image_scores, Catalog.of(t)),
        _has_image_metric("patch_attribution"),
        "No per-image patch_attribution values stored (the run had no patch data set).",
    ),
    _Plot(
        "background_mass",
        "Figure 8 top: attribution outside the object mask (median per method, with interval).",
        lambda t: figures.background_mass_figure(t.scores, Catalog.of(t)),
        lambda t: bool((t.scores["metric"] == "background_mass").any()),
        "No background_mass score stored (the run had no object masks).",
    ),
    _Plot(
        "total_variation",
        "Figure 8 bottom: total variation of each map, per image (box plot).",
        lambda t: figures.total_variation_figure(t.image_scores, Catalog.of(t)),
        _has_image_metric("total_variation"),
        "No per-image total_variation values stored.",
    ),
    _Plot(
        "roar_kar",
        "Figure 18: accuracy of retrained models vs fraction of pixels removed (ROAR) or kept "
        "(KAR); mean over seeds, error bars one standard deviation; Random dashed.",
        lambda t: figures.roar_kar_figure(t.roar_cells, Catalog.of(t)),
        lambda t: not t.roar_cells.dropna(subset=["accuracy"]).empty,
        "No ROAR/KAR cells stored (the run did not retrain).",
    ),
)

_GALLERY = _Plot(
    "gallery",
    "Test images (object masks outlined) and every method's channel-summed map, clipped at the "
    "0.5th/99.5th percentiles; red positive, blue negative.",
    lambda t: figures.gallery_figure(t.gallery, Catalog.of(t)),
    lambda t: not t.gallery.empty,
    "No gallery stored for this run.",
)

_CONFIDENCE = _Plot(
    "confidence",
    "Each metric's headline value per method with its stored interval; overlapping intervals "
    "cannot be told apart.",
    lambda t: figures.confidence_figure(t.scores, Catalog.of(t)),
    lambda t: not t.scores.empty,
    "No scores stored.",
)


def _plot_html(plot: _Plot, tables: RunTables, figure_dir: Path | None) -> str:
    if not plot.available(tables):
        return note_html(f"Omitted: {plot.missing}")
    png = figures.figure_png(plot.draw(tables))
    if figure_dir is not None:
        (figure_dir / f"{plot.stem}.png").write_bytes(png)
    return f"<figure>{data_uri_img(png, plot.caption)}<figcaption>{escape(plot.caption)}</figcaption></figure>"


def _facts_section(tables: RunTables) -> str:
    run = tables.run
    parts = [facts_html(run_facts(run), table_id="facts")]
    stages = stage_table(tables.stages)
    if stages.empty:
        parts.append(note_html("No per-stage times stored."))
    else:
        parts.append("<h3>Wall time per stage</h3>")
        parts.append(
            facts_html(
                [(str(s), f"{format_number(sec)} s") for s, sec in stages.itertuples(index=False)],
                table_id="stages",
            )
        )
    env = env_facts(run.env_json)
    if env:
        parts.append("<h3>Environment</h3>")
        parts.append(facts_html(env.items(), table_id="environment"))
    else:
        parts.append(note_html("No environment facts stored."))
    if run.config_toml.strip():
        parts.append(
            "<details><summary>Resolved configuration (TOML)</summary>"
            f"<pre>{escape(run.config_toml)}</pre></details>"
        )
    return "".join(parts)


def _table1_section(tables: RunTables) -> str:
    scores = tables.scores
    if not scores["metric"].isin(["roar_auc", "kar_aoc"]).any():
        return note_html("Table 1 omitted: no roar_auc / kar_aoc score stored.")
    run = tables.run
    if follows_paper(run):
        note = (
            f"This run's preset '{run.preset}' follows the paper's protocol: its scores are "
            "comparable with the published ones."
        )
    else:
        note = (
            f"This run's preset '{run.preset}' differs from the paper's protocol (preset "
            f"'{PAPER_PRESET}'): fewer data, epochs, fractions or seeds; the published numbers are "
            "shown for orientation, not as a target."
        )
    return note_html(note) + table1_html(table1(scores, Catalog.of(tables)))


def render_report(tables: RunTables, *, figure_dir: Path | None = None) -> str:
    """The report page of one run (HTML text); writes each plot's PNG to ``figure_dir`` if given."""
    run = tables.run
    catalog = Catalog.of(tables)
    sections: list[tuple[str, str]] = [("1. Run facts", _facts_section(tables))]
    if tables.scores.empty:
        sections.append(("2. Leaderboard", note_html("Omitted: the run stored no scores.")))
    else:
        sections.append(("2. Leaderboard", leaderboard_html(tables.scores, catalog)))
    paper = "".join(_plot_html(p, tables, figure_dir) for p in _PAPER_PLOTS)
    paper += "<h3>Table 1: ROAR AUC and KAR AOC beside the paper</h3>" + _table1_section(tables)
    sections.append(("3. The paper's figures, from this run", paper))
    sections.append(("4. Attribution gallery", _plot_html(_GALLERY, tables, figure_dir)))
    if tables.scores.empty:
        confidence = note_html("Omitted: the run stored no scores.")
    else:
        confidence = _plot_html(_CONFIDENCE, tables, figure_dir) + confidence_html(
            tables.scores, catalog
        )
    sections.append(("5. Confidence", confidence))
    title = f"rectbench report: {run.preset} · {run.dataset} · {run.model}"
    body = f"<h1>{escape(title)}</h1>" + "".join(
        f"<section><h2>{escape(name)}</h2>{html}</section>" for name, html in sections
    )
    return document(title, body)


def build_report(run_dir: Path, *, run_id: str | None = None, figures: bool = False) -> Path:
    """Write ``report.html``, ``scores.csv`` and ``leaderboard.csv`` of a run folder.

    Reads ``run_dir/results.sqlite`` only (its most recently started run) and computes nothing
    beyond formatting and ranking.

    Args:
        run_dir: The run folder.
        run_id: Which stored run to report (default: the most recently started one).
        figures: Also write each plot as ``run_dir/figures/<name>.png``.

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: ``run_dir`` or its store is missing.
        ValueError: the store is not a rectbench store or holds no run.
    """
    run_dir = Path(run_dir)
    tables = load_run(run_dir, run_id)
    catalog = Catalog.of(tables)
    figure_dir = None
    if figures:
        figure_dir = run_dir / "figures"
        figure_dir.mkdir(exist_ok=True)
    html = render_report(tables, figure_dir=figure_dir)
    tidy_scores(tables.scores, catalog).to_csv(run_dir / "scores.csv", index=False)
    if tables.scores.empty:
        board = pd.DataFrame(columns=["method", "rank"])
    else:
        board = leaderboard_table(tables.scores, catalog)
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    out = run_dir / "report.html"
    out.write_text(html, encoding="utf-8")
    return out


def build_leaderboard(run_dirs: Sequence[Path], out: Path) -> tuple[Path, Path]:
    """Combine runs into ``out/leaderboard.csv`` and ``out/leaderboard.html``.

    One row per run x method (every run stored in each folder), with the run's preset, data set
    and model; the HTML is sortable and filterable by preset and data set.

    Returns:
        ``(csv_path, html_path)``.

    Raises:
        ValueError: ``run_dirs`` is empty, or a folder's store is not a rectbench store.
        FileNotFoundError: a folder or its store is missing.
    """
    if not run_dirs:
        raise ValueError("run_dirs: expected at least one run folder")
    runs = [load_run(Path(d), run_id) for d in run_dirs for run_id in list_run_ids(Path(d))]
    board = combined_leaderboard(runs)
    catalog = Catalog.of(runs)
    directions: dict[str, bool] = {}
    for tables in runs:
        if not tables.scores.empty:
            directions.update(metric_directions(tables.scores, catalog))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "leaderboard.csv"
    board.to_csv(csv_path, index=False)
    body = (
        "<h1>rectbench leaderboard across runs</h1>"
        f"<p>{len(runs)} run(s) from {len(run_dirs)} folder(s).</p>"
        + combined_leaderboard_html(board, directions, catalog)
    )
    html_path = out / "leaderboard.html"
    html_path.write_text(document("rectbench leaderboard", body), encoding="utf-8")
    return csv_path, html_path
