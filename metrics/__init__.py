"""rectbench: metrics. Per-image scores of saliency maps, occlusion and ROAR/KAR, Quantus adapters,
the metric registry and the shared aggregation step. Pure functions on tensors; never imports
``bench``."""

from metrics.aggregate import Summary, summarize
from metrics.curves import curve_area
from metrics.inputs import Attribute, MetricInputs
from metrics.map_scores import PAPER_PATCH_BOX, background_mass, patch_attribution, total_variation
from metrics.occlusion import occlude, pixel_count, random_occlude, top_fraction_mask
from metrics.registry import METRICS, MetricKind, MetricSpec, available_metrics, create_metric
from metrics.road import RoadCurves, noisy_linear_imputation, road_curves, road_scores
from metrics.roar_kar import (
    Executor,
    RoarKarResult,
    SequentialExecutor,
    TrainAndEvaluate,
    cell_generator,
    roar_kar,
    score_cells,
)

__all__ = [
    "PAPER_PATCH_BOX",
    "patch_attribution",
    "background_mass",
    "total_variation",
    "occlude",
    "random_occlude",
    "top_fraction_mask",
    "pixel_count",
    "curve_area",
    "roar_kar",
    "score_cells",
    "RoarKarResult",
    "Executor",
    "SequentialExecutor",
    "TrainAndEvaluate",
    "cell_generator",
    "RoadCurves",
    "noisy_linear_imputation",
    "road_curves",
    "road_scores",
    "METRICS",
    "MetricSpec",
    "MetricKind",
    "MetricInputs",
    "Attribute",
    "create_metric",
    "available_metrics",
    "Summary",
    "summarize",
]
