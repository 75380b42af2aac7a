"""The map rules of a run, the robustness rows, and the checks of the experiment settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from bench.config import DataConfig, EvalConfig, RunConfig
from bench.experiment_settings import default_occlusion_layer, experiment_problems
from bench.map_rules import map_percentile, run_metric_names, uniform_pairs
from bench.models import PaperCNN
from bench.stages.images import ImageSets
from bench.stages.robustness import blur_pairs, rule_agreement_rows
from bench.validate import ConfigError, UnknownNameError, validate
from methods import METHODS
from metrics import METRICS, resolve_metric

METRIC_LIST = ("total_variation", "class_sensitivity", "roar_auc", "background_mass")


@pytest.fixture
def derived_cleanup() -> Iterator[None]:
    """Unregister what resolving registers (derived methods and metrics)."""
    methods, metrics = set(METHODS.names()), set(METRICS.names())
    yield
    for name in set(METHODS.names()) - methods:
        METHODS.unregister(name)
    for name in set(METRICS.names()) - metrics:
        METRICS.unregister(name)


def _config(rule: str = "both", **values: Any) -> RunConfig:
    return RunConfig(preset="t", methods=("saliency", "rectgrad"), metrics=METRIC_LIST,
                     evaluation=EvalConfig(map_rule=rule), **values)  # type: ignore[arg-type]


def test_run_metric_names_by_rule(derived_cleanup: None) -> None:
    assert run_metric_names(_config("paper")) == METRIC_LIST
    assert run_metric_names(_config("uniform")) == (
        "total_variation@uniform", "class_sensitivity", "roar_auc", "background_mass@uniform")
    both = run_metric_names(_config("both"))
    assert both == METRIC_LIST + ("total_variation@uniform", "background_mass@uniform")
    assert uniform_pairs(both) == [("total_variation", "total_variation@uniform"),
                                   ("background_mass", "background_mass@uniform")]


def test_map_percentile_by_rule(derived_cleanup: None) -> None:
    config = replace(_config(), evaluation=EvalConfig(uniform_percentile=90.0))
    tv, uniform = METRICS.get("total_variation"), resolve_metric("total_variation@uniform")
    assert map_percentile(config, "saliency", tv) == 95.0
    assert map_percentile(config, "rectgrad", tv) is None  # the paper's asymmetry
    assert map_percentile(config, "rectgrad", uniform) == 90.0  # one rule for all
    assert map_percentile(config, "random", uniform) == 90.0
    assert map_percentile(config, "saliency", METRICS.get("class_sensitivity")) is None


def test_a_derived_metric_follows_its_base_metrics_image_set(derived_cleanup: None) -> None:
    sets = {"eval": "EVAL", "train": "TRAIN"}
    images = ImageSets(sets, 8, None, {"total_variation": "train"})  # type: ignore[arg-type]
    assert images.for_metric(resolve_metric("total_variation@uniform")) == "TRAIN"
    assert images.for_metric(resolve_metric("total_variation_normalized@uniform")) == "EVAL"


def test_rule_agreement_is_kendalls_tau_of_the_real_methods() -> None:
    rows = []
    for method, paper, uniform in (("a", 1.0, 10.0), ("b", 2.0, 30.0), ("c", 3.0, 20.0),
                                   ("ctrl", 0.5, 99.0)):
        rows += [dict(method=method, metric="m", statistic="median", value=paper),
                 dict(method=method, metric="m@uniform", statistic="median", value=uniform),
                 dict(method=method, metric="m", statistic="mean", value=-paper)]
    rows.append(dict(method="a", metric="k", statistic="median", value=1.0))
    scores = pd.DataFrame(rows)
    out = rule_agreement_rows(scores, [("m", "m@uniform"), ("k", "k@uniform")], ["a", "b", "c"])
    # pairs (a,b) concordant, (a,c) concordant, (b,c) discordant: tau = (2 - 1) / 3
    assert out[0]["metric"] == "m" and out[0]["n"] == 3
    assert out[0]["kendall_tau"] == pytest.approx(1 / 3)
    assert out[0]["p_value"] == pytest.approx(1.0)  # exact test, 3 items
    assert out[1] == dict(metric="k", kendall_tau=None, p_value=None, n=0)


def test_blur_pairs_need_the_method_beside_its_control(derived_cleanup: None) -> None:
    validate(replace(_config(), methods=("saliency", "saliency+blur", "rectgrad+blur")))
    assert blur_pairs(("saliency", "saliency+blur", "rectgrad+blur", "sobel")) == [
        ("saliency+blur", "saliency")]


def test_validate_resolves_controls_and_uniform_metrics(derived_cleanup: None) -> None:
    config = replace(_config(), methods=("saliency", "sobel", "rectgrad+blur"),
                     metrics=("background_mass@uniform",),
                     evaluation=EvalConfig(blur_sigma=2.0))
    validate(config)
    assert METHODS.get("rectgrad+blur").defaults["sigma"] == 2.0
    assert METRICS.get("background_mass@uniform").map_processing == "uniform"
    with pytest.raises(UnknownNameError, match="unknown method 'gradcam'"):
        validate(replace(config, methods=("gradcam+blur",)))


@pytest.mark.parametrize("change, setting, message", [
    (dict(experiments=("figure_3",)), "experiments", "unknown experiment"),
    (dict(sweeps=("rectgrad.percentil=1,2",)), "sweeps", "has no setting percentil"),
    (dict(sweeps=("rectgrad.percentile=150",)), "sweeps", "percentile must be a number"),
    (dict(sweeps=("gradcam.x=1",)), "sweeps", "unknown method 'gradcam'"),
    (dict(sweeps=("percentile=1",)), "sweeps", "method.setting=v1"),
    (dict(evaluation=EvalConfig(map_rule="all")), "evaluation.map_rule", "is 'all'"),
    (dict(evaluation=EvalConfig(uniform_percentile=101.0)), "evaluation.uniform_percentile",
     "[0, 100]"),
    (dict(evaluation=EvalConfig(blur_sigma=-1.0)), "evaluation.blur_sigma", ">= 0"),
    (dict(evaluation=EvalConfig(occlusion_steps=1)), "evaluation.occlusion_steps", ">= 2"),
    (dict(experiments=("noise_accumulation",), data=DataConfig(source="cifar10")),
     "data.masks", "need object masks"),
])
def test_bad_experiment_settings_are_refused(change: dict, setting: str, message: str,
                                             derived_cleanup: None) -> None:
    config = replace(_config(), **change)
    problems = experiment_problems(config)
    assert problems and problems[0][0] == setting and message in problems[0][1], problems
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        validate(config)


def test_the_default_settings_are_fine_and_occlusion_acts_after_the_first_block() -> None:
    assert experiment_problems(_config(experiments=("feature_occlusion", "noise_accumulation",
                                                    "threshold_sweep"))) == []
    assert default_occlusion_layer(PaperCNN()) == "features.4"
