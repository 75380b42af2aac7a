"""Issue 10: the method x model compatibility table is computed, documented and checkable before
training (methods.compatibility)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.models import PaperCNN, create_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return create_model("torchvision.resnet18", num_classes=10, image_size=32).eval()


def test_check_compatible_refuses_the_padding_trick_on_resnet18_at_32px(resnet18) -> None:
    from methods.compatibility import check_compatible

    for method in ("rectgrad", "rectgrad_prr"):
        with pytest.raises(ValueError, match=r"cannot be used .* padding_trick zeroed .* layer4"):
            check_compatible(method, resnet18, (3, 32, 32))
        check_compatible(method, resnet18, (3, 32, 32), padding_trick=False)
    with pytest.raises(ValueError, match=r"DeepLift needs each nonlinear module .* layer1\.0\.relu"):
        check_compatible("deeplift", resnet18, (3, 32, 32))
    check_compatible("saliency", resnet18, (3, 32, 32))
    # at 224 px layer4's maps are 7x7: the trick leaves an interior
    check_compatible("rectgrad", resnet18, (3, 224, 224))


def test_check_compatible_passes_the_paper_setup_and_leaves_the_model_alone() -> None:
    from methods import available_methods
    from methods.compatibility import check_compatible

    torch.manual_seed(0)
    model = PaperCNN().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    for method in available_methods():
        check_compatible(method, model, (3, 32, 32))
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_all_zero_maps_are_reported() -> None:
    from methods.compatibility import compatibility

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3), torch.nn.ReLU(),
                                torch.nn.Linear(3, 2))
    with torch.no_grad():
        model[3].weight.zero_()  # the output ignores the input: every gradient is zero
    result = compatibility("saliency", model, (3, 2, 2))
    assert result.status == "all-zero maps" and result.cell() == "all-zero maps"
    assert "2 of 2 probe images" in result.reason


@pytest.mark.slow
def test_doc_matches_what_the_code_computes() -> None:
    # A fresh interpreter: other tests (re-)register methods, which changes the registry's order.
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "compatibility_table.py"),
                           "--check"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (
        f"docs/compatibility.md is out of date: python tools/compatibility_table.py\n{done.stderr}")
    doc = (ROOT / "docs" / "compatibility.md").read_text()
    assert "| `rectgrad` | ok | error: padding_trick zeroed the entire gradient |" in doc
