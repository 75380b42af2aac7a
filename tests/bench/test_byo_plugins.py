"""Methods, metrics and models from outside: entry points, --plugin modules and configuration
tables; the configuration's new settings keep old run ids and protocol hashes (issue 13)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.config import DataConfig, MethodEntry, MetricEntry, RunConfig, config_hash, protocol_hash
from bench.models import MODELS
from bench.plugins import PluginError, activate, load_entry_points
from bench.presets import get_preset
from bench.validate import ConfigError
from methods import METHODS, create_method
from metrics import METRICS

pytestmark = pytest.mark.usefixtures("restore_registries")

_METHODS_MODULE = '''
import torch

class Flat:
    """Flat: the same attribution everywhere (a chance baseline)."""
    def __init__(self, model, level=1.0, *, absolute=False):
        self.level = level
    def attribute(self, inputs, target=None, additional_forward_args=None):
        return torch.full_like(inputs, self.level)

def share(inputs, power=1.0):
    return inputs.maps.abs().pow(power).flatten(1).mean(1)
'''


def _dist_info(site: Path, name: str, entry_points: str) -> None:
    """An installed distribution as importlib.metadata sees it: METADATA and entry_points.txt."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "byo_pkg").mkdir(parents=True)
    (site / "byo_pkg" / "__init__.py").write_text("")
    (site / "byo_pkg" / "methods.py").write_text(_METHODS_MODULE)
    monkeypatch.syspath_prepend(str(site))
    return site


# --- configuration --------------------------------------------------------------------------------


def test_new_settings_at_their_defaults_stay_out_of_the_config_and_protocol() -> None:
    smoke = get_preset("smoke")
    base = protocol_hash(smoke)
    assert "weights" not in smoke.to_toml() and "resize" not in smoke.to_toml()
    assert protocol_hash(replace(smoke, data=replace(smoke.data, resize=64))) != base
    pretrained = protocol_hash(replace(smoke, weights="a.pt"))
    assert pretrained != base and protocol_hash(replace(smoke, weights="b.pt")) == \
        pretrained  # where the weights lie is not the protocol; which they are is the model name
    assert protocol_hash(replace(smoke, plugins=("x",), methods=("saliency",))) == base
    assert config_hash(replace(smoke, plugins=("x",))) != config_hash(smoke)


def test_own_methods_and_metrics_round_trip_through_toml() -> None:
    config = RunConfig(
        preset="mine", methods=("flat",), metrics=("share",), weights="w.pt", plugins=("p",),
        data=DataConfig(source="imagefolder", path="d", resize=72, crop=64),
        method={"flat": MethodEntry("byo_pkg.methods:Flat", {"level": 2.0, "absolute": True},
                                    label="Flat", map_percentile=0.0)},
        metric={"share": MetricEntry("byo_pkg.methods:share", False, settings={"power": 2})},
    )
    text = config.to_toml()
    assert "[method.flat]" in text and "[method.flat.settings]" in text
    assert RunConfig.from_toml(text) == config and config_hash(RunConfig.from_toml(text)) == \
        config_hash(config)
    with pytest.raises(ValueError, match=r"config.methods must be an array of names; define your "
                       r"own in \[method.NAME\] tables"):
        RunConfig.from_toml('preset = "x"\n[methods.flat]\nfactory = "a:b"\n')


def test_configuration_tables_register_methods_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _site(tmp_path, monkeypatch)
    config = RunConfig(
        preset="mine",
        method={"flat": MethodEntry("byo_pkg.methods:Flat", {"level": 2.0}, label="Flat",
                                    role="chance", map_percentile=0.0)},
        metric={"share": MetricEntry("byo_pkg.methods:share", False, settings={"power": 2.0},
                                     image_set="masked")},
    )
    activate(config)
    spec = METHODS.get("flat")
    assert spec.role == "chance" and spec.map_percentile is None and spec.label == "Flat"
    attribution = create_method("flat", torch.nn.Identity()).attribute(torch.zeros(1, 1, 2, 2))
    assert attribution.flatten().tolist() == [2.0] * 4
    metric = METRICS.get("share")
    assert metric.higher_is_better is False and metric.image_set == "masked"
    # a later configuration may define the same name again, differently
    activate(replace(config, method={"flat": MethodEntry("byo_pkg.methods:Flat", {"level": 5.0})}))
    assert METHODS.get("flat").defaults["level"] == 5.0 and METHODS.get("flat").role == "method"


