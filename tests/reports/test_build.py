"""build_report / build_leaderboard: the files a reader gets, parsed as a reader's tools would."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from reports import build_leaderboard, build_report

FIGURES = ["curve_feature_occlusion", "curve_noise_accumulation",
           "curve_sweep_rectgrad_percentile", "per_image", "roar_kar"]
IDS = ("saliency", "grad_x_input", "rectgrad", "edge_sobel", "patch_attribution",
       "background_mass", "total_variation", "kar_aoc", "quantus.Sparseness")


class Page(HTMLParser):
    """Tables by id (header texts; rows with their attributes and (text, class, title) cells),
    visible text (outside tooltips, scripts and styles), notes, warnings and links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, list[dict]] = {}
        self.h2: list[str] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.links: list[str] = []
        self.visible: list[str] = []
        self._table: str | None = None
        self._section = "body"
        self._cell: dict | None = None
        self._block: tuple[str, str] | None = None  # (tag, kind) collecting a note or h2
        self._skip = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.links += [a[k] for k in ("href", "src") if a.get(k)]
        if tag in ("script", "style", "title"):
            self._skip += 1
        elif tag == "table":
            self._table = a.get("id") or "?"
            self.headers.setdefault(self._table, [])
            self.rows.setdefault(self._table, [])
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._table and self._section == "tbody":
            self.rows[self._table].append({"attrs": a, "cells": []})
        elif tag in ("th", "td") and self._table:
            self._cell = {"text": "", "class": a.get("class", ""), "title": a.get("title", "")}
        elif tag == "h2" or (tag == "p" and a.get("class") == "note"):
            self._block = (tag, "")
        elif tag == "div" and a.get("class") == "warning":
            self.warnings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._skip -= 1
        elif tag == "table":
            self._table = None
        elif tag in ("th", "td") and self._cell is not None and self._table:
            cell, self._cell = self._cell, None
            cell["text"] = " ".join(cell["text"].split())
            if self._section == "thead":
                self.headers[self._table].append(cell["text"])
            elif self.rows[self._table]:
                self.rows[self._table][-1]["cells"].append(cell)
        elif self._block and tag == self._block[0]:
            text = " ".join(self._block[1].split())
            (self.h2 if tag == "h2" else self.notes).append(text)
            self._block = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.visible.append(data)
        if self._cell is not None:
            self._cell["text"] += data
        if self._block:
            self._block = (self._block[0], self._block[1] + data)
        if self.warnings and data.strip():
            self.warnings[-1] += data

    def cells(self, table: str) -> dict[str, list[dict]]:
        return {r["attrs"]["data-method"]: r["cells"] for r in self.rows[table]}


@pytest.fixture(scope="module")
def page(built_run: Path) -> Page:
    return Page((built_run / "report.html").read_text(encoding="utf-8"))


def test_report_files_sections_and_figures(built_run: Path, page: Page) -> None:
    assert sorted(p.name for p in built_run.iterdir() if "sqlite-" not in p.name) == [
        "figures", "leaderboard.csv", "report.html", "results.sqlite", "scores.csv"]
    assert page.h2 == ["1. Leaderboard", "2. Significance against the best method",
                       "3. The paper's experiments, from this run", "4. Validity controls",
                       "5. Other experiments", "6. Attribution gallery", "7. Run facts"]
    assert sorted(p.stem for p in (built_run / "figures").iterdir()) == FIGURES


def test_headline_table_markers_follow_the_rule(page: Page) -> None:
    assert page.headers["headline"] == [
        "Method", "Rank ↓", "Patch attribution ↓Patch", "Background mass ↓Background",
        "Total variation ↓Noise",
        "ROAR AUC ↓ROAR · not resolved at this scale (seed SD 0.015)", "KAR AOC ↓KAR"]
    rows = page.cells("headline")
    assert list(rows) == ["rectgrad", "grad_x_input", "saliency", "random", "edge_sobel"]
    starred = {(m, i) for m, cells in rows.items() for i, c in enumerate(cells) if "★" in c["text"]}
    assert starred == {("rectgrad", 2), ("rectgrad", 3), ("rectgrad", 4), ("rectgrad", 6)}
    # the control scores best on total variation (1 < 3) and gets no star; nor does its row
    assert rows["edge_sobel"][4]["text"] == "1 [0.9 – 1.1]"
    # medians tie at 0: the stored means beside them
    assert rows["rectgrad"][2]["text"] == "0 ★ (mean 0.8) [0 – 0.05]"
    assert rows["edge_sobel"][2]["text"] == "0 (mean 0.3) [0 – 0.05]"
    # the unresolved column is greyed, never starred; the leakage flag sits on its score
    assert all("unresolved" in cells[5]["class"] for cells in rows.values())
    assert rows["saliency"][5]["text"].startswith("0.55 ⚠")
    assert [rows[m][1]["text"] for m in rows] == ["1", "2.25", "2.75", "–", "–"]


