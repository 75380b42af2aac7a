"""rectbench reports: CSV, figures and one self-contained HTML page, read from the result store.

Reads ``DIR/results.sqlite`` (docs/ARCHITECTURE.md) with sqlite3 and pandas only; never imports
``bench``, ``methods`` or ``metrics``. Every table and figure is a view of the stored tables:
labels, colours, roles and directions from the stored catalog (:class:`Catalog`), best markers
from the stored paired comparisons and resolution (:mod:`reports.verdicts`).
"""

from .board import Board, leaderboard_table, run_leaderboard
from .build import build_report, render_report
from .checks import curve_warnings, leakage_flags, leakage_table, zero_map_warnings
from .console import console_leaderboard
from .facts import config_seeds, env_facts, run_facts, stage_rows, stage_table
from .figures import curves_figure, figure_png, image_scores_figure, roar_kar_figure
from .gallery import GalleryImage, decode_gallery, display_limits
from .leaderboard import build_leaderboard, combined_leaderboard
from .names import Catalog
from .paper import PUBLISHED_TABLE1, follows_paper
from .store import RunInfo, RunTables, list_run_ids, load_run
from .tables import headline_scores, metric_directions, table1, tidy_scores
from .verdicts import MetricVerdict, Rank, against_the_best, metric_verdicts, overall_rank

__all__ = [
    "PUBLISHED_TABLE1",
    "Board",
    "Catalog",
    "GalleryImage",
    "MetricVerdict",
    "Rank",
    "RunInfo",
    "RunTables",
    "build_leaderboard",
    "build_report",
    "combined_leaderboard",
    "config_seeds",
    "console_leaderboard",
    "curve_warnings",
    "curves_figure",
    "decode_gallery",
    "display_limits",
    "env_facts",
    "figure_png",
    "follows_paper",
    "headline_scores",
    "image_scores_figure",
    "leaderboard_table",
    "run_leaderboard",
    "leakage_flags",
    "leakage_table",
    "list_run_ids",
    "load_run",
    "metric_directions",
    "against_the_best",
    "metric_verdicts",
    "overall_rank",
    "render_report",
    "roar_kar_figure",
    "run_facts",
    "stage_rows",
    "stage_table",
    "table1",
    "tidy_scores",
    "zero_map_warnings",
]
