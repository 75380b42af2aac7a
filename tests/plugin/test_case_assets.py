"""The plugin's shipped case: checked assets, shipped targets, tolerances, and the retrain option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bench import pytest_plugin as plugin
from bench.data import to_model_input


def test_manifest_hashes_match_the_shipped_files_and_they_fit_in_2_mb() -> None:
    manifest = json.loads((plugin.ASSETS_DIR / plugin.MANIFEST_NAME).read_text())
    total = 0
    for name in (plugin.MODEL_FILE, plugin.DATA_FILE):
        path = plugin.ASSETS_DIR / name
        assert plugin.sha256_file(path) == manifest["files"][name]["sha256"]
        assert path.stat().st_size == manifest["files"][name]["bytes"]
        total += path.stat().st_size
    assert total < 2_000_000


def test_shipped_weights_are_float32_and_inputs_are_exact_integer_tensors() -> None:
    state, data, manifest = plugin.load_case_assets()
    assert all(v.dtype == torch.float32 for v in state.values())
    assert sum(v.numel() for v in state.values()) == 328_996  # PaperCNN(4 classes, 16 px)
    assert data["images"].dtype == torch.uint8 and data["images"].shape == (128, 3, 16, 16)
    assert data["labels"].dtype == torch.int64 and data["targets"].dtype == torch.int64
    assert data["masks"].dtype == torch.bool and data["masks"].shape == (128, 16, 16)
    assert manifest["case"]["patch_box"] == [0, 0, 3, 3]


def test_shipped_targets_are_the_models_predictions_with_a_clear_margin() -> None:
    state, data, _ = plugin.load_case_assets()
    from bench.models import PaperCNN

    model = PaperCNN(num_classes=4, image_size=16).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        logits = model(to_model_input(data["images"]))
    assert torch.equal(logits.argmax(1), data["targets"])
    top2 = logits.topk(2, dim=1).values
    assert float((top2[:, 0] - top2[:, 1]).min()) > 0.1  # no near-tie a CPU could flip


def test_a_damaged_asset_is_refused_by_name(tmp_path: Path) -> None:
    for name in (plugin.MANIFEST_NAME, plugin.MODEL_FILE, plugin.DATA_FILE):
        shutil.copy(plugin.ASSETS_DIR / name, tmp_path / name)
    plugin.load_case_assets(tmp_path)  # an exact copy loads
    raw = bytearray((tmp_path / plugin.MODEL_FILE).read_bytes())
    raw[-100] ^= 1
    (tmp_path / plugin.MODEL_FILE).write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match=r"rectbench_case_model\.pt does not match its SHA-256"):
        plugin.load_case_assets(tmp_path)


def test_each_metric_gets_its_measured_tolerance_unless_the_caller_gives_one() -> None:
    expected = {"patch_attribution": 0.02, "background_mass": 6.0}
    # patch attribution (thresholded: rtol 1e-2) takes a 0.5 % step; background mass does not.
    near = {"patch_attribution": 0.02 * 1.005, "background_mass": 6.0 * (1 + 1e-3)}
    lines = plugin.golden_diff(expected, near)
    assert len(lines) == 1 and lines[0].startswith("  background_mass: expected 6, got 6.006")
    assert "allowed 0.0005" in lines[0]
    assert plugin.golden_diff(expected, near, rtol=1e-2) == []
    assert len(plugin.golden_diff(expected, near, rtol=1e-4)) == 2
    assert plugin.metric_tolerance("quantus.faithfulness_correlation") == (
        plugin.DEFAULT_RTOL, plugin.DEFAULT_ATOL)


def test_bad_case_options_raise_value_errors_naming_them() -> None:
    with pytest.raises(ValueError, match="case size"):
        plugin.build_case("huge")
    with pytest.raises(ValueError, match="case source"):
        plugin.build_case("small", source="download")


@pytest.mark.slow  # a second or so of training, and the first import of torch.optim (seconds)
def test_the_train_option_retrains_caches_and_predicts_its_own_targets(tmp_path: Path, monkeypatch) -> None:
    # A tiny recipe: the option's code path, not the shipped model's quality.
    monkeypatch.setattr(plugin, "CASE_SIZES", {"small": (200, 8, 1), "medium": (200, 16, 1)})
    monkeypatch.setitem(plugin._CASE_RECIPE, "epochs", 1)
    case = plugin.build_case("small", cache_dir=tmp_path, source="train")
    assert case.source == "train" and case.images.shape == (8, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(case.model(case.images).argmax(1), case.targets)
    cached = list(tmp_path.glob("*.pt"))
    assert len(cached) == 1
    again = plugin.build_case("small", cache_dir=tmp_path, source="train")
    for a, b in zip(case.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
