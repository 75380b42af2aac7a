"""Training with the paper's recipe: seeded and deterministic on the CPU, accuracy helpers, the
ROAR/KAR retraining callable, and the model cache (a second call does not train)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

import bench.training as training
from bench.data import ImageSet, make_synthetic, to_model_input
from bench.models import create_model
from bench.training import (
    ModelCache,
    TrainRecipe,
    evaluate_accuracy,
    make_train_and_evaluate,
    predict,
    train_or_load,
    train_tensors,
)

RECIPE = TrainRecipe(epochs=2, batch_size=50, lr=1e-3)


def train_model(model: torch.nn.Module, data: ImageSet, recipe: TrainRecipe, seed: int = 0):
    return train_tensors(model, data.images, data.labels, recipe, seed)


@pytest.fixture(scope="module")
def tiny() -> tuple[ImageSet, ImageSet]:
    """200 train / 60 test synthetic 16x16 images, 4 classes: a training run takes ~1 s."""
    return make_synthetic(200, 60, seed=0, image_size=16)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("paper_cnn", num_classes=4, image_size=16)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_recipe_defaults_are_the_papers() -> None:
    recipe = TrainRecipe()
    assert recipe.to_dict() == {"epochs": 20, "batch_size": 100, "lr": 1e-3}
    with pytest.raises(ValueError, match="epochs"):
        TrainRecipe(epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainRecipe(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        TrainRecipe(lr=0.0)


def test_same_seeds_give_identical_weights_and_losses(tiny: tuple[ImageSet, ImageSet]) -> None:
    train, _ = tiny
    first = train_model(_model(0), train, RECIPE)
    torch.manual_seed(123)  # the caller's global RNG state must not matter once the model exists
    second = train_model(_model(0), train, RECIPE)
    assert _same_weights(first.model, second.model)
    assert first.epoch_losses == second.epoch_losses and len(first.epoch_losses) == 2
    assert not first.model.training and first.seconds > 0
    other_shuffle = train_model(_model(0), train, RECIPE, seed=1)
    assert not _same_weights(first.model, other_shuffle.model)
    other_init = train_model(_model(1), train, RECIPE)
    assert not _same_weights(first.model, other_init.model)
    untrained = _model(0)
    assert not _same_weights(first.model, untrained)
    # Training leaves the caller's global RNG alone (own shuffle generator, forked RNG inside):
    state = torch.random.get_rng_state()
    train_model(untrained, train, RECIPE)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_epoch_loss_is_the_mean_cross_entropy(tiny: tuple[ImageSet, ImageSet]) -> None:
    # One epoch with one batch holding every image: the recorded loss is the loss before the step.
    train, _ = tiny
    model = _model(0)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(
            model(to_model_input(train.images)), train.labels
        )
    result = train_model(model, train, TrainRecipe(epochs=1, batch_size=len(train)))
    assert result.epoch_losses[0] == pytest.approx(float(expected), rel=1e-5)


def test_predict_and_accuracy_match_a_plain_forward_pass(tiny: tuple[ImageSet, ImageSet]) -> None:
    train, test = tiny
    model = train_model(_model(0), train, RECIPE).model
    with torch.no_grad():
        expected = model(to_model_input(test.images)).argmax(1)
    assert torch.equal(predict(model, test.images, batch_size=7), expected)
    accuracy = evaluate_accuracy(model, test.images, test.labels, batch_size=16)
    assert accuracy == pytest.approx(float((expected == test.labels).double().mean()))
    assert 0.0 <= accuracy <= 1.0
    model.train()
    predict(model, test.images)
    assert model.training  # the caller's mode is restored
    with pytest.raises(ValueError, match="uint8"):
        predict(model, to_model_input(test.images))
    with pytest.raises(ValueError, match="labels must be an int64"):
        evaluate_accuracy(model, test.images, test.labels[:3])


def test_train_tensors_checks_its_inputs(tiny: tuple[ImageSet, ImageSet]) -> None:
    train, _ = tiny
    with pytest.raises(ValueError, match="images must be a uint8"):
        train_tensors(_model(), to_model_input(train.images), train.labels, RECIPE, 0)
    with pytest.raises(ValueError, match="labels must be an int64"):
        train_tensors(_model(), train.images, train.labels.int(), RECIPE, 0)
    with pytest.raises(ValueError, match="empty"):
        train_tensors(_model(), train.images[:0], train.labels[:0], RECIPE, 0)


def test_train_and_evaluate_callable_is_seeded(tiny: tuple[ImageSet, ImageSet]) -> None:
    train, test = tiny
    run = make_train_and_evaluate("paper_cnn", RECIPE, num_classes=4, image_size=16, device="cpu")
    state = torch.random.get_rng_state()
    accuracy = run(train.images, train.labels, test.images, test.labels, 3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert run(train.images, train.labels, test.images, test.labels, 3) == accuracy
    # The same as doing it by hand: seed, create, train with the same seed, evaluate.
    torch.manual_seed(3)
    model = create_model("paper_cnn", 4, 16)
    train_tensors(model, train.images, train.labels, RECIPE, 3, progress=False)
    assert evaluate_accuracy(model, test.images, test.labels) == accuracy
    assert 0.0 <= accuracy <= 1.0
    with pytest.raises(KeyError, match="paper_cnn"):
        make_train_and_evaluate("no_such_model", RECIPE, 4, 16, "cpu")


def test_model_cache_key_save_and_load(tmp_path: Path, tiny: tuple[ImageSet, ImageSet]) -> None:
    cache = ModelCache(tmp_path / "models")
    key = cache.key("abc", "paper_cnn", RECIPE, 0)
    assert len(key) == 64 and key == cache.key("abc", "paper_cnn", TrainRecipe(2, 50, 1e-3), 0)
    variants = {
        cache.key("abd", "paper_cnn", RECIPE, 0),
        cache.key("abc", "torchvision.resnet18", RECIPE, 0),
        cache.key("abc", "paper_cnn", replace(RECIPE, epochs=3), 0),
        cache.key("abc", "paper_cnn", RECIPE, 1),
        cache.key("abc", "paper_cnn", RECIPE, 0, extra={"num_classes": 10}),
    }
    assert key not in variants and len(variants) == 5
    assert cache.load(key, _model()) is None

    trained = train_model(_model(0), tiny[0], RECIPE).model
    path = cache.save(key, trained, {"test_accuracy": 0.5, "epoch_losses": [1.0, 0.5]})
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file
    fresh = _model(7)
    assert cache.load(key, fresh) == {"test_accuracy": 0.5, "epoch_losses": [1.0, 0.5]}
    assert _same_weights(fresh, trained)

    wrong = create_model("paper_cnn", num_classes=10, image_size=16)
    with pytest.warns(UserWarning, match="retraining"):
        assert cache.load(key, wrong) is None
    path.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        assert cache.load(key, _model()) is None
    with pytest.raises(ValueError, match="hex digest"):
        cache.path("../escape")


def test_train_or_load_trains_once(
    tmp_path: Path, tiny: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = tiny
    cache = ModelCache(tmp_path)
    data = (train.images, train.labels, test.images, test.labels)
    model, info = train_or_load(cache, "paper_cnn", *data, RECIPE, 2, num_classes=4, progress=False)
    assert info["cached"] is False and len(info["epoch_losses"]) == 2
    assert info["test_accuracy"] == evaluate_accuracy(model, test.images, test.labels)
    assert info["recipe"] == RECIPE.to_dict() and info["seed"] == 2

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained although the model is cached")

    monkeypatch.setattr(training, "train_tensors", no_training)
    again, info2 = train_or_load(cache, "paper_cnn", *data, RECIPE, 2, num_classes=4, progress=False)
    assert info2["cached"] is True and not again.training
    assert info2["test_accuracy"] == info["test_accuracy"]
    assert _same_weights(again, model)
    with pytest.raises(AssertionError, match="trained although"):
        train_or_load(cache, "paper_cnn", *data, RECIPE, 3, num_classes=4)  # other seed


def test_train_or_load_keys_on_the_data(
    tmp_path: Path, tiny: tuple[ImageSet, ImageSet], monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = tiny
    cache = ModelCache(tmp_path)
    _, info = train_or_load(cache, "paper_cnn", train.images, train.labels, test.images,
                            test.labels, RECIPE, 0, num_classes=4, progress=False)
    monkeypatch.setattr(
        training, "train_tensors", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained"))
    )
    occluded = train.images.clone()
    occluded[:, :, :4] = 0  # other data -> other key -> trains
    with pytest.raises(AssertionError, match="trained"):
        train_or_load(cache, "paper_cnn", occluded, train.labels, test.images, test.labels,
                      RECIPE, 0, num_classes=4)