@pytest.mark.parametrize(("entry", "setting", "problem"), [
    ({"method": {"saliency": MethodEntry("byo_pkg.methods:Flat")}}, "method.saliency",
     "'saliency' is already a registered method"),
    ({"method": {"m": MethodEntry("byo_pkg.nope:Flat")}}, "method.m.factory",
     "cannot import byo_pkg.nope (ModuleNotFoundError"),
    ({"metric": {"s": MetricEntry("byo_pkg.methods:share", True, requires=("mpas",))}},
     "metric.s.requires", "names ['mpas'], which MetricInputs lacks"),
    ({"metric": {"s": MetricEntry("byo_pkg.methods:share", True, image_set="train")}},
     "metric.s", "image_set must be"),
])
def test_a_table_that_cannot_be_registered_names_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: dict, setting: str, problem: str
) -> None:
    _site(tmp_path, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        activate(RunConfig(preset="x", **entry))
    assert caught.value.setting == setting and problem in caught.value.problem


# --- entry points and plugin modules -------------------------------------------------------------


def test_entry_points_register_a_class_a_spec_list_and_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path, monkeypatch)
    (site / "byo_pkg" / "specs.py").write_text(
        "from metrics import MetricSpec\nfrom bench.models import ModelSpec, PaperCNN\n"
        "from byo_pkg.methods import share\n"
        "METRICS = [MetricSpec('share', share, ('maps',), True, 'mean |map|', 'per_image')]\n"
        "def tiny(num_classes, image_size):\n    return PaperCNN(num_classes, image_size=8)\n")
    _dist_info(site, "byo_pkg", "[rectbench.methods]\nflat = byo_pkg.methods:Flat\n\n"
               "[rectbench.metrics]\nshares = byo_pkg.specs:METRICS\n\n"
               "[rectbench.models]\ntiny = byo_pkg.specs:tiny\n")
    loaded = load_entry_points()
    assert {"rectbench.methods:flat", "rectbench.metrics:shares", "rectbench.models:tiny"} <= \
        set(loaded)
    flat = METHODS.get("flat")
    assert dict(flat.defaults) == {"level": 1.0, "absolute": False}  # from the signature
    assert flat.description == "Flat: the same attribution everywhere (a chance baseline)."
    assert METRICS.get("share").higher_is_better and "tiny" in MODELS
    load_entry_points()  # idempotent: nothing registered twice
    assert main(["methods"]) == 0 and "flat " in capsys.readouterr().out


def test_an_entry_point_that_fails_to_import_is_named_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path, monkeypatch)
    (site / "byo_pkg" / "broken.py").write_text("import torch\nraise RuntimeError('no GPU here')\n")
    _dist_info(site, "byo_broken", "[rectbench.methods]\nmine = byo_pkg.broken:Mine\n")
    for command in (["methods"], ["run", "--preset", "smoke", "--out", str(tmp_path / "r")]):
        assert main(command) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines == ["rectbench: error: entry point mine = byo_pkg.broken:Mine (group "
                         "rectbench.methods, package byo_broken 0.1) failed to import: "
                         "RuntimeError: no GPU here; fix or uninstall that package"]
    assert not (tmp_path / "r").exists()  # refused before any work


def test_plugin_modules_by_path_or_by_name_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = tmp_path / "project" / "byo_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(_METHODS_MODULE + "from methods import METHODS, MethodSpec\n"
                      "METHODS.register('flat', MethodSpec('flat', Flat, {'level': 1.0}, "
                      "'flat plugin'))\n")
    assert main(["methods", "--plugin", str(plugin)]) == 0
    assert "flat plugin" in capsys.readouterr().out
    monkeypatch.chdir(plugin.parent)
    assert main(["methods", "--plugin", "byo_plugin"]) == 0  # already imported: the same module
    bad = plugin.with_name("byo_bad.py")
    bad.write_text("1 / 0\n")
    assert main(["methods", "--plugin", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"rectbench: error: --plugin {bad}: importing it failed (ZeroDivisionError: division by "
        "zero); fix the file")
    with pytest.raises(PluginError, match="cannot import module byo_missing .ModuleNotFoundError"):
        activate(RunConfig(preset="x", plugins=("byo_missing",)))
