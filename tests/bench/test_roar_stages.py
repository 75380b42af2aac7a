"""The ROAR/KAR stages' parts: stored correctness bits, leakage warnings, the cost model and the
throughput cache, the resolution at scale, the settings checks and the CLI's executor options."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.config import RoarConfig, RunConfig
from bench.cost_model import estimate, run_sizes
from bench.presets import get_preset
from bench.roar_store import cell_correctness, pack_bits, put_cell, unpack_bits
from bench.stages.leakage import leakage_warnings
from bench.stages.retraining import CLEAN_ROLE, check_roar_settings, resolve_engine
from bench.stages.roar_compare import RoarComparisons
from bench.store import ResultStore
from bench.throughput import Throughput, measure
from metrics import metric_spec


def test_correctness_bits_round_trip_and_need_their_cell(tmp_path: Path) -> None:
    bits = torch.tensor([True, False, True, True, False, False, True, False, True, True])
    assert len(pack_bits(bits)) == 2 and torch.equal(unpack_bits(pack_bits(bits), 10), bits)
    with ResultStore(tmp_path / "s.sqlite") as store:
        put_cell(store, "r", "saliency", ("roar", 0.5, 0), 0.6, bits)
        store.put_rows("roar_correct", "r", [dict(method="saliency", mode="kar", fraction=0.5,
                                                  seed=0, n=10, bits=pack_bits(bits))])
        stored = cell_correctness(store, "r", "saliency")
        # the KAR bits have no accuracy (a run killed between the two writes): not a cell
        assert list(stored) == [("roar", 0.5, 0)] and torch.equal(stored[("roar", 0.5, 0)], bits)
        assert store.roar_cells("r", "saliency") == {("roar", 0.5, 0): 0.6}


def test_leakage_is_flagged_above_the_retrained_accuracy_and_above_chance() -> None:
    leakage = [("deconvolution", "roar", 0.5, 0.63), ("deconvolution", "roar", 0.5, 0.61),
               ("random", "roar", 0.5, 0.11), ("saliency", "roar", 0.5, 0.40)]
    retrained = {("deconvolution", "roar", 0.5): 0.45, ("random", "roar", 0.5): 0.10,
                 ("saliency", "roar", 0.5): 0.55}
    lines = leakage_warnings(leakage, retrained, num_classes=10, n_test=1000)
    # deconvolution: 0.62 > 0.45 and far above chance; random: 0.11 > 0.10 but within 2 SE
    # (0.019) of chance 0.10; saliency: below its retrained accuracy
    assert len(lines) == 1 and lines[0].startswith("leakage: deconvolution ROAR at fraction 0.5")
    assert "0.620" in lines[0] and "0.450" in lines[0]


def test_cost_model_counts_the_work_of_each_stage() -> None:
    config = get_preset("smoke").with_overrides(methods=("saliency", "random"),
                                                metrics=("total_variation", "roar_auc"))
    sizes = run_sizes(config)
    assert (sizes.n_train, sizes.n_test, sizes.sets["roar_train"]) == (1200, 200, 300)
    rates = Throughput(train=100.0, predict=1000.0, attribution={"saliency": 10.0, "random": 1e6})
    seconds = estimate(config, rates, cells_done=1)
    assert seconds["models"] == pytest.approx(1200 * 3 / 100)  # no patch metric: one model
    # maps: saliency on the eval (32), gallery (masked: 8 x 4) and ROAR (300 + 100) images;
    # random on eval and gallery only (it ranks nothing), at 1e6 images/s
    assert seconds["maps"] == pytest.approx((32 + 32 + 400) / 10 + 64 / 1e6)
    # 2 methods x 1 mode x 2 fractions x 1 seed + 1 clean cell, 1 stored; 300 x 3 steps, 100 tests
    cell = 300 * 3 / 100 + 100 / 1000
    assert seconds["retraining"] == pytest.approx(4 * cell)
    assert seconds["leakage"] == pytest.approx(2 * 2 * cell)  # methods x fractions x 1 seed


def test_throughputs_are_cached_per_machine(tmp_path: Path) -> None:
    device = torch.device("cpu")
    first = measure("paper_cnn", 8, 4, 10, ["saliency"], device, cache_dir=tmp_path)
    assert set(first.measured) == {"train", "predict", "saliency"} and first.train > 0
    second = measure("paper_cnn", 8, 4, 10, ["saliency"], device, cache_dir=tmp_path)
    assert second.measured == () and second.attribution == first.attribution
    stored = json.loads((tmp_path / "throughput.json").read_text())
    assert len(stored) == 3 and all(v > 0 for v in stored.values())


def _comparisons(
    tmp_path: Path, shifts: list[float], *, clean: float, seed_sd: float = 0.0
) -> RoarComparisons:
    """saliency vs random, ROAR at fractions (0.1, 0.9), one seed per shift: Random's models get
    about half of the 2,000 test images right, saliency's lose a share ``2 * shift`` of those,
    i.e. about ``shift`` accuracy, at every fraction."""
    seeds = tuple(range(len(shifts)))
    config = RunConfig(preset="t", methods=("saliency", "random"), metrics=("roar_auc",),
                       roar=RoarConfig(fractions=(0.1, 0.9), seeds=seeds, modes=("roar",),
                                       seed_sd=seed_sd))
    store = ResultStore(tmp_path / "c.sqlite")
    g = torch.Generator().manual_seed(0)
    per_seed: dict[str, list[float]] = {"saliency": [], "random": []}
    for seed, shift in zip(seeds, shifts, strict=True):
        store.put_model("r", f"{CLEAN_ROLE}{seed}", "k", clean)
        for fraction in (0.1, 0.9):
            random = torch.rand(2000, generator=g) < 0.5
            saliency = random & (torch.rand(2000, generator=g) >= 2 * shift)
            for method, bits in (("random", random), ("saliency", saliency)):
                put_cell(store, "r", method, ("roar", fraction, seed), float(bits.double().mean()),
                         bits)
        for method in per_seed:
            cells = store.roar_cells("r", method)
            per_seed[method].append(sum(cells[("roar", f, seed)] for f in (0.1, 0.9)) / 2)
    ctx = SimpleNamespace(store=store, run_id="r", config=config,
                          job_seed=lambda *parts: 0)
    return RoarComparisons(ctx, metric_spec("roar_auc"), per_seed)  # type: ignore[arg-type]


def test_a_clear_consistent_difference_is_resolved(tmp_path: Path) -> None:
    roar = _comparisons(tmp_path, [0.10, 0.11, 0.09], clean=0.70)
    assert roar.scale_reason() == ""
    difference = roar.difference("saliency", "random")
    assert difference is not None and difference.value == pytest.approx(-0.10, abs=0.01)
    result = roar.test("saliency", "random")
    assert result.interval == "bootstrap_models_images" and result.high < 0


def test_scale_reasons_name_the_clean_accuracy_and_the_measured_or_calibrated_sd(
    tmp_path: Path,
) -> None:
    noisy = _comparisons(tmp_path / "a", [0.0, 0.12, 0.0], clean=0.70)
    reason = noisy.scale_reason()
    assert reason.startswith("not resolved at this scale: a paired difference from Random")
    assert "over this run's 3 seeds" in reason and "test images SE" in reason
    weak = _comparisons(tmp_path / "b", [0.10, 0.11, 0.09], clean=0.40)
    assert "reach 0.400 on clean images" in weak.scale_reason()
    one = _comparisons(tmp_path / "c", [0.10], clean=0.70, seed_sd=0.0185)
    assert "seed SD of the difference 0.0185 from the preset's calibration" in one.scale_reason()
    unknown = _comparisons(tmp_path / "d", [0.10], clean=0.70)
    assert "no calibration figure" in unknown.scale_reason()


def test_roar_settings_are_checked_by_name() -> None:
    check_roar_settings(RoarConfig())
    for change, name in (({"engine": "gpu"}, "roar.engine"), ({"group_size": -1}, "group_size"),
                         ({"leakage_seeds": 1.5}, "leakage_seeds"), ({"seed_sd": -0.1}, "seed_sd")):
        with pytest.raises(ValueError, match=name):
            check_roar_settings(replace(RoarConfig(), **change))
    assert resolve_engine("auto", torch.device("cpu")) == "sequential"
    assert resolve_engine("ensemble", torch.device("cpu")) == "ensemble"


def test_cli_ray_address_needs_the_ray_executor(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    assert main(["run", "--preset", "smoke", "--ray-address", "auto", "--no-progress"]) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err


def test_leakage_cells_through_roar_kar_equal_the_leakage_classifier() -> None:
    """The stage's trick: blank one-channel images occluded with fill 255 are the removal masks,
    so roar_kar with the mask model gives bench.leakage's accuracy, cell by cell."""
    from bench.cells import make_cell_trainer, mask_model_builder
    from bench.data import make_synthetic
    from bench.leakage import leakage_accuracy
    from bench.training import TrainRecipe
    from metrics import roar_kar

    train, test = make_synthetic(60, 30, seed=1, image_size=16)
    maps = (train.masks.float() + 0.1 * torch.arange(256).view(16, 16) / 256,
            test.masks.float() + 0.1 * torch.arange(256).view(16, 16) / 256)
    recipe = TrainRecipe(epochs=1, batch_size=20)
    trainer = make_cell_trainer("paper_cnn", recipe, 4, 16, build=mask_model_builder(4, 16))
    blank = (torch.zeros(60, 1, 16, 16, dtype=torch.uint8), torch.zeros(30, 1, 16, 16,
                                                                       dtype=torch.uint8))
    result = roar_kar(trainer, blank[0], train.labels, blank[1], test.labels, *maps, [255],
                      fractions=(0.25, 0.5), seeds=(3,), modes=("roar",))
    for fraction, accuracy in zip((0.25, 0.5), result.cells["accuracy"], strict=True):
        direct = leakage_accuracy(*maps[:1], train.labels, maps[1], test.labels, fraction,
                                  num_classes=4, recipe=recipe, seed=3)
        assert accuracy == direct


