"""RectGrad's fast paths give bit-for-bit the results of the plain definitions.

* the chunked selection (:func:`methods.percentile.largest_values`) = ``torch.topk``;
* the rule (:func:`methods.rules.rectify`) = ``where(a * R > quantile_nearest, R, +0)``;
* the one-pass :func:`methods.rules.zero_border` = clone + zero the border;
* the padding trick done inside the ReLU right after a conv = the conv-output hook.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import methods.rules as rules
from methods import RectGrad
from methods.percentile import _slice_count, largest_values, nearest_rank, per_example_percentile
from methods.rules import ReLURule, rectify, zero_border


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bit patterns (tells +0 from -0 and compares NaN payloads)."""
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def _awkward_rows(num_rows: int, n: int, seed: int) -> torch.Tensor:
    """Rows with ties, +-0, +-inf and a NaN: everything an order statistic can trip on."""
    g = torch.Generator().manual_seed(seed)
    rows = (torch.randn(num_rows, n, generator=g) * 4).round() / 4  # many ties
    rows[0, ::7] = -0.0
    rows[0, 1::7] = 0.0
    rows[1, 5] = float("inf")
    rows[1, 9] = float("-inf")
    rows[2, 11] = float("nan")
    rows[3] = 0.0  # a row of one value
    return rows


@pytest.mark.parametrize(
    ("n", "q"),
    [(2048, 98.0), (16384, 98.0), (32768, 98.0), (28672, 98.0), (12288, 95.0), (4096, 99.9)],
)
def test_largest_values_is_topk(n: int, q: float) -> None:
    rows = _awkward_rows(5, n, seed=n)
    k = n - nearest_rank(q, n, rows.dtype)
    assert _slice_count(n, k) > 1  # the chunked path, not topk itself
    got = largest_values(rows, k).sort(dim=1).values
    expected = rows.topk(k, dim=1, sorted=False).values.sort(dim=1).values
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("q", [90.0, 98.0, 99.5])
def test_per_example_percentile_on_long_rows_is_quantile_nearest(q: float) -> None:
    values = _awkward_rows(5, 64 * 16 * 16, seed=1).view(5, 64, 16, 16)
    expected = torch.stack(
        [torch.quantile(row.flatten(), q / 100, interpolation="nearest") for row in values]
    )
    got = per_example_percentile(values, q)
    assert got[2].isnan() and expected[2].isnan()  # a NaN anywhere in the row, as quantile
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


def _reference_rule(a: torch.Tensor, grad: torch.Tensor, q: float) -> torch.Tensor:
    contribution = a * grad
    tau = torch.stack(
        [torch.quantile(row.flatten(), q / 100, interpolation="nearest") for row in contribution]
    ).view(-1, 1, 1, 1)
    return torch.where(contribution > tau, grad, torch.zeros(()))


@pytest.mark.parametrize("q", [30.0, 90.0, 98.0])
def test_rectify_is_the_definition_bit_for_bit(q: float) -> None:
    g = torch.Generator().manual_seed(2)
    a = torch.relu(torch.randn(4, 32, 16, 16, generator=g))
    grad = torch.randn(4, 32, 16, 16, generator=g)
    grad[0, 0] = -0.0
    a[1, :3] = 0.0  # zero contributions from both sides: ties at tau
    expected = _reference_rule(a, grad, q)
    got = rectify(a, grad, ReLURule(percentile=q))
    assert torch.equal(_bits(got), _bits(expected))
    assert (got == 0).any() and (got != 0).any()
    assert not torch.signbit(got[got == 0]).any()  # dropped units are +0, never -0


def _zero_border_reference(grad: torch.Tensor, borders: tuple[tuple[int, int], ...]) -> torch.Tensor:
    out = grad.clone()
    first = grad.dim() - len(borders)
    for offset, (before, after) in enumerate(borders):
        dim, size = first + offset, grad.shape[first + offset]
        out.narrow(dim, 0, min(before, size)).zero_()
        out.narrow(dim, size - min(after, size), min(after, size)).zero_()
    return out


@pytest.mark.parametrize("borders", [((1, 1), (1, 1)), ((1, 2), (0, 3)), ((9, 9), (1, 0))])
def test_zero_border_bit_for_bit(borders: tuple[tuple[int, int], ...]) -> None:
    grad = torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(3))
    grad[0, 0, 0, 0] = float("nan")  # on every border: must become +0
    grad[0, 0, 2, 3] = -0.0
    grad[1, 2, 5, 6] = float("-inf")
    expected = _zero_border_reference(grad, borders)
    assert torch.equal(_bits(zero_border(grad, borders)), _bits(expected))


class _Block(nn.Module):
    """conv -> ReLU, in the forms the padding-trick fusion must tell apart.

    ``form``: "direct" (fused), "inplace" (fused), "reused" (the conv output also feeds a later
    term, so the hook must zero the border of the summed gradient), "viewed" (a view in between:
    never fused; the reference for the others).
    """

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 4, (3, 5), padding=(1, 2))
        self.head = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor, reference: bool = False) -> torch.Tensor:
        y = self.conv1(x)
        y = F.relu(y.view_as(y) if reference else y, inplace=self.form == "inplace")
        z = self.conv2(y)
        out = torch.relu(z.view_as(z) if reference else z)
        if self.form == "reused":
            out = out + 0.25 * z  # a later use of the conv output
        return self.head(out.flatten(1))


@pytest.mark.parametrize("form", ["direct", "inplace", "reused"])
@pytest.mark.parametrize("q", [50.0, 98.0])
def test_fused_padding_trick_equals_the_hook(form: str, q: float, monkeypatch) -> None:  # noqa: ANN001
    torch.manual_seed(4)
    model = _Block(form).eval()
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    passed: list[bool] = []
    hook = rules.BorderPlan.hook

    def counting_hook(plan: rules.BorderPlan, grad: torch.Tensor) -> torch.Tensor | None:
        passed.append(plan.fused)
        return hook(plan, grad)

    monkeypatch.setattr(rules.BorderPlan, "hook", counting_hook)
    method = RectGrad(model, percentile=q, padding_trick=True)
    got = method.attribute(x, target=1, final_threshold=False)
    # hooks run in backward order: conv2 first; its output is used again when "reused"
    assert passed == ([False, True] if form == "reused" else [True, True])
    passed.clear()
    expected = method.attribute(x, target=1, additional_forward_args=(True,), final_threshold=False)
    assert passed == [False, False]
    assert (expected != 0).any()
    assert torch.equal(_bits(got), _bits(expected))
    # and the border did matter: without the trick the attributions differ
    plain = RectGrad(model, percentile=q).attribute(x, target=1, final_threshold=False)
    assert not torch.equal(plain, expected)
