"""Issue 11: every method object checks what Captum lets through (NaN/inf inputs, negative or
out-of-range targets, integer inputs, models left in train mode), and still composes with Captum
(NoiseTunnel, tuple inputs)."""

from __future__ import annotations

import warnings

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from methods import RectGrad, available_methods, create_method
from methods.wrappers import CaptumMethod, RandomAttribution, SmoothGradMethod

CHEAP = {"smoothgrad": {"nt_samples": 2}, "integrated_gradients": {"n_steps": 4}}


def _method(name: str, model: nn.Module):
    return create_method(name, model, **CHEAP.get(name, {}))


@pytest.fixture
def batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, 3, 32, 32, generator=g) * 2 - 1


@pytest.mark.parametrize("name", available_methods())
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_inputs_raise(name, bad, paper_cnn, batch) -> None:
    x = batch.clone()
    x[1, 2, 5, 7] = bad
    with pytest.raises(ValueError, match=r"inputs\[0\] contains 1 NaN or infinite value"):
        _method(name, paper_cnn).attribute(x, target=0)


@pytest.mark.parametrize("make", [
    lambda m: RectGrad(m, allow_nonfinite=True),
    lambda m: CaptumMethod(Saliency(m), allow_nonfinite=True, abs=False),
    lambda m: SmoothGradMethod(m, nt_samples=2, allow_nonfinite=True),
    lambda m: RandomAttribution(m, allow_nonfinite=True),
])
def test_allow_nonfinite_warns_and_attributes(make, paper_cnn, batch) -> None:
    x = batch.clone()
    x[0, 0, 0, 0] = float("nan")
    with pytest.warns(RuntimeWarning, match="1 NaN or infinite"):
        out = make(paper_cnn).attribute(x, target=1)
    assert out.shape == x.shape


@pytest.mark.parametrize("name", available_methods())
@pytest.mark.parametrize(("target", "message"), [
    (-1, "target = -1 is negative"),
    (10, "target = 10 is out of range: the model returns 10 outputs"),
    (torch.tensor([0, 12]), "target = 12 is out of range"),
    (torch.tensor([-3, 2]), "target = -3 is negative"),
    ([4, 10], r"target\[1\] = 10 is out of range"),
    (torch.tensor([0.0, 1.0]), "integer class indices"),
    (torch.tensor([1, 2, 3]), r"shape \(N,\) = \(2,\)"),
    ([1], "1 entries for 2 examples"),
    (True, "must be an int"),
])
def test_bad_targets_raise_naming_target_and_width(name, target, message, paper_cnn,
                                                   batch) -> None:
    with pytest.raises(ValueError, match=message):
        _method(name, paper_cnn).attribute(batch, target=target)


# Random and the Sobel control compute their values from the inputs alone: no target needed.
@pytest.mark.parametrize("name", [n for n in available_methods() if n not in ("random", "sobel")])
def test_missing_target_for_a_multi_class_model_raises(name, paper_cnn, batch) -> None:
    with pytest.raises(ValueError, match="target is None but the model returns 10 outputs"):
        _method(name, paper_cnn).attribute(batch)


@pytest.mark.parametrize("name", ["random", "sobel"])
def test_model_blind_methods_need_no_target(name, paper_cnn, batch) -> None:
    assert create_method(name, paper_cnn).attribute(batch).shape == batch.shape


@pytest.mark.parametrize("name", available_methods())
def test_valid_target_forms_accepted(name, paper_cnn, batch) -> None:
    method = _method(name, paper_cnn)
    by_int = method.attribute(batch, target=9)
    torch.testing.assert_close(method.attribute(batch, target=torch.tensor([9, 9])), by_int)
    torch.testing.assert_close(method.attribute(batch, target=[9, 9]), by_int)
    torch.testing.assert_close(method.attribute(batch, target=torch.tensor(9)), by_int)


@pytest.mark.parametrize("name", available_methods())
def test_integer_inputs_raise(name, paper_cnn) -> None:
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"inputs\[0\] must be a floating-point tensor"):
        _method(name, paper_cnn).attribute(images, target=0)
    with pytest.raises(ValueError, match="floating-point"):
        _method(name, paper_cnn).attribute(images.long(), target=0)


class _BatchNormCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 8 * 8, 10))
        for module in self.modules():  # non-trivial running statistics
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.mark.parametrize("name", available_methods())
def test_train_mode_model_is_attributed_in_eval_mode_and_restored(name, batch) -> None:
    model = _BatchNormCNN()
    reference = _method(name, model.eval()).attribute(batch, target=3)
    model.train()
    model.features[1].eval()  # a mixed state must come back exactly as it was
    modes = [m.training for m in model.modules()]
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    method = _method(name, model)
    first = method.attribute(batch, target=3)
    second = method.attribute(batch, target=3)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(buffers[k], v) for k, v in model.state_dict().items())
    assert torch.equal(first, second)
    torch.testing.assert_close(first, reference)


