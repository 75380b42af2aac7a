"""The threshold sweep's points: parsing, and what RectGrad's q = 0 and tau = 0 points are.

The paper's Claim 2 is about the *constant* threshold tau = 0 (Guided Backprop x input with the
final zero threshold), which the default sweep carries as its labelled endpoint; q = 0 is the
per-layer minimum of a*R as threshold, which lets inactive units' gradients through.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import GuidedBackprop
from torch import nn

from bench.config import RunConfig
from bench.experiment_settings import parse_sweep, with_sweeps
from bench.models import PaperCNN
from bench.pytest_plugin import CASE_IMAGE_SIZE, CASE_NUM_CLASSES, load_case_assets
from bench.stages.sweep import sweep_settings
from methods import create_method

DEFAULT = RunConfig(preset="t").sweeps[0]


def _point(label_or_x: str | float):
    sweep = parse_sweep(DEFAULT)
    return next(p for p in sweep.points if label_or_x in (p.label, p.x))


def _rectgrad_at(point, model: nn.Module, **extra: object):
    return create_method("rectgrad", model, **{**sweep_settings("rectgrad", point, 0), **extra})


def _gbp_x_input(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return (GuidedBackprop(model).attribute(x, target=target) * x).clamp(min=0)


def test_the_default_sweep_is_figure_4_with_the_claim_2_endpoint() -> None:
    sweep = parse_sweep(DEFAULT)
    assert sweep.experiment == "sweep:rectgrad.percentile"
    assert [p.x for p in sweep.points[:-1]] == [0, 50, 80, 90, 95, 98, 99, 99.5]
    assert all(p.label is None and dict(p.overrides) == {"percentile": p.x}
               for p in sweep.points[:-1])
    tau = sweep.points[-1]
    assert (tau.label, dict(tau.overrides)) == ("tau=0", {"tau": 0})
    assert tau.x == pytest.approx(-9.95)  # drawn left of q = 0, 10 % of the q span
    assert sweep_settings("rectgrad", tau, 7) == {"percentile": 98.0, "tau": 0,
                                                   "padding_trick": True, "prr": False}


def test_non_numeric_values_sit_at_their_positions_and_bad_text_raises() -> None:
    sweep = parse_sweep("rectgrad.padding_trick=false,true")
    assert [(p.x, p.label, dict(p.overrides)) for p in sweep.points] == [
        (0.0, "false", {"padding_trick": False}), (1.0, "true", {"padding_trick": True})]
    assert sweep_settings("smoothgrad", parse_sweep("smoothgrad.noise_level=0.2").points[0],
                          5)["seed"] == 5
    for text in ("rectgrad=1,2", "percentile=1", "rectgrad.percentile=", "rectgrad.percentile=1,1"):
        with pytest.raises(ValueError):
            parse_sweep(text)


def test_with_sweeps_replaces_the_sweeps_and_turns_the_sweep_on() -> None:
    config = RunConfig(preset="t", experiments=("noise_accumulation",))
    assert with_sweeps(config, None) is config
    swept = with_sweeps(config, ["smoothgrad.noise_level=0.1,0.2"])
    assert swept.sweeps == ("smoothgrad.noise_level=0.1,0.2",)
    assert swept.experiments == ("noise_accumulation", "threshold_sweep")


def _unpadded_net() -> nn.Module:
    """Unpadded convolutions (the padding trick has nothing to zero), max-pooling, dense."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 16), nn.ReLU(), nn.Linear(16, 4),
    ).double().eval()


def test_the_tau_0_endpoint_is_guided_backprop_times_input_claim_2() -> None:
    model = _unpadded_net()
    x = torch.randn(5, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    target = model(x).argmax(dim=1)
    ours = _rectgrad_at(_point("tau=0"), model).attribute(x, target=target)
    expected = _gbp_x_input(model, x, target)
    assert expected.abs().max() > 0 and (expected > 0).float().mean() > 0.1
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-14)


def test_claim_2_on_the_shipped_paper_cnn_holds_without_the_padding_trick() -> None:
    state, data, _ = load_case_assets()
    model = PaperCNN(num_classes=CASE_NUM_CLASSES, image_size=CASE_IMAGE_SIZE)
    model.load_state_dict(state)
    model = model.double().eval()
    x = (data["images"][:8].double() / 127.5 - 1)
    target = data["targets"][:8]
    expected = _gbp_x_input(model, x, target)
    plain = _rectgrad_at(_point("tau=0"), model, padding_trick=False).attribute(x, target=target)
    torch.testing.assert_close(plain, expected, rtol=1e-12, atol=1e-14)
    # with the padding trick that every point of the sweep shares, the endpoint is not exactly GBP
    swept = _rectgrad_at(_point("tau=0"), model).attribute(x, target=target)
    assert (swept - expected).abs().max() > 1e-3
    # and q = 0 is a different method from tau = 0
    q0 = _rectgrad_at(_point(0.0), model).attribute(x, target=target)
    assert (q0 - swept).abs().max() > 1e-2


def test_q_0_thresholds_at_the_layer_minimum_by_hand() -> None:
    # f(x) = w2 . relu(x) (W1 = identity): z = x = (3, 2, -1, 0.5), a = (3, 2, 0, 0.5),
    # R = w2 = (1, 10, -100, -4), a * R = (3, 20, 0, -2); q = 0: tau = min = -2.
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4))
        model[2].weight.copy_(torch.tensor([[1.0, 10.0, -100.0, -4.0]]))
    model = model.double().eval()
    x = torch.tensor([[3.0, 2.0, -1.0, 0.5]], dtype=torch.float64)
    target = torch.tensor([0])
    q0 = _rectgrad_at(_point(0.0), model).attribute(x, target=target)
    tau0 = _rectgrad_at(_point("tau=0"), model).attribute(x, target=target)
    # q = 0 keeps a * R > -2: units 1-3, the inactive unit 3 (a = 0) included; R_in = (1, 10,
    # -100, 0), x * R_in = (3, 20, 100, 0) (>= 0 already); tau = 0 keeps units 1 and 2 only.
    assert q0.tolist() == [[3.0, 20.0, 100.0, 0.0]]
    assert tau0.tolist() == [[3.0, 20.0, 0.0, 0.0]]
    # the plain gradient x input with the final zero threshold is (3, 20, 0, 0) too: tau = 0 is
    # Guided Backprop here, q = 0 is neither
    assert _gbp_x_input(model, x, target).tolist() == tau0.tolist()
