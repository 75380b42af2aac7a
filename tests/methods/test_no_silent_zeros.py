"""Issue 10: a requested RectGrad rule that zeroes an example's whole attribution raises with the
reason instead of returning an all-zero map; the threshold doing so warns."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from methods import RectGrad, create_method


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("name", ["rectgrad", "rectgrad_prr"])
def test_padding_trick_on_resnet18_at_32px_raises_naming_the_1x1_convs(name, resnet18,
                                                                       images) -> None:
    """layer4's maps are 1x1 at 32 px: a 3x3 conv with padding 1 has its whole output in the
    zeroed border. The maps were exactly zero with no warning."""
    with pytest.raises(ValueError) as caught:
        create_method(name, resnet18).attribute(images, target=[1, 2, 3])
    message = str(caught.value)
    assert message.startswith("padding_trick zeroed the entire gradient of example 0")
    assert "layer4.0.conv1 (output 1x1, zero padding 1)" in message
    assert "8 convolution(s)" in message  # layer3's 2x2 and layer4's 1x1 3x3-convs
    assert "padding_trick=False" in message
    # the advice holds: without the trick the maps are not zero
    fixed = create_method(name, resnet18, padding_trick=False).attribute(images, target=[1, 2, 3])
    assert (fixed.flatten(1).sum(1) > 0).all()


def _prr_zeroing_model() -> nn.Module:
    """The pool input is conv(x) with weights (1, -1) on two equal channels: exactly 0. PRR sends
    R_in = x * c = 0 back; plain max-pooling routes R to the argmax, and the conv's backward
    gives (R, -R) on the two channels: a non-zero gradient x input."""
    conv = nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1))
    head = nn.Linear(4, 3)
    with torch.no_grad():
        head.weight.fill_(0.5)
        head.bias.fill_(1.0)
    return nn.Sequential(conv, nn.MaxPool2d(2), nn.Flatten(), head, nn.ReLU(),
                         nn.Linear(3, 2)).eval()


def test_prr_zeroing_the_gradient_raises() -> None:
    model = _prr_zeroing_model()
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(1)).repeat(1, 2, 1, 1)
    plain = RectGrad(model, tau=float("-inf")).attribute(x, target=0, final_threshold=False)
    assert plain.abs().sum() > 0
    with pytest.raises(ValueError, match=r"prr \(proportional redistribution .* prr=False"):
        RectGrad(model, tau=float("-inf"), prr=True).attribute(x, target=0)


def test_threshold_zeroing_everything_warns() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(4, 5)
    with pytest.warns(RuntimeWarning, match=r"threshold \(tau=1000000000.0\) zeroed .* 4 of 4"):
        out = RectGrad(model, tau=1e9).attribute(x, target=1)
    assert torch.equal(out, torch.zeros_like(x))


def test_all_zero_image_is_not_an_error(paper_cnn) -> None:
    """x * R is zero for a zero image whatever R: no rule is to blame, nothing is raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = create_method("rectgrad", paper_cnn).attribute(torch.zeros(1, 3, 32, 32), target=0)
    assert torch.equal(out, torch.zeros_like(out))


def test_ordinary_batches_cost_one_forward(paper_cnn, cifar_like_batch) -> None:
    """The diagnosis runs on the all-zero path only: a normal call is one forward pass."""
    calls = []
    handle = paper_cnn.register_forward_hook(lambda *_: calls.append(1))
    try:
        create_method("rectgrad", paper_cnn).attribute(cifar_like_batch, target=0)
    finally:
        handle.remove()
    assert len(calls) == 1
