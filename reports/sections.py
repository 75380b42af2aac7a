"""The report's sections, each from the stored tables of one run; a table without rows for the
run becomes a note saying what is omitted and why."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from . import figures
from .board import Board
from .board_html import full_table_html, headline_table_html, marker_legend, rank_sentence
from .checks import curve_warnings, leakage_table, zero_map_warnings
from .controls import blur_warnings
from .experiments import experiment
from .facts import env_facts, model_rows, run_facts, stage_rows
from .gallery import decode_gallery
from .gallery_html import gallery_html
from .page import data_uri_img
from .paper import PAPER_PRESET, follows_paper
from .render import facts_html, format_number, note_html, plain_table, warning_html
from .significance import significance_html
from .store import RunTables
from .tables import table1

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "curves_section",
    "facts_section",
    "figure_html",
    "gallery_section",
    "paper_section",
    "significance_section",
    "summary_section",
]


def figure_html(stem: str, draw: Callable[[], Figure], reading: str, figure_dir: Path | None,
                *, warnings: list[str] | None = None) -> str:
    """A figure drawn once, embedded as PNG (and written to ``figure_dir``), the sentence on how
    to read it under it and any warning beside it."""
    png = figures.figure_png(draw())
    if figure_dir is not None:
        (figure_dir / f"{stem}.png").write_bytes(png)
    return (f'<figure id="fig-{escape(stem)}">{data_uri_img(png, reading)}'
            f"<figcaption>{escape(reading)}</figcaption></figure>"
            + warning_html(warnings or [], title="Suspicious, from the stored cells"))


def summary_section(tables: RunTables, board: Board) -> str:
    """Warnings of the run, the headline table, how the rank is made, and the full table."""
    if tables.scores.empty:
        return note_html("Omitted: the run stored no scores.")
    checks = zero_map_warnings(tables.map_checks, board.catalog)
    checks += list(curve_warnings(tables.roar_cells, board.catalog).values())
    checks += [f"{board.catalog.method_label(m)}, {board.catalog.metric_label(k)}: {text}"
               for (m, k), text in board.flags.items()]
    notes = _stored_notes(tables)
    checks += notes.get("warning", [])
    parts = [warning_html(checks, title="Checks that failed in this run")]
    parts += [note_html(text) for kind, texts in notes.items()
              if kind != "warning" and not kind.startswith(CURVE_NOTE) for text in texts]
    if tables.comparisons.empty:
        parts.append(note_html("No paired comparisons stored: no method is marked best."))
    parts += [headline_table_html(board), rank_sentence(board), marker_legend(),
              full_table_html(board)]
    return "".join(parts)


#: Notes of kind ``curve:<experiment>`` are shown under that experiment's figure.
CURVE_NOTE = "curve:"


def _stored_notes(tables: RunTables) -> dict[str, list[str]]:
    """``{kind: [text, ...]}`` of a ``notes`` table (sentences the producer wants shown: kind
    ``warning`` or ``deviation``), where the store's schema has one."""
    notes = tables.extra.get("notes")
    if notes is None or notes.empty or not {"kind", "text"} <= set(notes.columns):
        return {}
    grouped: dict[str, list[str]] = {}
    for kind, text in zip(notes["kind"], notes["text"], strict=True):
        grouped.setdefault(str(kind), []).append(str(text))
    return grouped


def significance_section(board: Board) -> str:
    html = significance_html(board)
    return html or note_html("Omitted: the run stored no paired comparisons (table comparisons).")


_BOXES = ("Per-image scores of the headline metrics: one box per method (median line, quartile "
          "box, whiskers to 1.5 IQR, dots beyond). Compare medians against the arrow on each axis; "
          "overlapping boxes are not a test (the significance matrix is). Suspicious: a box "
          "collapsed at 0 (all-zero maps; see the run facts) or a chance baseline beating real "
          "methods.")
_ROAR = ("Accuracy of models retrained on images with the top-ranked pixels removed (ROAR, left) "
         "or with only them kept (KAR, right): the mean over retraining seeds, a band from the "
         "lowest to the highest seed, Random dashed. A good map makes ROAR fall faster and KAR "
         "rise faster than Random. Suspicious: ROAR accuracy rising as more is removed, or KAR "
         "accuracy falling as more is kept (flagged below when the stored cells show it).")


