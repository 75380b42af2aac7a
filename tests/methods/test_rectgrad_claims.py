"""RectGrad against the paper's claims (Kim et al. 2019, section 4.1 and appendix B)."""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

from bench.models import PaperCNN
from methods import RectGrad


@pytest.fixture
def cnn64() -> PaperCNN:
    torch.manual_seed(0)
    model = PaperCNN().double().eval()
    for module in model.modules():  # non-zero biases, so a = 0 units exist on both sides
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.uniform_(module.bias, -0.1, 0.1)
    return model


@pytest.fixture
def batch64() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(3, 3, 32, 32, generator=g, dtype=torch.float64) * 2 - 1


def _captum(method: type, model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return method(model).attribute(x, target=target)


def test_claim2_constant_tau_zero_is_guided_backprop_times_input(cnn64, batch64) -> None:
    """Claim 2: GuidedBackprop * input with final zero threshold == RectGrad with tau = 0."""
    expected = (_captum(GuidedBackprop, cnn64, batch64, 4) * batch64).clamp(min=0)
    got = RectGrad(cnn64, tau=0.0).attribute(batch64, target=4)
    assert expected.abs().max() > 0
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-15)


def test_claim1_eps_rule_is_deconvolution_times_input(cnn64, batch64) -> None:
    """Claim 1: Deconvolution * input, final zero threshold == RectGrad, rule 1[(a + eps) R > 0]."""
    expected = (_captum(Deconvolution, cnn64, batch64, 2) * batch64).clamp(min=0)
    got = RectGrad(cnn64, tau=0.0, activation_eps=1e-6).attribute(batch64, target=2)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-15)
    # and the eps matters: without it, it is Guided Backprop instead
    guided = RectGrad(cnn64, tau=0.0).attribute(batch64, target=2)
    assert not torch.allclose(guided, expected)


class _Toy(nn.Module):
    """Appendix B: f(a) = a1 + 10 a2 - 100 a3 + 1000 a4 + b, a = relu(x)."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(4, 1)
        with torch.no_grad():
            self.out.weight.copy_(torch.tensor([[1.0, 10.0, -100.0, 1000.0]]))
            self.out.bias.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(x))


def test_appendix_b_toy_q74_keeps_only_a2() -> None:
    """a = (3, 2, 1, 0), R = (1, 10, -100, 1000): a*R = (3, 20, -100, 0); q = 74 -> tau = 3.

    Only a2 (a*R = 20, the largest contribution) passes: R_in = (0, 10, 0, 0), x * R_in =
    (0, 20, 0, 0).
    """
    x = torch.tensor([[3.0, 2.0, 1.0, 0.0]], dtype=torch.float64)
    model = _Toy().double()
    got = RectGrad(model, percentile=74).attribute(x, target=0, final_threshold=False)
    torch.testing.assert_close(got, torch.tensor([[0.0, 20.0, 0.0, 0.0]], dtype=torch.float64))
    # q = 50: rank round(1.5) = 2 -> tau = 3 as well; q = 49 -> rank 1 -> tau = 0, a1 and a2 pass
    got49 = RectGrad(model, percentile=49).attribute(x, target=0, final_threshold=False)
    torch.testing.assert_close(got49, torch.tensor([[3.0, 20.0, 0.0, 0.0]], dtype=torch.float64))
