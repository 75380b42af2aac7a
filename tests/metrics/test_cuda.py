"""The metrics on CUDA tensors give the CPU's numbers (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from metrics import (
    background_mass,
    occlude,
    patch_attribution,
    random_occlude,
    roar_kar,
    summarize,
    top_fraction_mask,
    total_variation,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_map_scores_on_cuda_match_cpu(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(64, 32, 32, generator=g, dtype=dtype)
    fg = torch.rand(64, 32, 32, generator=g) > 0.5
    gpu_maps, gpu_fg = maps.cuda(), fg.cuda()
    for cpu, gpu in [
        (patch_attribution(maps), patch_attribution(gpu_maps)),
        (
            background_mass(maps, fg, normalize=True),
            background_mass(gpu_maps, gpu_fg, normalize=True),
        ),
        (total_variation(maps), total_variation(gpu_maps)),
    ]:
        assert gpu.device.type == "cuda" and gpu.dtype == dtype
        torch.testing.assert_close(gpu.cpu(), cpu)


def test_occlusion_on_cuda_selects_the_same_pixels_as_cpu() -> None:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(1, 256, (16, 3, 32, 32), generator=g, dtype=torch.uint8)
    maps = torch.randint(0, 4, (16, 32, 32), generator=g).float()  # many ties
    cpu = occlude(images, maps, 0.3, fill=[0, 0, 0], generator=torch.Generator().manual_seed(5))
    gpu = occlude(
        images.cuda(), maps.cuda(), 0.3, fill=[0, 0, 0], generator=torch.Generator().manual_seed(5)
    )
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    cuda_gen = torch.Generator(device="cuda").manual_seed(5)
    mask = top_fraction_mask(maps.cuda(), 0.3, cuda_gen)
    assert mask.device.type == "cuda" and mask.sum(dim=(1, 2)).eq(round(0.3 * 1024)).all()
    rnd = random_occlude(images.cuda(), 0.5, keep=True, fill=[0, 0, 0], generator=cuda_gen)
    assert (rnd[:, 0] == 0).sum(dim=(1, 2)).eq(512).all()


def test_roar_kar_and_summarize_on_cuda() -> None:
    images = torch.full((4, 1, 2, 5), 200, dtype=torch.uint8, device="cuda")
    labels = torch.zeros(4, dtype=torch.int64, device="cuda")
    maps = torch.randn(4, 2, 5, device="cuda")

    def share_kept(train_x, train_y, test_x, test_y, seed):  # noqa: ANN001, ANN202
        assert test_x.device.type == "cuda"
        return float((test_x != 0).float().mean())

    result = roar_kar(share_kept, images, labels, images, labels, maps, maps, fill=[0], seeds=(0,))
    assert result.roar_auc == pytest.approx(0.5) and result.kar_aoc == pytest.approx(0.5)
    values = torch.tensor([1.0, 2.0, float("nan"), 4.0], device="cuda")
    assert summarize(values) == summarize(values.cpu())