def _leakage_html(tables: RunTables, board: Board) -> str:
    table = leakage_table(tables.leakage, tables.roar_cells)
    if table.empty:
        return note_html("Leakage control omitted: the run stored no leakage rows.")
    cells = {(r.method, r.mode, r.fraction): r for r in table.itertuples()}
    columns = sorted({(r.mode, r.fraction) for r in table.itertuples()},
                     key=lambda c: (c[0] != "roar", c[1]))

    def cell(method: str, column: tuple[str, float]) -> str:
        r = cells.get((method, *column))
        if r is None:
            return ""
        text = f"{format_number(r.leakage)} / {format_number(r.retrained)}"
        return f"⚠ {text}" if r.exceeds else text

    rows = [(board.catalog.method_label(m), *(cell(m, c) for c in columns))
            for m in board.catalog.order_methods(table["method"])]
    header = ["Method", *(f"{mode.upper()} {fraction:.0%}" for mode, fraction in columns)]
    return ("<h4>Leakage control: mask-only accuracy / retrained accuracy</h4>"
            + plain_table("leakage", header, rows)
            + '<p class="muted">Each cell: the accuracy of a classifier trained on the removal '
            "masks alone, then the retrained model's (both means over seeds), per mode and "
            "fraction. ⚠: the masks alone predict better, so the ROAR/KAR score may reflect the "
            "mask's shape rather than the pixels removed; that score carries ⚠ in the tables.</p>")


_INTERVAL_HEADERS = {"t_seeds": "over seeds", "bootstrap_pairs": "over test images",
                     "bootstrap_models_images": "over seeds and images"}


def _differences_html(tables: RunTables, board: Board) -> str:
    """ROAR/KAR differences of each method from the chance baseline, one column per interval."""
    frame = tables.extra.get("differences")
    if frame is None or frame.empty:
        return ""
    kinds = [k for k in _INTERVAL_HEADERS if (frame["interval"] == k).any()]
    cells = {(r.metric, r.method, r.interval): r for r in frame.itertuples()}

    def cell(metric: str, method: str, kind: str) -> str:
        r = cells.get((metric, method, kind))
        if r is None:
            return ""
        return (f"{format_number(r.value)} [{format_number(r.low)}, {format_number(r.high)}] "
                f"p={format_number(r.p_value)}")

    cat = board.catalog
    rows = [(cat.metric_label(metric), cat.method_label(method),
             *(cell(metric, method, k) for k in kinds))
            for metric in cat.order_metrics(frame["metric"].unique())
            for method in cat.order_methods(frame.loc[frame["metric"] == metric, "method"])]
    reference = ", ".join(cat.method_label(m) for m in frame["reference"].unique())
    header = ["Metric", "Method", *(f"Difference, 95 % interval {_INTERVAL_HEADERS[k]}"
                                    for k in kinds)]
    return (f"<h4>ROAR/KAR differences from {reference}</h4>"
            + plain_table("differences", header, rows)
            + '<p class="muted">Each cell: the method\'s score minus the chance baseline\'s '
            "(lower is better for both metrics), paired by retraining seed and test image, with "
            "its 95 % interval and p-value over what the column names. An interval containing 0 "
            "does not separate the method from chance.</p>")


def paper_section(tables: RunTables, board: Board, figure_dir: Path | None) -> str:
    """Box plots of the per-image headline metrics, ROAR/KAR with leakage, Table 1."""
    cat = board.catalog
    per_image = [m for _, m in board.headline_columns() if not cat.is_retraining(m)]
    stored = [m for m in per_image if (tables.image_scores["metric"] == m).any()]
    parts = ["<h3>Per-image scores</h3>"]
    if stored:
        parts.append(figure_html("per_image", lambda: figures.image_scores_figure(
            tables.image_scores, stored, cat), _BOXES, figure_dir))
    else:
        parts.append(note_html("Omitted: no per-image values of the headline metrics stored."))
    parts.append("<h3>ROAR and KAR</h3>")
    if tables.roar_cells.dropna(subset=["accuracy"]).empty:
        parts.append(note_html("Omitted: no ROAR/KAR cells stored (the run did not retrain)."))
    else:
        warnings = list(curve_warnings(tables.roar_cells, cat).values())
        figure = figure_html("roar_kar", lambda: figures.roar_kar_figure(tables.roar_cells, cat),
                             _ROAR, figure_dir, warnings=warnings)
        parts.append(figure + _leakage_html(tables, board) + _differences_html(tables, board))
    parts.append("<h3>Table 1: ROAR AUC and KAR AOC beside the paper</h3>" + _table1(tables, board))
    parts.append(warning_html(blur_warnings(tables, board, retraining=True),
                              title="Blurring a map improves its ROAR/KAR score"))
    return "".join(parts)


