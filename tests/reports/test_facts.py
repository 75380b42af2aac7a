"""Run facts: configuration seeds, environment, accuracy, times."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from reports import config_seeds, env_facts, load_run, run_facts, stage_table
from reports.facts import format_accuracy


def test_config_seeds_finds_every_seed_setting() -> None:
    config = 'seed = 0\n[data]\nsubset_seed = 3\nname = "x"\n[roar]\nseeds = [0, 1, 2]\n'
    assert config_seeds(config) == {"seed": "0", "data.subset_seed": "3", "roar.seeds": "0, 1, 2"}
    assert config_seeds("not = [toml") == {}


def test_env_facts_flattens_nested_json() -> None:
    env = '{"device": "cuda:0", "versions": {"torch": "2.3.1"}, "threads": [1, 2]}'
    assert env_facts(env) == {"device": "cuda:0", "versions.torch": "2.3.1", "threads": "1, 2"}
    assert env_facts("") == {}
    with pytest.raises(ValueError, match="env_json: not JSON"):
        env_facts("{oops")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        env_facts("[1]")


def test_accuracy_as_fraction_or_percentage() -> None:
    assert format_accuracy(0.746) == "74.6 %"
    assert format_accuracy(73.1) == "73.1 %"
    assert format_accuracy(None) == "not recorded"


def test_run_facts_of_the_stored_run(run_dir: Path) -> None:
    facts = dict(run_facts(load_run(run_dir).run))
    assert facts["Preset"] == "quick"
    assert facts["Model test accuracy"] == "71.4 %"
    assert facts["Seeds"] == "seed = 0; roar.seeds = 0, 1"
    assert facts["Device"] == "cpu (2 threads)"
    assert facts["Wall time"] == "20.7 min (1240 s)"
    assert facts["Peak memory (resident)"] == "1.80 GiB (1,844 MiB)"
    assert facts["Started"] == "2023-11-14 22:13:20 UTC"


def test_stage_table_keeps_stored_order(run_dir: Path, fx: ModuleType) -> None:
    table = stage_table(load_run(run_dir).stages)
    assert list(table.columns) == ["stage", "seconds"]
    assert list(table["stage"]) == [s for s, _ in fx.STAGES]
    assert table["seconds"].sum() == pytest.approx(sum(s for _, s in fx.STAGES))
    with pytest.raises(ValueError, match="stages: missing column\\(s\\) seconds"):
        stage_table(pd.DataFrame({"stage": ["x"]}))
