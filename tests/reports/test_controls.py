"""The validity section and the experiments' figures, from stored rows only."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest

from reports import Board, build_report, load_run
from reports.controls import blur_warnings, control_warnings, rule_rows
from reports.experiments import experiment
from reports.figures import curves_figure


@pytest.fixture(scope="module")
def with_blur(tmp_path_factory: pytest.TempPathFactory, fx) -> Path:
    """The small store with RectGrad's blurred control among the methods."""
    return fx.write_store(tmp_path_factory.mktemp("blur") / "run",
                          methods=(*fx.METHODS, "rectgrad+blur"))


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _section(html: str, key: str) -> str:
    start = html.index(f'<section id="{key}">')
    return html[start:html.index("</section>", start)]


def test_roar_kar_blur_warnings_beside_table_1(with_blur: Path) -> None:
    html = build_report(with_blur).read_text(encoding="utf-8")
    paper = _text(_section(html, "paper"))
    assert ("Blurring a map improves its ROAR/KAR score Blurring RectGrad's map (RectGrad + blur) "
            "improves its ROAR AUC by 0.03 (p = 0.01, paired_t_over_seeds): the metric rewards "
            "smoothness") in paper
    assert ("improves its KAR AOC by 0.02 in this run, untested (one retraining seed)") in paper
    assert "Total variation by" not in paper  # blurring is worse there: no warning
    assert paper.index("Table 1") < paper.index("Blurring RectGrad's map")


def test_controls_section(with_blur: Path) -> None:
    tables = load_run(with_blur)
    board = Board.of(tables)
    lines = control_warnings(tables, board)
    assert lines[0].startswith("Patch attribution: the control Edge (Sobel) scores better than "
                               "the best real method, RectGrad (difference 0, p = 0.002)")
    assert [line.split(":")[0] for line in lines] == [
        "Patch attribution", "Background mass", "Total variation", "Total variation",
        "Sparseness (Quantus)", "Sparseness (Quantus)"]
    assert [r[:4] for r in rule_rows(tables, board)] == [
        ("Patch attribution", "1", "0.0833", "4"), ("Total variation", "0.3333", "0.75", "4")]
    assert len(blur_warnings(tables, board, retraining=False)) == 0  # TV: blurring is worse
    html = build_report(with_blur).read_text(encoding="utf-8")
    section = _text(_section(html, "controls"))
    assert "A control beats every real method" in section
    assert "Blurred control vs its method" in section and "Kendall τ" in section
    assert 'id="blur_pairs"' in html and 'id="rule_agreement"' in html


def test_a_run_without_controls_says_so(store_writer: Callable[..., Path],
                                        tmp_path: Path) -> None:
    run_dir = store_writer(tmp_path / "plain", methods=("saliency", "rectgrad", "random"))
    section = _text(_section(build_report(run_dir).read_text(encoding="utf-8"), "controls"))
    assert "The run has no control method" in section
    assert "no blurred control beside its method" in section


def test_sweep_endpoint_and_layer_names_on_the_x_axis(run_dir: Path) -> None:
    tables = load_run(run_dir)
    board = Board.of(tables)
    sweep = tables.curves[tables.curves["experiment"] == "sweep:rectgrad.percentile"]
    fig = curves_figure(sweep, experiment("sweep:rectgrad.percentile"), board.catalog)
    ax = fig.axes[0]
    ticks = {t.get_text(): t.get_position()[0] for t in ax.get_xticklabels()}
    assert ticks["tau=0"] == pytest.approx(-9.95) and "0" in ticks
    line = ax.get_lines()[0]
    assert min(line.get_xdata()) == 0.0  # the endpoint is not joined to the line
    assert len(ax.containers) == 1  # ... but drawn apart with its interval
    noise = tables.curves[tables.curves["experiment"] == "noise_accumulation"]
    fig = curves_figure(noise, experiment("noise_accumulation"), board.catalog)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["input", "features.1", "features.3", "features.5", "features.7"]


def test_curve_notes_are_shown_under_their_figure_only(run_dir: Path, fx) -> None:
    html = build_report(run_dir).read_text(encoding="utf-8")
    assert fx.OCCLUSION_NOTE in _text(_section(html, "curves"))
    assert fx.OCCLUSION_NOTE not in _text(_section(html, "summary"))
    assert "Claim 2" in html and "per-layer" not in experiment("sweep:other.x").reading
