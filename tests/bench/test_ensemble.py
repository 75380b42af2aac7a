"""The ensemble trainer reproduces the sequential ROAR/KAR retraining member by member.

Reference: ``bench.training.train_tensors`` + ``evaluate_accuracy`` on a fresh
``create_model("paper_cnn")`` seeded with ``torch.manual_seed(seed)``, the sequential path of
``make_train_and_evaluate``. In float64 the only differences are the rounding of batched
convolutions and matrix products, so after 200 Adam steps the weights agree to ~1e-12 relative.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from bench.data import ImageSet, make_synthetic
from bench.ensemble import (
    EnsembleMember,
    make_ensemble_train_and_evaluate,
    train_ensemble,
)
from bench.ensemble_forward import make_forward
from bench.models import create_model
from bench.training import TrainRecipe, evaluate_accuracy, make_train_and_evaluate, train_tensors
from metrics.occlusion import random_occlude

SIZE = 16
SEEDS = (0, 1, 2)
# 16 images in batches of 4: 4 steps per epoch, 50 epochs = 200 Adam steps per member.
RECIPE = TrainRecipe(epochs=50, batch_size=4, lr=1e-3)


class _ToDouble(nn.Module):
    """Lets ``train_tensors`` (which feeds float32 inputs) drive a float64 model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.double()


# Small ops: a second thread only adds synchronisation (and stalls badly on a shared machine).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> tuple[ImageSet, ImageSet, list[EnsembleMember]]:
    """Each member gets its own occluded train and test images (random ROAR at 0.3 .. 0.5)."""
    train, test = make_synthetic(16, 20, seed=3, image_size=SIZE)
    members = []
    for seed in SEEDS:
        fraction = 0.3 + 0.1 * seed
        g = torch.Generator().manual_seed(100 + seed)
        members.append(
            EnsembleMember(
                random_occlude(train.images, fraction, fill=[128, 128, 128], generator=g),
                random_occlude(test.images, fraction, fill=[128, 128, 128], generator=g),
                seed,
            )
        )
    return train, test, members


@pytest.fixture(scope="module")
def sequential(
    data: tuple[ImageSet, ImageSet, list[EnsembleMember]],
) -> list[tuple[dict[str, torch.Tensor], float, list[float]]]:
    """(state_dict, accuracy, epoch losses) of each member trained alone in float64."""
    train, test, members = data
    out = []
    for member in members:
        torch.manual_seed(member.seed)
        model = create_model("paper_cnn", 4, SIZE).double()
        wrapped = nn.Sequential(_ToDouble(), model)
        result = train_tensors(
            wrapped, member.train_images, train.labels, RECIPE, member.seed, progress=False,
        )  # fmt: skip
        accuracy = evaluate_accuracy(wrapped, member.test_images, test.labels)
        out.append((model.state_dict(), accuracy, result.epoch_losses))
    return out