def test_cost_model_counts_the_experiment_stages() -> None:
    config = get_preset("smoke").with_overrides(
        methods=("saliency", "rectgrad"), metrics=("total_variation", "quantus.Sparseness"),
        experiments=("feature_occlusion", "threshold_sweep"))
    config = replace(config, evaluation=replace(config.evaluation, occlusion_images=5,
                                                occlusion_trials=4, occlusion_steps=3),
                     sweeps=("rectgrad.percentile=50,90,tau=0",))
    sizes = run_sizes(config)
    rates = Throughput(train=100.0, predict=1000.0, attribution={"saliency": 10.0, "rectgrad": 5.0})
    seconds = estimate(config, rates)
    # 5 images x (object, background) x 4 orders x 3 shares, one forward pass each
    assert seconds["feature_occlusion"] == pytest.approx(5 * 2 * 4 * 3 / 1000)
    # 3 points x (RectGrad's maps of the eval and the Quantus images + Sparseness's extra work on
    # the Quantus images: 20 forward passes and 2 attributions per image)
    per_point = ((sizes.sets["eval"] + sizes.sets["quantus"]) / 5.0
                 + sizes.sets["quantus"] * (20 / 1000 + 2 / 5.0))
    assert seconds["threshold_sweep"] == pytest.approx(3 * per_point)
    assert "noise_accumulation" not in seconds and "robustness" not in seconds
