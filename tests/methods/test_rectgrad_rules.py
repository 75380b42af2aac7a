"""RectGrad's rules on small, hand-checked cases: percentile threshold, padding trick, PRR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from methods import RectGrad
from methods.percentile import nearest_rank, per_example_percentile


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 3000),
    q=st.one_of(st.floats(0, 100), st.integers(0, 200).map(lambda k: k / 2)),
    double=st.booleans(),
)
def test_nearest_rank_equals_torch_quantile_nearest(n: int, q: float, double: bool) -> None:
    """Same index as torch.quantile(..., "nearest"), including its half-to-even rounding."""
    dtype = torch.float64 if double else torch.float32
    ranked = torch.arange(n, dtype=dtype)
    expected = int(torch.quantile(ranked, q / 100, interpolation="nearest"))
    assert nearest_rank(q, n, dtype) == expected


@pytest.mark.parametrize(
    ("n", "q", "dtype", "rank"),
    [
        (2, 50.0, torch.float64, 0),  # 0.5 rounds half to even -> 0
        (4, 50.0, torch.float64, 2),  # 1.5 -> 2
        (26, 98.0, torch.float64, 24),  # 24.5 -> 24 in double ...
        (26, 98.0, torch.float32, 25),  # ... but float32's 0.98 * 25 = 24.5000005 -> 25
        (4, 74.0, torch.float32, 2),  # appendix B: round(2.22)
    ],
)
def test_nearest_rank_hand_cases(n: int, q: float, dtype: torch.dtype, rank: int) -> None:
    assert nearest_rank(q, n, dtype) == rank


@pytest.mark.parametrize("q", [0.0, 37.5, 50.0, 98.0, 100.0])
def test_per_example_percentile_matches_quantile_per_row(q: float) -> None:
    g = torch.Generator().manual_seed(0)
    values = torch.randn(5, 3, 7, 7, generator=g)
    values[1] = 0.0  # ties
    expected = torch.stack(
        [torch.quantile(row.flatten(), q / 100, interpolation="nearest") for row in values]
    )
    assert torch.equal(per_example_percentile(values, q), expected)


def _random_cnn(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 3),
    )
    return model.double().eval()


def _reference_rectgrad(model: nn.Sequential, x: torch.Tensor, target: int, q: float) -> torch.Tensor:
    """Plain layer-by-layer backward, one example at a time, tau from torch.quantile."""
    activations = [x]
    for layer in model:
        activations.append(layer(activations[-1]))
    grad = torch.zeros_like(activations[-1])
    grad[:, target] = 1.0
    for index in range(len(model) - 1, -1, -1):
        layer, h, out = model[index], activations[index], activations[index + 1]
        if isinstance(layer, nn.ReLU):
            new = torch.zeros_like(grad)
            for i in range(x.shape[0]):
                z = out[i] * grad[i]
                tau = torch.quantile(z.flatten(), q / 100, interpolation="nearest")
                new[i] = torch.where(z > tau, grad[i], 0.0)
            grad = new
        else:
            h = h.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(layer(h), h, grad_outputs=grad)
    return x * grad


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("q", [50.0, 90.0, 98.0])
def test_percentile_rule_matches_per_example_reference(seed: int, q: float) -> None:
    model = _random_cnn(seed)
    g = torch.Generator().manual_seed(seed + 10)
    x = torch.randn(4, 2, 8, 8, generator=g, dtype=torch.float64)
    expected = _reference_rectgrad(model, x, target=1, q=q)
    got = RectGrad(model, percentile=q).attribute(x, target=1, final_threshold=False)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-15)


def test_batch_independence() -> None:
    """Each example gets its own threshold: attributing a batch == attributing one by one."""
    model = _random_cnn(3)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    rg = RectGrad(model)
    together = rg.attribute(x, target=0, final_threshold=False)
    alone = torch.cat([rg.attribute(x[i : i + 1], target=0, final_threshold=False) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-12, atol=1e-15)


class _ConvNet(nn.Module):
    """conv (all-ones kernel) -> ReLU -> sum; positive inputs keep the ReLU in its linear part."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        with torch.no_grad():
            conv.weight.fill_(1.0)
            if conv.bias is not None:
                conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).flatten(1).sum(1, keepdim=True)


def test_padding_trick_hand_checked_3x3_same() -> None:
    """4x4 input, 3x3 ones kernel, padding 1: the gradient at the conv output is all ones; the
    trick keeps only its 2x2 centre, so the input gradient is outer((1,2,2,1), (1,2,2,1))
    instead of outer((2,3,3,2), (2,3,3,2))."""
    model = _ConvNet(nn.Conv2d(1, 1, 3, padding=1)).double()
    x = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    with_trick = RectGrad(model, tau=float("-inf"), padding_trick=True).attribute(x, target=0)
    without = RectGrad(model, tau=float("-inf")).attribute(x, target=0)
    edge, inner = torch.tensor([1.0, 2, 2, 1]), torch.tensor([2.0, 3, 3, 2])
    torch.testing.assert_close(with_trick[0, 0], torch.outer(edge, edge).double())
    torch.testing.assert_close(without[0, 0], torch.outer(inner, inner).double())