def _table1(tables: RunTables, board: Board) -> str:
    frame = table1(tables.scores, board.catalog)
    if frame[["roar_auc", "kar_aoc"]].isna().all().all():
        return note_html("Table 1 omitted: no roar_auc / kar_aoc score stored.")
    preset = tables.run.preset
    note = (f"Preset '{preset}' follows the paper's protocol: comparable with the published "
            "numbers." if follows_paper(tables.run) else
            f"Preset '{preset}' differs from the paper's protocol (preset '{PAPER_PRESET}'): "
            "the published numbers are shown for orientation, not as a target.")
    rows = [(r.label, *(format_number(v) for v in (r.roar_auc, r.roar_auc_paper, r.kar_aoc,
                                                   r.kar_aoc_paper))) for r in frame.itertuples()]
    header = ["Method", "ROAR AUC ↓ (this run)", "ROAR AUC ↓ (paper)", "KAR AOC ↓ (this run)",
              "KAR AOC ↓ (paper)"]
    return note_html(note) + plain_table("table1", header, rows)


def curves_section(tables: RunTables, board: Board, figure_dir: Path | None) -> str:
    """One figure per stored experiment of the ``curves`` table."""
    curves = tables.curves.dropna(subset=["value"])
    if curves.empty:
        return note_html("Omitted: the run stored no curves (threshold sweep, feature-map "
                         "occlusion, noise accumulation).")
    parts = []
    notes = _stored_notes(tables)
    for name, rows in curves.groupby("experiment", sort=False):
        info = experiment(str(name))
        parts.append(f"<h3>{escape(info.title)}</h3>")
        parts.append(figure_html(_stem(str(name)), lambda rows=rows, info=info:
                                 figures.curves_figure(rows, info, board.catalog),
                                 info.reading, figure_dir))
        parts += [f'<p class="muted">{escape(text)}</p>'
                  for text in notes.get(f"{CURVE_NOTE}{name}", [])]
    return "".join(parts)


def _stem(experiment_name: str) -> str:
    """A file-name stem of an experiment's figure (``sweep:rectgrad.percentile`` ->
    ``curve_sweep_rectgrad_percentile``)."""
    return "curve_" + "".join(c if c.isalnum() else "_" for c in experiment_name)


def gallery_section(tables: RunTables, board: Board) -> str:
    items = decode_gallery(tables.gallery, board.catalog)
    if not items:
        return note_html("Omitted: no gallery stored for this run.")
    return gallery_html(items, board.catalog) + (
        '<p class="muted">One row per stored image, grouped by class; each method\'s maps share '
        "one symmetric colour scale (its bar under the name: blue negative, white zero, red "
        "positive). Object masks outlined (yellow on the image, black on the maps). Suspicious: "
        "a blank column (all-zero maps) or maps that ignore the object entirely.</p>")


def facts_section(tables: RunTables, board: Board) -> str:
    """What ran, on what, how long each stage took against its estimate, peak memory, the models'
    accuracies, all-zero maps, image sets, environment, configuration."""
    run = tables.run
    parts = [facts_html([*run_facts(run), *model_rows(tables.models)], table_id="facts")]
    parts.append("<h3>Stages, in run order</h3>")
    if tables.stages.empty:
        parts.append(note_html("No per-stage times stored."))
    else:
        parts.append(plain_table("stages", ["Stage", "Estimated", "Actual", "Actual / estimated"],
                                 stage_rows(tables.stages, tables.estimates)))
        if tables.estimates.empty:
            parts.append(note_html("No time estimates stored for this run."))
    parts.append("<h3>All-zero maps</h3>" + _map_checks(tables, board))
    if not tables.image_sets.empty:
        counts = tables.image_sets.groupby("image_set", sort=False).size()
        parts.append("<h3>Image sets</h3>" + plain_table(
            "image_sets", ["Image set", "Images"], [(k, str(v)) for k, v in counts.items()]))
    env = env_facts(run.env_json)
    parts.append("<h3>Environment</h3>" + (facts_html(env.items(), table_id="environment")
                                            if env else note_html("No environment stored.")))
    if run.config_toml.strip():
        parts.append("<details><summary>Resolved configuration (TOML)</summary>"
                     f"<pre>{escape(run.config_toml)}</pre></details>")
    return "".join(parts)


def _map_checks(tables: RunTables, board: Board) -> str:
    checks = tables.map_checks
    if checks.empty:
        return note_html("Omitted: the run stored no map checks.")
    cat = board.catalog
    sets = list(dict.fromkeys(checks["image_set"]))
    counts = {(r.method, r.image_set): (r.n_zero, r.n_images) for r in checks.itertuples()}
    rows = [
        (cat.method_label(m), *(f"{counts[(m, s)][0]} / {counts[(m, s)][1]}"
                                if (m, s) in counts else "" for s in sets))
        for m in cat.order_methods(checks["method"])
    ]
    return warning_html(zero_map_warnings(checks, cat)) + plain_table(
        "map_checks", ["Method", *(f"{s}: zero / all" for s in sets)], rows)
