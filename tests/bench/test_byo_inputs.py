"""A model's declared input scaling, models by name (torchvision, package.module:factory), and
user weights checked against the architecture (issue 13)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.data import to_model_input
from bench.data.transform import IMAGENET_INPUT, PAPER_INPUT, InputTransform
from bench.models import PaperCNN, create_model, input_transform, model_spec
from bench.plugins import PluginError
from bench.training import ModelCache, train_or_load
from bench.weights import WeightsError, load_weights, model_label, weights_sha256

pytestmark = pytest.mark.usefixtures("restore_registries")

ALL_PIXELS = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2, 3, 16, 16)


# --- InputTransform -------------------------------------------------------------------------------


def test_the_default_transform_is_the_papers_scaling_bit_for_bit() -> None:
    assert InputTransform() == PAPER_INPUT and InputTransform(low=-1, high=1) == PAPER_INPUT
    assert torch.equal(PAPER_INPUT(ALL_PIXELS), to_model_input(ALL_PIXELS))
    assert PAPER_INPUT(ALL_PIXELS)[0, 0, 0, 0] == -1 and PAPER_INPUT(ALL_PIXELS)[0, 0, -1, -1] == 1


def test_a_value_range_maps_0_and_255_to_its_ends() -> None:
    unit = InputTransform(low=0.0, high=1.0)(ALL_PIXELS)
    assert unit.dtype == torch.float32 and unit.shape == ALL_PIXELS.shape
    assert unit.flatten()[[0, 51, 255]].tolist() == pytest.approx([0.0, 0.2, 1.0], abs=1e-7)
    wide = InputTransform(low=-2.0, high=6.0)(ALL_PIXELS).flatten()
    assert wide[[0, 255]].tolist() == [-2.0, 6.0]


def test_mean_std_is_torchvisions_normalisation_per_channel() -> None:
    pixel = torch.tensor([255, 0, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert IMAGENET_INPUT(pixel).flatten().tolist() == pytest.approx(expected, rel=1e-6)
    five_d = pixel.view(1, 1, 3, 1, 1).expand(2, 4, 3, 1, 1)  # channels at dim -3 anywhere
    assert IMAGENET_INPUT(five_d)[1, 3].flatten().tolist() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mean": (0.5,), "std": ()}, "one value per channel"),
    ({"mean": (0.5,), "std": (0.0,)}, "std must be > 0"),
    ({"low": 1.0, "high": 1.0}, "high must be greater than low"),
    ({"low": 0.0, "high": 1.0, "mean": (0.5,), "std": (0.5,)}, "not both"),
])
def test_a_transform_that_cannot_work_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InputTransform(**kwargs)


def test_a_transform_checks_its_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        IMAGENET_INPUT(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="3 channels at dim -3"):
        IMAGENET_INPUT(torch.zeros(1, 1, 2, 2, dtype=torch.uint8))


# --- models by name -------------------------------------------------------------------------------


def test_any_torchvision_classifier_by_name_with_imagenet_input() -> None:
    spec = model_spec("torchvision.resnet18")
    assert spec.input == IMAGENET_INPUT and input_transform("paper_cnn") == PAPER_INPUT
    torch.manual_seed(0)
    logits = create_model("torchvision.resnet18", 3, 64).eval()(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 3)
    with pytest.raises(KeyError, match="did you mean torchvision.resnet18"):
        model_spec("torchvision.resnet81")


def test_googlenet_returns_logits_in_training_mode_and_keeps_its_auxiliary_heads() -> None:
    torch.manual_seed(0)
    model = create_model("torchvision.googlenet", 4, 64).train()
    assert isinstance(model(torch.zeros(2, 3, 64, 64)), torch.Tensor)
    assert any(k.startswith("aux1.") for k in model.state_dict())  # torchvision checkpoints fit


def _write_module(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(text)


_MODELS_MODULE = '''
import torch
from torch import nn
from bench.models import InputTransform, ModelSpec

class Recorder(nn.Module):
    """Records the smallest and largest input value it was given."""
    def __init__(self, num_classes):
        super().__init__()
        self.linear = nn.Linear(3, num_classes)
        self.seen = [float("inf"), float("-inf")]
    def forward(self, x):
        self.seen = [min(self.seen[0], float(x.min())), max(self.seen[1], float(x.max()))]
        return self.linear(x.mean(dim=(2, 3)))

def plain(num_classes, image_size):
    """A factory without a declared input."""
    return Recorder(num_classes)

UNIT = ModelSpec("unit", plain, "inputs in [0, 1]", input=InputTransform(low=0.0, high=1.0))
NOT_A_MODEL = 3
'''


def test_package_module_factory_names_a_spec_or_a_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_module(tmp_path, "byo_models", _MODELS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert model_spec("byo_models:UNIT").input == InputTransform(low=0.0, high=1.0)
    plain = model_spec("byo_models:plain")
    assert plain.input == PAPER_INPUT and plain.description == "A factory without a declared input."
    with pytest.raises(PluginError, match="byo_models has no attribute missing"):
        model_spec("byo_models:missing")
    with pytest.raises(PluginError, match="cannot import no_such_module .ModuleNotFoundError"):
        model_spec("no_such_module:factory")
    with pytest.raises(ValueError, match="names a int; it must name a bench.models.ModelSpec"):
        model_spec("byo_models:NOT_A_MODEL")


def test_training_and_prediction_feed_the_model_its_declared_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_module(tmp_path, "byo_models", _MODELS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    x = ALL_PIXELS[:, :, :4, :4].contiguous()  # values 0..51 and 16..67: a range of pixels
    x = torch.cat([x, torch.full_like(x, 255)])
    y = torch.tensor([0, 1, 0, 1])
    recipe_args = dict(num_classes=2, progress=False)
    from bench.config import TrainRecipe

    recipe = TrainRecipe(epochs=1, batch_size=4)
    cache = ModelCache(tmp_path / "cache")
    for name, low in (("byo_models:UNIT", 0.0), ("byo_models:plain", -1.0)):
        model, info = train_or_load(cache, name, x, y, x, y, recipe, 0, **recipe_args)
        assert model.seen == [low, 1.0]  # min pixel 0 -> low, max 255 -> 1
    # the declared input is part of the cache key of a non-paper model only
    keys = {p.stem for p in (tmp_path / "cache").iterdir()}
    assert len(keys) == 2


# --- weights --------------------------------------------------------------------------------------


def _paper_cnn(num_classes: int = 3, seed: int = 0) -> PaperCNN:
    torch.manual_seed(seed)
    return PaperCNN(num_classes=num_classes)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "data_parallel"])
def test_weights_load_from_a_state_dict_or_a_checkpoint_dict(tmp_path: Path, wrap: str) -> None:
    source = _paper_cnn(seed=1)
    state = source.state_dict()
    saved: object = {
        "plain": state, "state_dict": {"state_dict": state, "epoch": 7},
        "model": {"model": state, "optimizer": {"lr": 0.1}},
        "data_parallel": {f"module.{k}": v for k, v in state.items()},
    }[wrap]
    path = tmp_path / "w.pt"
    torch.save(saved, path)
    target = _paper_cnn(seed=2)
    sha = load_weights(target, path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest() == weights_sha256(path)
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), state.values(),
                                                 strict=True))
    assert model_label("paper_cnn", str(path)) == f"paper_cnn@{sha[:12]}"
    assert model_label("paper_cnn", "") == "paper_cnn"


def test_weights_of_another_class_count_name_every_shape_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "five.pt"
    torch.save(_paper_cnn(num_classes=5).state_dict(), path)
    with pytest.raises(WeightsError) as caught:
        load_weights(_paper_cnn(num_classes=3), path, name="paper_cnn")
    assert caught.value.problem == (
        "do not fit model paper_cnn: 2 shape mismatches (classifier.3.weight file (5, 256) vs "
        "model (3, 256), classifier.3.bias file (5,) vs model (3,))")


def test_weights_of_another_architecture_name_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = _paper_cnn().state_dict()
    state["head.weight"] = state.pop("classifier.3.weight")
    path = tmp_path / "renamed.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"1 missing keys \(classifier.3.weight\); 1 unexpected "
                       r"keys \(head.weight\)"):
        load_weights(_paper_cnn(), path)


def test_torchscript_and_pickled_modules_are_refused(tmp_path: Path) -> None:
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(_paper_cnn()).save(str(scripted))
    with pytest.raises(WeightsError, match="a TorchScript archive is refused"):
        load_weights(_paper_cnn(), scripted)
    pickled = tmp_path / "module.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2)), pickled)
    with pytest.raises(WeightsError, match="cannot be read safely with weights_only=True"):
        load_weights(_paper_cnn(), pickled)
    empty = tmp_path / "empty.pt"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(WeightsError, match="the dict holds no tensors"):
        load_weights(_paper_cnn(), empty)