def _max_differences(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(max absolute difference, max relative difference per tensor in the 2-norm)."""
    assert a.keys() == b.keys()
    absolute = max(float((a[k] - b[k]).abs().max()) for k in a)
    relative = max(float((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-300)) for k in a)
    return absolute, relative


@pytest.mark.parametrize("backend", ["grouped", "vmap"])
def test_float64_ensemble_equals_members_trained_one_by_one(
    data: tuple[ImageSet, ImageSet, list[EnsembleMember]],
    sequential: list[tuple[dict[str, torch.Tensor], float, list[float]]],
    backend: str,
) -> None:
    train, test, members = data
    # vmap on two members only: the same code path for any K, and the module stays under ~30 s
    count = 3 if backend == "grouped" else 2
    result = train_ensemble(
        "paper_cnn", 4, SIZE, members[:count], train.labels, test.labels, RECIPE,
        dtype=torch.float64, backend=backend,
    )  # fmt: skip
    assert result.backend == backend
    for (state, accuracy, losses), got_state, got_accuracy, got_losses in zip(
        sequential[:count], result.state_dicts, result.accuracies, result.epoch_losses, strict=True
    ):
        absolute, relative = _max_differences(state, got_state)
        assert relative < 1e-10, (absolute, relative)
        assert got_accuracy == accuracy
        # the sequential path sums its epoch loss in float32
        assert got_losses == pytest.approx(losses, rel=1e-6)
    # The members really differ (own seeds and data), so the comparison is not vacuous.
    first, second = result.state_dicts[0], result.state_dicts[1]
    assert _max_differences(first, second)[1] > 0.1
    assert sequential[0][2][-1] < sequential[0][2][0]  # and they learn


def test_chunks_train_the_same_members(
    data: tuple[ImageSet, ImageSet, list[EnsembleMember]],
) -> None:
    train, test, members = data
    short = replace(RECIPE, epochs=2)
    whole = train_ensemble(
        "paper_cnn", 4, SIZE, members, train.labels, test.labels, short, dtype=torch.float64
    )
    chunked = train_ensemble(
        "paper_cnn", 4, SIZE, members, train.labels, test.labels, short,
        dtype=torch.float64, chunk_size=2,
    )  # fmt: skip
    assert chunked.accuracies == whole.accuracies
    for a, b in zip(whole.state_dicts, chunked.state_dicts, strict=True):
        assert _max_differences(a, b)[1] < 1e-12


def test_float32_batched_callable_matches_the_sequential_callable(
    data: tuple[ImageSet, ImageSet, list[EnsembleMember]],
) -> None:
    train, test, members = data
    short = replace(RECIPE, epochs=3)
    sequential = make_train_and_evaluate("paper_cnn", short, 4, SIZE)
    batched = make_ensemble_train_and_evaluate("paper_cnn", short, 4, SIZE)
    cells = [(m.train_images, train.labels, m.test_images, test.labels, m.seed) for m in members]
    expected = [sequential(*cell) for cell in cells]
    got = batched(cells)
    # float32 rounding may at most flip one borderline test image.
    assert got == pytest.approx(expected, abs=1.0 / len(test.labels) + 1e-12)
    assert batched([]) == []


def test_bf16_autocast_trains_close_to_float32(
    data: tuple[ImageSet, ImageSet, list[EnsembleMember]],
) -> None:
    train, test, members = data
    short = replace(RECIPE, epochs=1)
    runs = [
        train_ensemble(
            "paper_cnn", 4, SIZE, members[:2], train.labels, test.labels, short, autocast_bf16=bf16
        )
        for bf16 in (False, True)
    ]
    exact, bf16 = runs
    # weights only: the biases start at zero, so their relative change is all rounding
    weights = [{k: v for k, v in r.state_dicts[0].items() if k.endswith("weight")} for r in runs]
    absolute, relative = _max_differences(*weights)
    assert 0 < relative < 0.05  # autocast is active, and only rounds
    assert all(v.dtype == torch.float32 for v in bf16.state_dicts[0].values())
    assert bf16.epoch_losses[0][0] == pytest.approx(exact.epoch_losses[0][0], rel=0.02)


def test_inputs_are_checked(data: tuple[ImageSet, ImageSet, list[EnsembleMember]]) -> None:
    train, test, members = data
    short = replace(RECIPE, epochs=1)

    def run(members_: list[EnsembleMember], **kwargs: object) -> object:
        return train_ensemble(
            "paper_cnn", 4, SIZE, members_, train.labels, test.labels, short, **kwargs
        )

    with pytest.raises(ValueError, match="at least one"):
        run([])
    with pytest.raises(ValueError, match=r"members\[1\].train_images"):
        run([members[0], replace(members[1], train_images=members[1].train_images[:5])])
    with pytest.raises(ValueError, match=r"members\[0\].test_images must be a uint8"):
        run([replace(members[0], test_images=members[0].test_images.float())])
    with pytest.raises(ValueError, match=r"members\[0\].seed"):
        run([replace(members[0], seed=-1)])
    with pytest.raises(ValueError, match="backend"):
        run(members[:1], backend="jit")
    with pytest.raises(ValueError, match="chunk_size"):
        run(members[:1], chunk_size=-1)
    with pytest.raises(ValueError, match="train_labels"):
        train_ensemble("paper_cnn", 4, SIZE, members, train.labels[:-1], test.labels, short)
    with pytest.raises(ValueError, match="32x32"):
        train_ensemble("paper_cnn", 4, 32, members, train.labels, test.labels, short)
    batched = make_ensemble_train_and_evaluate("paper_cnn", short, 4, SIZE)
    other = train.labels.roll(1)
    cells = [(m.train_images, train.labels, m.test_images, test.labels, m.seed) for m in members]
    with pytest.raises(ValueError, match="share their labels"):
        batched([cells[0], (cells[1][0], other, *cells[1][2:])])
    with pytest.raises(KeyError):
        make_ensemble_train_and_evaluate("no_such_model", short, 4, SIZE)
    with pytest.raises(ValueError, match="grouped"):
        make_forward(nn.Sequential(nn.Linear(2, 2)), {}, "grouped")


def test_chunk_size_counts_data_weights_adam_state_and_activations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paper scale: per member 153.6 MB train + 30.72 MB test images, 4 x 1,116,970 float32
    parameters, 3 x 4 bytes x 216,586 activations per image x 100 images: 462,094,720 bytes.
    60 % of 80 GB free holds 103 of them."""
    from bench.ensemble_chunks import activation_numel, cuda_chunk_size
    from bench.models import PaperCNN

    # input 3072; 2 convs + ReLUs 4 x 32768; pool 8192; 2 convs + ReLUs 4 x 16384; pool and
    # flatten 2 x 4096; dense 256, ReLU 256, logits 10
    expected = 3072 + 4 * 32768 + 8192 + 4 * 16384 + 2 * 4096 + 256 + 256 + 10
    assert activation_numel(PaperCNN(), 3, 32, 32) == expected == 216_586
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (80_000_000_000, 0))
    size = cuda_chunk_size(
        PaperCNN(), torch.Size((50_000, 3, 32, 32)), torch.Size((10_000, 3, 32, 32)), 100,
        torch.device("cuda"),
    )  # fmt: skip
    assert size == 48_000_000_000 // 462_094_720 == 103
