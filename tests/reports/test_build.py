"""build_report / build_leaderboard: the files a reader gets, parsed as a reader's tools would."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from reports import build_leaderboard, build_report

METRICS = [
    "patch_attribution",
    "background_mass",
    "total_variation",
    "roar_auc",
    "kar_aoc",
    "quantus.Sparseness",
]
FIGURES = [
    "background_mass",
    "confidence",
    "gallery",
    "patch_attribution",
    "roar_kar",
    "total_variation",
]


class Page(HTMLParser):
    """Collects tables by id (header cell texts, body rows of cell texts and classes), every
    src/href value, section titles and notes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.best: dict[str, list[str]] = {}
        self.links: list[str] = []
        self.h2: list[str] = []
        self.notes: list[str] = []
        self.images = 0
        self.scripts = 0
        self._table: str | None = None
        self._in: str | None = None  # "th", "td", "h2", "note"
        self._text = ""
        self._section = "body"
        self._cell_class = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for key in ("src", "href"):
            if attributes.get(key):
                self.links.append(str(attributes[key]))
        if tag == "img":
            self.images += 1
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self._table = attributes.get("id") or "?"
            self.headers.setdefault(self._table, [])
            self.rows.setdefault(self._table, [])
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._table and self._section == "tbody":
            self.rows[self._table].append([])
        elif tag in ("th", "td", "h2"):
            self._in, self._text, self._cell_class = tag, "", attributes.get("class") or ""
        elif tag == "p" and attributes.get("class") == "note":
            self._in, self._text = "note", ""

    def handle_endtag(self, tag: str) -> None:
        text = " ".join(self._text.split())
        if tag == "table":
            self._table = None
        elif tag in ("th", "td") and self._table:
            if self._section == "thead":
                self.headers[self._table].append(text)
            elif self.rows[self._table]:
                self.rows[self._table][-1].append(text)
                if "best" in self._cell_class.split():
                    self.best.setdefault(self._table, []).append(text)
            self._in = None
        elif tag == "h2":
            self.h2.append(text)
            self._in = None
        elif tag == "p" and self._in == "note":
            self.notes.append(text)
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data


def test_report_files_and_leaderboard_table(built_run: Path, facts: SimpleNamespace) -> None:
    # (SQLite's -wal/-shm companions of the store may be there too: the store is in WAL mode.)
    assert sorted(p.name for p in built_run.iterdir() if "sqlite-" not in p.name) == [
        "figures", "leaderboard.csv", "report.html", "results.sqlite", "scores.csv",
    ]  # fmt: skip
    page = Page((built_run / "report.html").read_text(encoding="utf-8"))
    assert page.h2 == [
        "1. Run facts", "2. Leaderboard", "3. The paper's figures, from this run",
        "4. Attribution gallery", "5. Confidence",
    ]  # fmt: skip
    header = page.headers["leaderboard"]
    assert header[:2] == ["method", "rank ↓"]
    # stored labels (the fixture's are the names with spaces), with the direction
    assert header[2:] == [
        f"{m.replace('_', ' ')} {'↑' if facts.DIRECTIONS[m] else '↓'}" for m in METRICS
    ]
    rows = page.rows["leaderboard"]
    assert [r[0] for r in rows] == ["RectGrad", "Gradient * Input", "Saliency Map", "Random"]
    assert rows[1][1] == "2.167"  # grad_x_input's mean rank 13/6
    # value, then the stored interval: rectgrad patch_attribution 1 [0.9 – 1.1], marked best
    assert rows[0][2] == "1 ★ [0.9 – 1.1]"
    assert page.best["leaderboard"] == [c for c in rows[0][2:]]  # rectgrad leads every column
    assert rows[3][7] == "0.1 [0.09 – 0.11]"  # random's Sparseness, not marked
    assert page.images == 6 and page.notes == [page.notes[0]]  # only Table 1's preset note
    assert "differs from the paper's protocol" in page.notes[0]


