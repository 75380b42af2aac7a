"""rectbench reports: CSV, plots and one self-contained HTML page, read from the result store.

Reads ``DIR/results.sqlite`` (docs/ARCHITECTURE.md) with sqlite3 and pandas only; never imports
``bench``, ``methods`` or ``metrics``. Every table and plot is a view of the stored tables.
"""

from .build import build_leaderboard, build_report, render_report
from .facts import config_seeds, env_facts, run_facts, stage_table
from .figures import (
    background_mass_figure,
    confidence_figure,
    figure_png,
    gallery_figure,
    image_score_boxplot,
    patch_attribution_figure,
    roar_kar_figure,
    total_variation_figure,
)
from .gallery import GalleryImage, decode_gallery, display_limits
from .names import Catalog
from .paper import PUBLISHED_TABLE1, follows_paper
from .store import RunInfo, RunTables, list_run_ids, load_run
from .tables import (
    best_methods,
    combined_leaderboard,
    confidence_table,
    headline_scores,
    leaderboard_table,
    metric_directions,
    table1,
    tidy_scores,
)

__all__ = [
    "PUBLISHED_TABLE1",
    "Catalog",
    "GalleryImage",
    "RunInfo",
    "RunTables",
    "background_mass_figure",
    "best_methods",
    "build_leaderboard",
    "build_report",
    "combined_leaderboard",
    "config_seeds",
    "confidence_figure",
    "confidence_table",
    "decode_gallery",
    "display_limits",
    "env_facts",
    "figure_png",
    "follows_paper",
    "gallery_figure",
    "headline_scores",
    "image_score_boxplot",
    "leaderboard_table",
    "list_run_ids",
    "load_run",
    "metric_directions",
    "patch_attribution_figure",
    "render_report",
    "roar_kar_figure",
    "run_facts",
    "stage_table",
    "table1",
    "tidy_scores",
    "total_variation_figure",
]