def test_rectgrad_train_mode_bn_buffers_unchanged() -> None:
    """The issue's case: RectGrad on a model in train mode updated BatchNorm's running stats."""
    model = _BatchNormCNN().train()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    running = model.features[1].running_mean.clone()
    rg = RectGrad(model, percentile=90)
    a, b = rg.attribute(x, target=1), rg.attribute(x, target=1)
    assert torch.equal(model.features[1].running_mean, running)
    assert model.features[1].num_batches_tracked == 0
    assert torch.equal(a, b) and a.sum() > 0 and model.training


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_refused_by_rectgrad(paper_cnn) -> None:
    scripted = torch.jit.script(paper_cnn)
    with pytest.raises(ValueError, match="TorchScript.*the model itself"):
        RectGrad(scripted)
    mixed = nn.Sequential(torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())),
                          nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    with pytest.raises(ValueError, match=r"TorchScript modules \(0\).*plain gradient"):
        RectGrad(mixed)
    eager = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    rg = RectGrad(eager)
    eager[0] = torch.jit.script(eager[0])  # scripted after construction: refused at the call
    with pytest.raises(ValueError, match=r"TorchScript modules \(0\)"):
        rg.attribute(torch.rand(1, 3, 32, 32), target=0)


class _ReusedReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv2(self.relu(self.conv1(x)))).flatten(1))


def test_deeplift_on_a_reused_relu_names_the_module() -> None:
    """Captum's DeepLift fails with an opaque RuntimeError; now a ValueError naming the module."""
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    with pytest.raises(ValueError, match=r"DeepLift needs each nonlinear module .* relu \(2 calls"):
        create_method("deeplift", _ReusedReLU()).attribute(x, target=0)
    # the method that handles reuse is untouched
    assert create_method("guided_backprop", _ReusedReLU()).attribute(x, target=0).abs().sum() > 0


def test_noise_tunnel_and_tuple_inputs_still_work(paper_cnn, batch) -> None:
    tunnel = NoiseTunnel(RectGrad(paper_cnn))
    out = tunnel.attribute(batch, nt_type="smoothgrad", nt_samples=3, stdevs=0.1,
                           target=torch.tensor([1, 2]))
    assert out.shape == batch.shape and out.sum() > 0

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(1)
            self.a, self.b = nn.Linear(6, 3), nn.Linear(4, 3)

        def forward(self, u: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
            return scale * torch.relu(self.a(u) + self.b(v))

    model = TwoInputs()
    pair = (torch.randn(5, 6), torch.randn(5, 4))
    objects = [CaptumMethod(Saliency(model), abs=False), SmoothGradMethod(model, nt_samples=3),
               RandomAttribution(model), RectGrad(model, percentile=50)]
    for method in objects:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # RectGrad: zeros are legitimate here
            got = method.attribute(pair, target=[0, 1, 2, 0, 1], additional_forward_args=(2.0,))
        assert isinstance(got, tuple) and [g.shape for g in got] == [p.shape for p in pair]
        with pytest.raises(ValueError, match="target = 3 is out of range"):
            method.attribute(pair, target=3, additional_forward_args=(2.0,))


def test_check_target_multi_dim_outputs() -> None:
    from methods.checks import check_target

    check_target((1, 2), (4, 3, 5))
    check_target([(0, 4), (2, 0)], (2, 3, 5))
    with pytest.raises(ValueError, match=r"target\[1\] = 5 is out of range"):
        check_target((1, 5), (4, 3, 5))
    with pytest.raises(ValueError, match="pass target=None"):
        check_target(0, (4,))
    check_target(None, (4,))
    check_target(None, (4, 1))


def test_target_check_probes_once_per_input_shape(paper_cnn, batch) -> None:
    """The output width is learnt from one image, once per input shape, not on every call."""
    calls: list[int] = []
    handle = paper_cnn.register_forward_hook(lambda _m, args, _o: calls.append(len(args[0])))
    try:
        method = create_method("saliency", paper_cnn)
        method.attribute(batch, target=0)
        method.attribute(batch, target=1)
        method.attribute(batch[:1], target=1)  # same per-example shape: no new probe
    finally:
        handle.remove()
    assert calls == [1, 2, 2, 1]