def test_report_is_self_contained(built_run: Path) -> None:
    text = (built_run / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert page.links, "expected the data-URI images and favicon"
    assert all(link.startswith("data:") for link in page.links)
    assert "http://" not in text and "https://" not in text
    assert page.scripts == 1 and "<script src" not in text and '<link rel="stylesheet"' not in text


def test_report_csvs(built_run: Path) -> None:
    board = pd.read_csv(built_run / "leaderboard.csv")
    assert list(board.columns) == ["method", *METRICS, "rank"]
    assert list(board["method"]) == ["rectgrad", "grad_x_input", "saliency", "random"]
    assert board["rank"].tolist() == pytest.approx([1.0, 13 / 6, 17 / 6, 4.0])
    assert board.loc[2, "total_variation"] == 12.0
    scores = pd.read_csv(built_run / "scores.csv")
    assert list(scores.columns) == [
        "run_id", "method", "metric", "direction", "higher_is_better",
        "statistic", "value", "low", "high", "interval", "n",
    ]  # fmt: skip
    assert len(scores) == 40
    assert set(scores["interval"]) == {"bootstrap_images", "none", "seed_range"}
    row = scores[(scores["method"] == "random") & (scores["metric"] == "kar_aoc")].iloc[0]
    assert (row["direction"], row["statistic"], row["value"], row["n"]) == (
        "lower",
        "value",
        0.444,
        2,
    )


def test_report_figures_as_png_files(built_run: Path) -> None:
    written = sorted(p.name for p in (built_run / "figures").iterdir())
    assert written == [f"{name}.png" for name in FIGURES]
    for name in FIGURES:
        assert (built_run / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_optional_tables_omits_sections_with_notes(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    run_dir = store_writer(
        tmp_path / "r",
        with_stages=False,
        with_image_scores=False,
        with_retraining=False,
        with_gallery=False,
    )
    page = Page(build_report(run_dir, figures=True).read_text(encoding="utf-8"))
    assert len(page.h2) == 5
    joined = " | ".join(page.notes)
    for expected in (
        "No per-stage times stored",
        "No per-image patch_attribution values stored",
        "No per-image total_variation values stored",
        "No ROAR/KAR cells stored",
        "Table 1 omitted",
        "No gallery stored",
    ):
        assert expected in joined
    # background mass bars and confidence plot come from scores, which this run has
    assert page.images == 2
    assert [r[0] for r in page.rows["leaderboard"]] == [
        "RectGrad", "Gradient * Input", "Saliency Map", "Random",
    ]  # fmt: skip
    assert len(page.headers["leaderboard"]) == 2 + 4
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == [
        "background_mass.png",
        "confidence.png",
    ]


def test_paper_preset_compares_without_the_warning(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    # no per-image scores nor gallery: fewer figures to draw, Table 1 needs the scores only
    run_dir = store_writer(
        tmp_path / "r", preset="paper", with_image_scores=False, with_gallery=False
    )
    page = Page(build_report(run_dir).read_text(encoding="utf-8"))
    assert any("follows the paper's protocol" in n for n in page.notes)
    assert not any("differs" in n for n in page.notes)
    table1 = page.rows["table1"]
    assert table1[1] == ["RectGrad", "0.53", "0.5385", "0.34", "0.3382"]
    assert table1[3] == ["Guided BP", "", "0.5504", "", "0.427"]


def test_build_report_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no result store"):
        build_report(tmp_path)
    (tmp_path / "results.sqlite").write_bytes(b"PK\x03\x04 a zip, not a database")
    with pytest.raises(ValueError, match="not a rectbench result store"):
        build_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_build_leaderboard_over_two_runs(tmp_path: Path, store_writer: Callable[..., Path]) -> None:
    quick = store_writer(tmp_path / "quick", run_id="q1", preset="quick")
    smoke = store_writer(
        tmp_path / "smoke", run_id="s1", preset="smoke", dataset="synthetic",
        methods=("rectgrad", "saliency"), with_retraining=False,
    )  # fmt: skip
    csv_path, html_path = build_leaderboard([quick, smoke], tmp_path / "out")
    assert (csv_path, html_path) == (
        tmp_path / "out" / "leaderboard.csv",
        tmp_path / "out" / "leaderboard.html",
    )
    board = pd.read_csv(csv_path)
    assert list(board.columns) == [
        "run_id",
        "preset",
        "dataset",
        "model",
        "method",
        "rank",
        *METRICS,
    ]
    assert list(zip(board["run_id"], board["method"], strict=True)) == [
        ("q1", "rectgrad"), ("q1", "grad_x_input"), ("q1", "saliency"), ("q1", "random"),
        ("s1", "rectgrad"), ("s1", "saliency"),
    ]  # fmt: skip
    assert board.loc[5, "total_variation"] == 12.0 and board.loc[5, "rank"] == 2.0
    text = html_path.read_text(encoding="utf-8")
    page = Page(text)
    assert len(page.rows["combined"]) == 6
    assert [r[1] for r in page.rows["combined"]] == ["quick"] * 4 + ["smoke"] * 2
    assert 'id="filter-preset"' in text and 'id="filter-dataset"' in text
    assert '<option value="synthetic">' in text and '<option value="smoke">' in text
    assert all(link.startswith("data:") for link in page.links) and "http" not in text


def test_build_leaderboard_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_dirs: expected at least one"):
        build_leaderboard([], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        build_leaderboard([tmp_path / "missing"], tmp_path / "out")
