"""The checked methods and the per-image random values on CUDA match the CPU (skipped without a
GPU): the keys and uniform values bit for bit, the noise and the attributions to float rounding."""

from __future__ import annotations

import pytest
import torch

from methods import available_methods, create_method, to_map
from methods.image_rng import image_keys, normal_samples, uniform_like

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CHEAP = {"smoothgrad": {"nt_samples": 4}, "integrated_gradients": {"n_steps": 8}}


def _batch(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(16, 3, 32, 32, generator=g) * 2 - 1).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_image_rng_on_cuda_matches_cpu(dtype) -> None:
    x = _batch(dtype)
    keys = image_keys((x,), 3)
    assert torch.equal(image_keys((x.cuda(),), 3).cpu(), keys)
    assert torch.equal(uniform_like(x.cuda(), keys.cuda()).cpu(), uniform_like(x, keys))
    torch.testing.assert_close(normal_samples(x.cuda(), keys.cuda(), range(5)).cpu(),
                               normal_samples(x, keys, range(5)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", available_methods())
def test_methods_on_cuda_match_cpu_in_float64(name) -> None:
    from bench.models import PaperCNN

    torch.manual_seed(0)
    model = PaperCNN().double().eval()
    x, target = _batch(torch.float64), torch.arange(16) % 10
    cpu = create_method(name, model, **CHEAP.get(name, {})).attribute(x, target=target)
    gpu_model = PaperCNN().double().eval()
    gpu_model.load_state_dict(model.state_dict())
    gpu = create_method(name, gpu_model.cuda(), **CHEAP.get(name, {})).attribute(
        x.cuda(), target=target.cuda())
    scale = float(cpu.abs().max())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-9 * scale)


def test_checks_on_cuda() -> None:
    from bench.models import PaperCNN

    model = PaperCNN().cuda().train()
    x = _batch().cuda()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        create_method("rectgrad", model).attribute(x, target=0)
    with pytest.raises(ValueError, match="target = 10 is out of range"):
        create_method("saliency", model).attribute(_batch().cuda(), target=10)
    assert model.training
    with pytest.raises(ValueError, match="maps overflow torch.float32"):
        to_map(torch.full((1, 3, 2, 2), 3e38, device="cuda"))