def test_rank_sentence_and_full_table(page: Page, built_run: Path) -> None:
    text = (built_run / "report.html").read_text(encoding="utf-8")
    assert "Left out of the rank: ROAR AUC (not resolved at this scale (seed SD 0.015))" in text
    assert "Random (a chance baseline, never ranked)" in text
    assert '<details id="full"><summary>' in text and '<div class="scroll"><table id="leaderboard"' in text
    rows = page.cells("leaderboard")
    header = page.headers["leaderboard"]
    fraction = header.index("Background fraction ↓Background")
    assert [m for m, cells in rows.items() if "★" in cells[fraction]["text"]] == [
        "rectgrad", "grad_x_input"]  # a tie shares the star
    sparseness = header.index("Sparseness (Quantus) ↑does not separate the methods")
    assert all("★" not in cells[sparseness]["text"] and "nosep" in cells[sparseness]["class"]
               for cells in rows.values())


def test_significance_matrix_names_the_tests(page: Page) -> None:
    header = page.headers["significance"]
    assert header[1] == "Patch attribution ↓Wilcoxon signed-rank over images"
    assert header[6] == "KAR AOC ↓paired t over seeds"
    rows = page.cells("significance")
    assert [c["text"] for c in rows["edge_sobel"][1:3]] == ["better p = 0.002", "worse p = 0.002"]
    assert rows["rectgrad"][1]["text"] == "best"
    assert rows["grad_x_input"][3]["text"] == "not separable p = 0.4"
    assert "difference to RectGrad" in rows["saliency"][1]["title"]


def test_one_source_of_names(page: Page, built_run: Path) -> None:
    """Labels from the stored catalog everywhere a reader looks; ids only in tooltips."""
    visible = " ".join(page.visible)
    for name in IDS:
        assert name not in visible, name
    rows = page.cells("headline")
    assert rows["grad_x_input"][0]["text"] == "Gradient * Input"
    assert rows["edge_sobel"][0]["text"] == "Edge (Sobel) control"
    text = (built_run / "report.html").read_text(encoding="utf-8")
    assert '<span class="label" title="grad_x_input">Gradient * Input</span>' in text
    assert 'data-col="quantus.Sparseness" data-better="higher" title="quantus.Sparseness:' in text


def test_roar_kar_warning_and_leakage_beside_the_figure(page: Page) -> None:
    assert any("KAR accuracy falls as more is kept for Gradient * Input (0.335 at 10% → 0.215 "
               "at 90%)" in w for w in page.warnings)
    rows = {r["cells"][0]["text"]: [c["text"] for c in r["cells"][1:]] for r in page.rows["leakage"]}
    assert page.headers["leakage"] == ["Method", "ROAR 10%", "ROAR 50%", "ROAR 90%", "KAR 10%",
                                       "KAR 50%", "KAR 90%"]
    assert rows["Saliency Map"][2] == "⚠ 0.505 / 0.3985"
    assert sum("⚠" in v for r in rows.values() for v in r) == 1
    differences = {r["cells"][1]["text"]: r["cells"][2]["text"] for r in page.rows["differences"]}
    assert page.headers["differences"] == ["Metric", "Method",
                                           "Difference, 95 % interval over test images"]
    assert differences["Saliency Map"] == "-0.02 [-0.03, -0.01] p=0.01"
    assert "Random" not in differences  # never against itself


def test_run_facts_stages_models_memory_and_zero_maps(page: Page) -> None:
    facts = {r["cells"][0]["text"]: r["cells"][1]["text"] for r in page.rows["facts"]}
    assert facts["Peak memory (resident)"] == "1.80 GiB (1,844 MiB)"
    assert facts["Clean model: test accuracy"] == "71.4 %"
    assert facts["Patch model: test accuracy"] == "70.2 %"
    assert facts["Protocol"] == "p-3f2a9c"
    stages = [[c["text"] for c in r["cells"]] for r in page.rows["stages"]]
    assert [s[0] for s in stages] == ["data", "models", "images", "maps", "scores", "gallery",
                                      "retraining", "summary", "report", "total"]
    assert stages[1] == ["models", "9.0 min (540 s)", "10.0 min (600 s)", "1.11x"]
    assert stages[2][1:] == ["", "3.0 s", ""]  # no estimate stored for images
    assert stages[-1] == ["total", "21.7 min (1300 s)", "20.7 min (1242 s)", "0.96x"]
    assert any("RectGrad: all-zero maps (2 of 11 on patch)" in w for w in page.warnings)
    zero = {r["cells"][0]["text"]: r["cells"][3]["text"] for r in page.rows["map_checks"]}
    assert zero["RectGrad"] == "2 / 11" and zero["Saliency Map"] == "0 / 11"


