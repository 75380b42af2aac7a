"""rectbench: metrics. Per-image scores of saliency maps, occlusion and ROAR/KAR, Quantus adapters,
the metric registry and the shared aggregation step. Pure functions on tensors; never imports
``bench``."""

from metrics.aggregate import Summary, summarize
from metrics.class_sensitivity import class_sensitivity, fgsm, spearman
from metrics.curves import curve_area
from metrics.feature_occlusion import (
    CurveSummary,
    FeatureOcclusionCurves,
    downsample_mask,
    feature_occlusion,
    logit_margin,
)
from metrics.inputs import Attribute, MetricInputs
from metrics.map_scores import (
    PAPER_PATCH_BOX,
    background_mass,
    patch_attribution,
    scored_patch_box,
    total_variation,
)
from metrics.noise_accumulation import NoiseAccumulation, layer_attributions, noise_accumulation
from metrics.occlusion import occlude, pixel_count, random_occlude, top_fraction_mask
from metrics.registry import (
    METRICS,
    UNIFORM_SUFFIX,
    ImageSetName,
    MapProcessing,
    MetricKind,
    MetricSpec,
    available_metrics,
    metric_spec,
    resolve_metric,
)
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
    "scored_patch_box",
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
    "metric_spec",
    "ImageSetName",
    "MapProcessing",
    "available_metrics",
    "resolve_metric",
    "UNIFORM_SUFFIX",
    "Summary",
    "summarize",
    "class_sensitivity",
    "fgsm",
    "spearman",
    "feature_occlusion",
    "FeatureOcclusionCurves",
    "CurveSummary",
    "downsample_mask",
    "logit_margin",
    "noise_accumulation",
    "NoiseAccumulation",
    "layer_attributions",
]