def _border_reference(conv: nn.Conv2d, x: torch.Tensor, borders: tuple[int, int, int, int]) -> torch.Tensor:
    top, bottom, left, right = borders
    x = x.detach().requires_grad_(True)
    out = conv(x)
    mask = torch.zeros_like(out)
    mask[..., top : out.shape[-2] - bottom, left : out.shape[-1] - right] = 1.0
    (grad,) = torch.autograd.grad(out, x, grad_outputs=mask)
    return x.detach() * grad


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("conv", "borders"),
    [
        (nn.Conv2d(1, 1, (3, 5), padding=(1, 2)), (1, 1, 2, 2)),
        (nn.Conv2d(1, 1, 4, padding="same"), (1, 2, 1, 2)),  # torch: 3 = 1 before + 2 after
        (nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (0, 0, 0, 0)),  # not zeros
        (nn.Conv2d(1, 1, 3, padding="valid"), (0, 0, 0, 0)),
        (nn.Conv2d(1, 1, 3, padding=2, dilation=2), (2, 2, 2, 2)),
    ],
)
def test_padding_trick_border_widths(conv: nn.Conv2d, borders: tuple[int, int, int, int]) -> None:
    model = _ConvNet(conv).double()
    x = torch.rand(2, 1, 7, 8, dtype=torch.float64) + 0.1
    got = RectGrad(model, tau=float("-inf"), padding_trick=True).attribute(x, target=0)
    torch.testing.assert_close(got, _border_reference(model.conv, x, borders))


class _PoolNet(nn.Module):
    def __init__(self, pool: nn.Module, weights: torch.Tensor) -> None:
        super().__init__()
        self.pool = pool
        self.weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (F.relu(self.pool(x)).flatten(1) * self.weights).sum(1, keepdim=True)


def test_prr_hand_checked_2x2() -> None:
    """x = [[1,2,5,1],[3,4,1,1]], 2x2 pools: maxes (4, 5), means (2.5, 2), R_out = (1, 2).
    s = (0.4, 1.0), c = s / 4 on each window, R_in = x * c =
    [[.1,.2,1.25,.25],[.3,.4,.25,.25]]; attribution x * R_in (each window sums to ~R_out * mean)."""
    x = torch.tensor([[[[1.0, 2, 5, 1], [3, 4, 1, 1]]]], dtype=torch.float64)
    model = _PoolNet(nn.MaxPool2d(2), torch.tensor([1.0, 2.0], dtype=torch.float64))
    r_in = torch.tensor([[0.1, 0.2, 1.25, 0.25], [0.3, 0.4, 0.25, 0.25]], dtype=torch.float64)
    got = RectGrad(model, tau=float("-inf"), prr=True).attribute(x, target=0)
    torch.testing.assert_close(got[0, 0], x[0, 0] * r_in, rtol=1e-8, atol=0)
    # without PRR the max-pool routes R_out to the max only: x * R = 4 * 1 and 5 * 2
    plain = RectGrad(model, tau=float("-inf")).attribute(x, target=0)
    expected = torch.zeros(2, 4, dtype=torch.float64)
    expected[1, 1], expected[0, 2] = 4.0, 10.0
    torch.testing.assert_close(plain[0, 0], expected)


@pytest.mark.parametrize(
    "pool",
    [nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, ceil_mode=True),
     nn.MaxPool2d(2, return_indices=True)],
)
def test_prr_matches_avgpool_autograd_reference(pool: nn.MaxPool2d) -> None:
    """Overlapping windows, padding and ceil mode: c is the avg-pool VJP of R_out / (avg + 1e-10)."""
    x = torch.rand(2, 3, 7, 7, dtype=torch.float64) + 0.05

    class Net(nn.Module):
        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            out = pool(inp)
            out = out[0] if isinstance(out, tuple) else out
            return F.relu(out).flatten(1).sum(1, keepdim=True)

    got = RectGrad(Net(), tau=float("-inf"), prr=True).attribute(x, target=0)
    leaf = x.clone().requires_grad_(True)
    kernel, stride, padding = pool.kernel_size, pool.stride, pool.padding
    avg = F.avg_pool2d(leaf, kernel, stride, padding, pool.ceil_mode, count_include_pad=False)
    (c,) = torch.autograd.grad(avg, leaf, grad_outputs=1.0 / (avg.detach() + 1e-10))
    torch.testing.assert_close(got, x * x * c)


def test_prr_rejects_dilated_pooling() -> None:
    model = _PoolNet(nn.MaxPool2d(2, dilation=2), torch.ones(4, dtype=torch.float64))
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="dilation"):
        RectGrad(model, prr=True).attribute(x, target=0)