def test_report_is_self_contained(built_run: Path, page: Page) -> None:
    text = (built_run / "report.html").read_text(encoding="utf-8")
    assert all(link.startswith("data:") for link in page.links)
    assert "http://" not in text and "https://" not in text
    assert "<script src" not in text and '<link rel="stylesheet"' not in text


def test_report_csvs(built_run: Path) -> None:
    board = pd.read_csv(built_run / "leaderboard.csv")
    assert list(board["method"]) == ["rectgrad", "grad_x_input", "saliency", "random",
                                     "edge_sobel"]
    assert board["rank"].tolist()[:3] == [1.0, 2.25, 2.75] and board["rank"][3:].isna().all()
    scores = pd.read_csv(built_run / "scores.csv")
    assert list(scores.columns) == ["run_id", "method", "metric", "direction", "higher_is_better",
                                    "statistic", "value", "low", "high", "interval", "n"]


def test_a_run_without_optional_tables_omits_them_with_notes(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    run_dir = store_writer(tmp_path / "r", with_image_scores=False, optional=False)
    page = Page(build_report(run_dir, figures=True).read_text(encoding="utf-8"))
    joined = " | ".join(page.notes)
    for expected in ("No paired comparisons stored: no method is marked best",
                     "the run stored no paired comparisons", "no per-image values",
                     "no ROAR/KAR cells stored", "the run stored no curves",
                     "no gallery stored", "No per-stage times stored",
                     "the run stored no map checks"):
        assert expected in joined, expected
    assert not any("★" in c["text"] for r in page.rows["headline"] for c in r["cells"])
    assert list((run_dir / "figures").iterdir()) == []


def test_paper_preset_compares_without_the_warning(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    run_dir = store_writer(tmp_path / "r", preset="paper", with_image_scores=False)
    page = Page(build_report(run_dir).read_text(encoding="utf-8"))
    assert any("follows the paper's protocol" in n for n in page.notes)
    rows = [[c["text"] for c in r["cells"]] for r in page.rows["table1"]]
    assert rows[1] == ["RectGrad", "0.53", "0.5385", "0.34", "0.3382"]
    assert rows[3] == ["Guided BP", "", "0.5504", "", "0.427"]


def test_build_report_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no result store"):
        build_report(tmp_path)
    (tmp_path / "results.sqlite").write_bytes(b"PK\x03\x04 a zip, not a database")
    with pytest.raises(ValueError, match="not a rectbench result store"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_leaderboard_groups_runs_and_links_their_reports(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    runs = tmp_path / "runs"
    quick = store_writer(runs / "quick", run_id="q1")
    again = store_writer(runs / "again", run_id="q2", preset="quick2")  # same protocol
    other = store_writer(runs / "synthetic", run_id="s1", dataset="synthetic",
                         methods=("rectgrad", "saliency", "random"))
    build_report(quick)
    csv_path, html_path = build_leaderboard([quick, again, other], tmp_path / "out")
    text = html_path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.h2 == ["cifar10 · paper_cnn · protocol p-3f2a9c",
                       "synthetic · paper_cnn · protocol p-3f2a9c"]
    assert [len(page.rows[f"group-{i}"]) for i in (1, 2)] == [5 + 5, 3]
    groups = page.rows["group-1"] + page.rows["group-2"]
    first = groups[0]["cells"]
    assert first[0]["text"] == "RectGrad" and "★" in first[3]["text"]
    assert '<a href="../runs/quick/report.html" title="run q1">quick</a>' in text
    assert '<span title="run q2: no report.html yet">quick2</span>' in text
    assert not any("★" in c["text"] for r in groups if r["attrs"]["data-role"] != "method"
                   for c in r["cells"])
    board = pd.read_csv(csv_path)
    assert list(board.columns[:7]) == ["dataset", "model", "protocol", "run_id", "preset",
                                       "method", "rank"]
    assert sorted(set(board["run_id"])) == ["q1", "q2", "s1"]


def test_build_leaderboard_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_dirs: expected at least one"):
        build_leaderboard([], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        build_leaderboard([tmp_path / "missing"], tmp_path / "out")


def test_stored_notes_are_shown(run_dir: Path) -> None:
    """The ``notes`` table's warnings join the checks and its other sentences become notes."""
    import sqlite3

    con = sqlite3.connect(run_dir / "results.sqlite")
    with con:
        con.executemany("INSERT INTO notes VALUES ('quick-0001', ?, ?, ?)", [
            ("deviation", 90, "3 retraining epochs instead of the paper's 20."),
            ("warning", 91, "Quantus ROAD ran on 32 images only.")])
    con.close()
    page = Page(build_report(run_dir).read_text(encoding="utf-8"))
    assert "3 retraining epochs instead of the paper's 20." in page.notes
    assert any("Quantus ROAD ran on 32 images only." in w for w in page.warnings)
