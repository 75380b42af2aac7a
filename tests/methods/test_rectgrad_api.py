"""RectGrad on real architectures and through Captum's API: ReLU forms, ResNet-18, NoiseTunnel,
tuple inputs, extra forward arguments, dtypes, and the error paths."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from methods import RectGrad


def _no_mode_active() -> bool:
    return torch._C._len_torch_function_stack() == 0


class _FormNet(nn.Module):
    """The same CNN; ``relu(module, h)`` is the ReLU written in one of the forms under test."""

    def __init__(self, relu: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 8 * 8, 64)
        self.fc2 = nn.Linear(64, 5)
        self.relu_a, self.relu_b, self.relu_c = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.shared_inplace = nn.ReLU(inplace=True)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu_layer(0, self.conv1(x))
        h = F.max_pool2d(self.relu_layer(1, self.conv2(h)), 2)
        return self.fc2(self.relu_layer(2, self.fc1(h.flatten(1))))

    def relu_layer(self, index: int, h: torch.Tensor) -> torch.Tensor:
        return self.relu(self, index, h)


def _inplace_no_assign(fn: Callable[[torch.Tensor], object]) -> Callable:
    def form(net: _FormNet, index: int, h: torch.Tensor) -> torch.Tensor:
        fn(h)  # relies on the mutation: the result is not used
        return h

    return form


FORMS: dict[str, Callable] = {
    "separate nn.ReLU": lambda net, i, h: (net.relu_a, net.relu_b, net.relu_c)[i](h),
    "reused nn.ReLU(inplace)": lambda net, i, h: net.shared_inplace(h),
    "F.relu": lambda net, i, h: F.relu(h),
    "F.relu(inplace=True)": lambda net, i, h: F.relu(h, inplace=True),
    "F.relu_": _inplace_no_assign(F.relu_),
    "torch.relu": lambda net, i, h: torch.relu(h),
    "torch.relu_": _inplace_no_assign(torch.relu_),
    "Tensor.relu": lambda net, i, h: h.relu(),
    "Tensor.relu_": _inplace_no_assign(torch.Tensor.relu_),
}


@pytest.fixture(scope="module")
def form_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)


@pytest.fixture(scope="module")
def reference_attr(form_batch) -> torch.Tensor:
    model = _FormNet(FORMS["separate nn.ReLU"]).double().eval()
    return RectGrad(model, percentile=90).attribute(form_batch, target=1, final_threshold=False)


@pytest.mark.parametrize("form", list(FORMS))
def test_every_relu_form_gives_identical_attributions(form, form_batch, reference_attr) -> None:
    model = _FormNet(FORMS[form]).double().eval()
    got = RectGrad(model, percentile=90).attribute(form_batch, target=1, final_threshold=False)
    torch.testing.assert_close(got, reference_attr, rtol=1e-12, atol=1e-15)
    # the rule did act: the plain gradient * input differs
    x = form_batch.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_FormNet(FORMS["F.relu"]).double()(x)[:, 1].sum(), x)
    assert not torch.allclose(grad * form_batch, reference_attr)
    assert _no_mode_active()


def test_reused_module_is_one_layer_per_call() -> None:
    """One ReLU module called twice is two layers: each call gets its own threshold."""
    torch.manual_seed(0)
    first, second = nn.Linear(6, 40), nn.Linear(40, 40)
    head = nn.Linear(40, 1)
    shared = nn.ReLU()

    def reused(x: torch.Tensor) -> torch.Tensor:
        return head(shared(second(shared(first(x)))))

    def separate(x: torch.Tensor) -> torch.Tensor:
        return head(F.relu(second(nn.ReLU()(first(x)))))

    x = torch.randn(5, 6)
    a = RectGrad(reused, percentile=80).attribute(x, final_threshold=False)
    b = RectGrad(separate, percentile=80).attribute(x, final_threshold=False)
    torch.testing.assert_close(a, b)


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


def test_resnet18_runs_and_leaves_nothing_behind() -> None:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    # the padding trick zeroes every gradient here (layer4's maps are 1x1 at 32x32 input): refused
    with pytest.raises(ValueError, match=r"padding_trick zeroed .* layer4\.0\.conv1 \(output 1x1"):
        RectGrad(model, padding_trick=True, prr=True).attribute(x, target=[3, 7])
    attr = RectGrad(model, prr=True).attribute(x, target=[3, 7])
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    assert (attr >= 0).all() and attr.sum() > 0
    assert _hook_count(model) == 0
    assert _no_mode_active()
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the rule acted: 17 ReLU calls (stem + 2 per block x 8), q = 98 leaves a sparse attribution
    assert (attr > 0).float().mean() < 0.5


def test_nothing_left_when_forward_raises() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.relu(x)
            raise RuntimeError("boom")

    model = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        RectGrad(model).attribute(torch.randn(2, 3))
    assert _no_mode_active() and _hook_count(model) == 0


def test_inputs_untouched_requires_grad_restored(paper_cnn, cifar_like_batch) -> None:
    x = cifar_like_batch.clone()
    RectGrad(paper_cnn).attribute(x, target=0)
    assert not x.requires_grad and x.grad is None and torch.equal(x, cifar_like_batch)
    y = cifar_like_batch.clone().requires_grad_(True)
    RectGrad(paper_cnn).attribute(y, target=0)
    assert y.requires_grad and y.grad is None
    assert all(p.grad is None for p in paper_cnn.parameters())


def test_noise_tunnel_around_rectgrad(paper_cnn, cifar_like_batch) -> None:
    rg = RectGrad(paper_cnn)
    tunnel = NoiseTunnel(rg)
    # zero noise: the average of identical samples is RectGrad itself (target expanded per sample)
    zero = tunnel.attribute(
        cifar_like_batch, nt_type="smoothgrad", nt_samples=3, stdevs=0.0, target=[0, 1, 2, 3]
    )
    torch.testing.assert_close(zero, rg.attribute(cifar_like_batch, target=[0, 1, 2, 3]))
    noisy = tunnel.attribute(cifar_like_batch, nt_type="smoothgrad", nt_samples=3, stdevs=0.2,
                             target=0, final_threshold=False)
    assert noisy.shape == cifar_like_batch.shape
    assert (noisy < 0).any()  # final_threshold reached RectGrad through NoiseTunnel's kwargs


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc_img = nn.Linear(6 * 8 * 8, 2)
        self.fc_vec = nn.Linear(10, 2)

    def forward(self, image: torch.Tensor, vector: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        h = torch.relu(self.conv(image)).flatten(1)
        return scale * (self.fc_img(h) + self.fc_vec(F.relu(vector)))


def test_tuple_inputs_and_additional_forward_args() -> None:
    model = _TwoInputs().double()
    image = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    vector = torch.randn(4, 10, dtype=torch.float64)
    rg = RectGrad(model, percentile=50)
    out = rg.attribute((image, vector), target=1, final_threshold=False)
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0].shape == image.shape and out[1].shape == vector.shape
    assert out[0].dtype == torch.float64
    # the threshold is scale-invariant, so scaling the output by 3 scales attributions by 3
    scaled = rg.attribute((image, vector), target=1, additional_forward_args=(3.0,),
                          final_threshold=False)
    torch.testing.assert_close(scaled[0], 3 * out[0])
    torch.testing.assert_close(scaled[1], 3 * out[1])


def test_float32_and_float64_agree(paper_cnn, cifar_like_batch) -> None:
    rg32 = RectGrad(paper_cnn, tau=0.0).attribute(cifar_like_batch, target=2)
    model64 = paper_cnn.double()
    rg64 = RectGrad(model64, tau=0.0).attribute(cifar_like_batch.double(), target=2)
    assert rg32.dtype == torch.float32 and rg64.dtype == torch.float64
    torch.testing.assert_close(rg32.double(), rg64, rtol=1e-4, atol=1e-6)


def test_final_threshold_is_positive_part(paper_cnn, cifar_like_batch) -> None:
    rg = RectGrad(paper_cnn, percentile=90)
    signed = rg.attribute(cifar_like_batch, target=0, final_threshold=False)
    positive = rg.attribute(cifar_like_batch, target=0)
    assert (signed < 0).any()
    torch.testing.assert_close(positive, signed.clamp(min=0))


def test_multiplies_by_inputs_and_empty_batch(paper_cnn) -> None:
    rg = RectGrad(paper_cnn)
    assert rg.multiplies_by_inputs is True
    assert rg.attribute(torch.zeros(0, 3, 32, 32), target=0).shape == (0, 3, 32, 32)


@pytest.mark.parametrize("bad", [-1.0, 100.5, float("nan"), "98", True])
def test_bad_percentile_raises(paper_cnn, bad) -> None:
    with pytest.raises(ValueError, match="percentile"):
        RectGrad(paper_cnn, percentile=bad)


def test_bad_tau_and_eps_raise(paper_cnn) -> None:
    with pytest.raises(ValueError, match="tau"):
        RectGrad(paper_cnn, tau=float("nan"))
    with pytest.raises(ValueError, match="activation_eps"):
        RectGrad(paper_cnn, activation_eps=-1.0)


def test_integer_inputs_raise(paper_cnn) -> None:
    with pytest.raises(ValueError, match=r"inputs\[0\]"):
        RectGrad(paper_cnn).attribute(torch.zeros(1, 3, 32, 32, dtype=torch.long), target=0)


def test_other_nonlinearities_warn_once_per_call_and_pass_gradient() -> None:
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(4, 30), nn.Linear(30, 1)

    def model(x: torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(F.gelu(lin1(x)))
        return lin2(F.relu(torch.sigmoid(h)))

    x = torch.randn(3, 4, dtype=torch.float32)
    rg = RectGrad(model, tau=float("-inf"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = rg.attribute(x, final_threshold=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "gelu" in messages[0] and "sigmoid" in messages[0]
    # tau = -inf keeps every unit and the ReLU input is positive: the plain gradient
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf).sum(), leaf)
    torch.testing.assert_close(got, x * grad)


def test_no_relu_raises_and_cleans_up() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="no ReLU"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RectGrad(model).attribute(torch.randn(2, 3))
    assert _no_mode_active()


def test_target_required_for_multi_output(paper_cnn, cifar_like_batch) -> None:
    with pytest.raises(ValueError, match="target"):
        RectGrad(paper_cnn).attribute(cifar_like_batch)


def test_captum_saliency_unaffected_after_rectgrad(paper_cnn, cifar_like_batch) -> None:
    """After a RectGrad call the model's plain gradient is back (no lingering mode)."""
    RectGrad(paper_cnn).attribute(cifar_like_batch, target=0)
    x = cifar_like_batch.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(paper_cnn(x)[:, 0].sum(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sal = Saliency(paper_cnn).attribute(cifar_like_batch, target=0, abs=False)
    torch.testing.assert_close(sal, grad)
