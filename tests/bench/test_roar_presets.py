"""The ROAR/KAR settings of the presets: ``roar`` meets the minimum protocol that ranks methods,
``quick`` says what it cannot resolve (a calibration figure for its one seed), ``paper`` stays the
paper's, and ROAD replaces Quantus' ROAD everywhere."""

from __future__ import annotations

from bench.presets import ROAD_METRICS, deviations, get_preset


def test_roar_preset_meets_the_minimum_protocol() -> None:
    roar = get_preset("roar").roar
    assert roar.n_train == 0 and get_preset("roar").data.source == "cifar10"  # all 50,000
    assert roar.epochs >= 3 and (roar.n_test == 0 or roar.n_test >= 5000)
    assert len(roar.fractions) == 5 and len(roar.seeds) >= 3 and roar.leakage_seeds >= 1
    assert set(get_preset("roar").metrics) == {"roar_auc", "kar_aoc", *ROAD_METRICS}


def test_quick_preset_carries_its_calibration_and_the_leakage_control() -> None:
    roar = get_preset("quick").roar
    assert roar.seeds == (0,) and roar.seed_sd > 0 and roar.leakage_seeds == 1
    assert roar.engine == "auto" and roar.bf16 is False
    assert not any(line.startswith(("roar.seed_sd", "roar.leakage")) for line in
                   deviations(get_preset("quick")))  # settings of the run, not of the protocol


def test_paper_preset_stays_the_papers_and_no_preset_runs_quantus_road() -> None:
    paper = get_preset("paper")
    assert paper.roar.epochs == 20 and paper.roar.seeds == (0, 1, 2) and paper.roar.n_train == 0
    assert not [line for line in deviations(paper) if line.startswith("roar.")]
    for name in ("smoke", "quick", "roar", "paper"):
        assert "quantus.ROAD" not in get_preset(name).metrics
    for name in ("quick", "paper"):
        assert set(ROAD_METRICS) <= set(get_preset(name).metrics)
