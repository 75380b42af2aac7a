"""ROAR/KAR cells are paired across methods, and the batched (ensemble) path gives the same cells.

Pairing: every image is constant (value = its index, 0..N-1) and the fill is 255, so any pixel the
occlusion leaves shows which image it is. A registered recording model logs its weights at its
first forward pass and the image ids of every training batch. The cells of two methods (and of
Random) at one (fraction, seed) must start from identical weights and see identical batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from bench.cells import make_cell_trainer
from bench.ensemble import make_ensemble_train_and_evaluate
from bench.models import MODELS, ModelSpec, PaperCNN
from bench.training import TrainRecipe
from metrics import roar_kar

N, SIZE, CLASSES = 24, 8, 3
RECIPE = TrainRecipe(epochs=2, batch_size=8)
FRACTIONS, SEEDS = (0.25, 0.75), (0, 1)


class _Recording(PaperCNN):
    """PaperCNN that logs (initial weights, batches of image ids) per model while training."""

    log: list[dict] = []

    def __init__(self) -> None:
        super().__init__(num_classes=CLASSES, image_size=SIZE)
        self.entry: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.entry is None:
                weights = {k: v.detach().clone() for k, v in self.state_dict().items()}
                self.entry = {"init": weights, "batches": []}
                _Recording.log.append(self.entry)
            ids = ((x.amin(dim=(1, 2, 3)) + 1) * 127.5).round().long()  # back to pixel values
            self.entry["batches"].append(ids.tolist())
        return super().forward(x)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models: a second thread only adds synchronisation on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def recording_model() -> Iterator[str]:
    MODELS.register("recording_cnn", ModelSpec("recording_cnn", lambda c, s: _Recording(), "test"))
    _Recording.log.clear()
    yield "recording_cnn"
    MODELS.unregister("recording_cnn")


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.arange(N, dtype=torch.uint8).view(N, 1, 1, 1).expand(N, 3, SIZE, SIZE).clone()
    labels = torch.arange(N) % CLASSES
    return images, labels, images[:9].clone(), labels[:9].clone()


def _maps(seed: int, n: int) -> torch.Tensor:
    return torch.randn(n, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_cells_of_all_methods_share_initialisation_and_batches(recording_model: str) -> None:
    train_x, train_y, test_x, test_y = _data()
    trainer = make_cell_trainer(recording_model, RECIPE, CLASSES, SIZE)
    methods = {"a": (_maps(1, N), _maps(2, 9)), "b": (_maps(3, N), _maps(4, 9)), "random": (None, None)}
    logs: dict[str, list[dict]] = {}
    for name, (train_maps, test_maps) in methods.items():
        _Recording.log.clear()
        roar_kar(trainer, train_x, train_y, test_x, test_y, train_maps, test_maps, fill=[255] * 3,
                 fractions=FRACTIONS, seeds=SEEDS, modes=("roar",))
        logs[name] = list(_Recording.log)
    cells = [(f, s) for f in FRACTIONS for s in SEEDS]  # roar_kar's order
    for index in range(len(cells)):
        reference = logs["a"][index]
        assert len(reference["batches"]) == 2 * 3  # 2 epochs of 3 batches
        assert sorted(sum(reference["batches"][:3], [])) == list(range(N))  # ids are read back
        for other in ("b", "random"):
            entry = logs[other][index]
            assert entry["batches"] == reference["batches"]
            for key, value in reference["init"].items():
                assert torch.equal(entry["init"][key], value), key
    # Not vacuous: another seed starts elsewhere and shuffles otherwise.
    seed0, seed1 = logs["a"][0], logs["a"][1]
    assert seed0["batches"] != seed1["batches"]
    assert not torch.equal(seed0["init"]["features.0.weight"], seed1["init"]["features.0.weight"])
    assert len(logs["a"]) == len(logs["b"]) == len(logs["random"]) == len(cells)


def test_batched_path_gives_the_sequential_cells_in_float64() -> None:
    from bench.data import make_synthetic

    train, test = make_synthetic(40, 20, seed=5, image_size=SIZE * 2)
    maps = [_maps(7, 40).repeat_interleave(2, 1).repeat_interleave(2, 2),
            _maps(8, 20).repeat_interleave(2, 1).repeat_interleave(2, 2)]
    recipe = TrainRecipe(epochs=3, batch_size=10)
    sequential = make_cell_trainer("paper_cnn", recipe, 4, SIZE * 2, dtype=torch.float64)
    batched = make_ensemble_train_and_evaluate("paper_cnn", recipe, 4, SIZE * 2, per_image=True,
                                               dtype=torch.float64)
    got: dict[str, dict] = {"sequential": {}, "batched": {}}
    results = {}
    for name, kwargs in (("sequential", {}), ("batched", {"batch_train_and_evaluate": batched,
                                                          "group_size": 3})):
        results[name] = roar_kar(
            sequential if name == "sequential" else None, train.images, train.labels,
            test.images, test.labels, *maps, fill=[128, 128, 128], fractions=(0.2, 0.6),
            seeds=(0, 1), on_correct=lambda m, f, s, c, out=got[name]: out.__setitem__((m, f, s), c),
            **kwargs,
        )  # fmt: skip
    assert results["batched"].cells.equals(results["sequential"].cells)
    assert got["batched"].keys() == got["sequential"].keys() and len(got["batched"]) == 8
    for cell, correct in got["sequential"].items():
        assert torch.equal(got["batched"][cell], correct), cell
    accuracies = results["sequential"].cells["accuracy"]
    assert accuracies.nunique() > 1  # the cells learn different things: the comparison bites
