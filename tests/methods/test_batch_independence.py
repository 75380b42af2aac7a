"""Issue 10: an image's attribution does not depend on its batch size or its batch neighbours, for
every registered method (paper CNN, float32). SmoothGrad's sigma is noise_level x a fixed data
range, and SmoothGrad's noise and Random's values are drawn per image."""

from __future__ import annotations

import pytest
import torch

from methods import available_methods, create_method, to_map
from methods.wrappers import SmoothGradMethod

# Fewer samples / steps than the paper's 50: how an image's result is computed does not depend on
# the count, and 100 images x 3 batchings x 50 gradients would make this a slow test.
CHEAP = {"smoothgrad": {"nt_samples": 3}, "integrated_gradients": {"n_steps": 4}}
N_IMAGES = 100
COMPARED = {7: 21, 1: 8}  # batch size -> leading images recomputed at that size


@pytest.fixture(scope="module")
def model():
    from bench.models import PaperCNN

    torch.manual_seed(0)
    return PaperCNN().eval()


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.rand(N_IMAGES, 3, 32, 32, generator=g) * 2 - 1, torch.randint(
        0, 10, (N_IMAGES,), generator=g)


def _in_batches(method, x: torch.Tensor, target: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([method.attribute(x[i : i + size], target=target[i : i + size])
                      for i in range(0, len(x), size)])


def _differing_images(name: str, model, x: torch.Tensor, target: torch.Tensor,
                      tolerance: float) -> dict[int, list[int]]:
    """Batch size -> images whose attribution (or map) at that size differs from the one in the
    batch of all of ``x`` by more than ``tolerance`` x the largest |attribution|. Fresh objects
    each time, so nothing carries over from earlier calls either."""
    full = _in_batches(create_method(name, model, **CHEAP.get(name, {})), x, target, len(x))
    scale = float(full.detach().abs().max())
    assert scale > 0
    differing = {}
    for size, count in COMPARED.items():
        method = create_method(name, model, **CHEAP.get(name, {}))
        got = _in_batches(method, x[:count], target[:count], size)
        worst = (got - full[:count]).abs().flatten(1).amax(1)
        worst_map = (to_map(got) - to_map(full[:count])).abs().flatten(1).amax(1)
        bad = (worst > tolerance * scale) | (worst_map > 3 * tolerance * scale)
        differing[size] = bad.nonzero().flatten().tolist()
    return differing


@pytest.mark.slow
@pytest.mark.parametrize("name", available_methods())
def test_float64_attributions_do_not_depend_on_batch_size(name, model, images) -> None:
    """float64 (rounding ~1e-16, so no route flips): every image agrees to 1e-12 of the map
    scale at batch sizes 30, 7 and 1."""
    x, target = images
    try:
        differing = _differing_images(name, model.double(), x[:30].double(), target[:30], 1e-12)
    finally:
        model.float()
    assert differing == {7: [], 1: []}


@pytest.mark.slow
@pytest.mark.parametrize("name", available_methods())
def test_float32_attributions_do_not_depend_on_batch_size(name, model, images) -> None:
    """float32: images agree to 1e-6 of the map scale, except where float rounding flips a
    gradient route. The conv kernels differ with the batch size (oneDNN), so activations differ
    by ~2e-7; where two max-pool inputs or a ReLU input are that close to a tie, the gradient
    takes the other (equally valid) route: on this model 2 of 100 images at batch size 1 (one
    max-pool argmax, one ReLU sign; images 34 and 88). At most 2 such images per comparison are
    allowed; SmoothGrad and Random used to differ on every image."""
    x, target = images
    differing = _differing_images(name, model, x, target, 1e-6)
    assert all(len(images) <= 2 for images in differing.values()), differing


@pytest.mark.parametrize("name", ["smoothgrad", "random"])
def test_neighbours_do_not_matter_but_images_differ(name, model, images) -> None:
    x, target = images[0][:6], images[1][:6]
    method = create_method(name, model, **CHEAP.get(name, {}))
    base = method.attribute(x, target=target)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(method.attribute(x[order], target=target[order]), base[order],
                               rtol=0, atol=1e-6 * float(base.abs().max()))
    # a batch of one image repeated: the same values in every row, and unlike another image's
    twins = method.attribute(x[:1].repeat(3, 1, 1, 1), target=target[:1].repeat(3))
    assert torch.equal(twins[0], twins[1]) and torch.equal(twins[0], twins[2])
    assert not torch.allclose(base[0], base[1])
    # another seed gives other noise / values
    other = create_method(name, model, **CHEAP.get(name, {}), seed=1).attribute(x, target=target)
    assert not torch.allclose(other, base)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_smoothgrad_sigma_is_noise_level_times_data_range(model, images) -> None:
    """sigma = 0.1 x 2.0 = 0.2 for any batch, even one whose values span only [-0.1, 0.1]; the
    result is the mean of Captum Saliency gradients at x + 0.2 * the per-image noise."""
    from captum.attr import Saliency

    from methods.image_rng import image_keys, normal_samples

    x = images[0][:3] * 0.1
    method = SmoothGradMethod(model, nt_samples=3, noise_level=0.1, seed=5)
    assert method.sigmas(1) == (pytest.approx(0.2),)
    noise = normal_samples(x, image_keys((x,), 5), range(3))
    saliency = Saliency(model)
    expected = torch.stack([
        saliency.attribute(x + 0.2 * noise[:, j], target=2, abs=False) for j in range(3)
    ]).mean(0)
    torch.testing.assert_close(method.attribute(x, target=2), expected, rtol=1e-5, atol=1e-7)
    # chunking the samples (memory knob) changes nothing but float rounding
    chunked = SmoothGradMethod(model, nt_samples=3, seed=5, nt_samples_batch_size=2)
    torch.testing.assert_close(chunked.attribute(x, target=2), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="data_range"):
        SmoothGradMethod(model, data_range=0.0)
