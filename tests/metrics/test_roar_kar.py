"""curve_area and roar_kar: hand-computed scores, a tiny real trainer, resuming from ``done``."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from metrics import curve_area, roar_kar

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def test_curve_area_is_trapezoid_over_span() -> None:
    assert curve_area([0.0, 0.5, 1.0], [1.0, 0.5, 0.5]) == pytest.approx(0.625)
    # uneven spacing: trapezoid 0.2 * 1 + 0.6 * 0.5 = 0.5, span 0.8
    assert curve_area([0.1, 0.3, 0.9], [1.0, 1.0, 0.0]) == pytest.approx(0.625)
    # a flat curve has its height as score
    assert curve_area(FRACTIONS, [0.7] * 5) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("fractions", "accuracies", "match"),
    [
        ([0.5], [1.0], "at least two"),
        ([0.1, 0.1], [1.0, 1.0], "strictly increasing"),
        ([0.5, 0.1], [1.0, 1.0], "strictly increasing"),
        ([0.1, 1.2], [1.0, 1.0], r"in \[0, 1\]"),
        ([0.1, 0.2], [1.0], "one value per fraction"),
        ([0.1, 0.2], [1.0, float("nan")], "finite"),
    ],
)
def test_curve_area_bad_input(fractions: list, accuracies: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        curve_area(fractions, accuracies)


def _constant_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((n, 1, 2, 5), 200, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64)


def _share_kept(train_x, train_y, test_x, test_y, seed: int) -> float:  # noqa: ANN001
    """A stand-in 'accuracy': share of test pixels not replaced (exactly 1 - k / 10 for ROAR)."""
    return float((test_x != 0).float().mean()) + 0.01 * seed


def test_scores_by_hand_with_a_counting_trainer() -> None:
    # ROAR curve 0.9, 0.7, 0.5, 0.3, 0.1 (+0.01 mean seed offset): mean height 0.5 + 0.01
    # KAR curve 0.1, ..., 0.9 (+0.01): mean height 0.51 -> AOC 0.49
    images, labels = _constant_images(4)
    maps = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(0))
    result = roar_kar(_share_kept, images, labels, images, labels, maps, maps, fill=[0])
    assert result.roar_auc == pytest.approx(0.51)
    assert result.kar_aoc == pytest.approx(0.49)
    roar = result.cells[(result.cells["mode"] == "roar") & (result.cells["seed"] == 0)]
    assert roar["accuracy"].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.3, 0.1])
    assert list(result.cells.columns) == ["mode", "fraction", "seed", "accuracy"]
    assert len(result.cells) == 2 * 5 * 3
    # the area is linear, so the mean of per-seed scores equals the score of the mean curve
    assert result.seed_scores["roar_auc"].tolist() == pytest.approx([0.50, 0.51, 0.52])
    assert result.seed_scores["kar_aoc"].mean() == pytest.approx(result.kar_aoc)


def test_random_baseline_scores_sum_to_one() -> None:
    images, labels = _constant_images(3)
    result = roar_kar(_share_kept, images, labels, images, labels, None, None, fill=[0], seeds=(0,))
    assert result.roar_auc + result.kar_aoc == pytest.approx(1.0)
    assert result.roar_auc == pytest.approx(0.5)


def _blob_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two classes told apart only by a bright 2x4 blob (top rows: class 0, bottom: class 1)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 60, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    truth = torch.zeros(n, 8, 8)
    truth[labels == 0, 1:3, 2:6] = 1.0
    truth[labels == 1, 5:7, 2:6] = 1.0
    images[:, 0][truth.bool()] = 250
    return images, labels.long(), truth


def _nearest_class_mean(train_x, train_y, test_x, test_y, seed: int) -> float:  # noqa: ANN001
    train, test = train_x.flatten(1).float(), test_x.flatten(1).float()
    means = torch.stack([train[train_y == c].mean(0) for c in (0, 1)])
    return float((torch.cdist(test, means).argmin(1) == test_y).float().mean())


def test_oracle_maps_beat_random_on_a_real_tiny_trainer() -> None:
    train_x, train_y, train_maps = _blob_data(40, 0)
    test_x, test_y, test_maps = _blob_data(20, 1)
    args = (_nearest_class_mean, train_x, train_y, test_x, test_y)
    kwargs = {"fill": [30], "fractions": (0.125, 0.5), "seeds": (0, 1)}
    oracle = roar_kar(*args, train_maps, test_maps, **kwargs)
    random = roar_kar(*args, None, None, **kwargs)
    # Removing the top 12.5 % (8 of 64 pixels: exactly the blob) leaves nothing to learn: chance.
    cells = oracle.cells
    first = cells[(cells["mode"] == "roar") & (cells["fraction"] == 0.125)]
    assert first["accuracy"].tolist() == [0.5, 0.5]
    # Random removal leaves most of the blob: perfect accuracy at every fraction.
    assert random.roar_auc == pytest.approx(1.0) and oracle.roar_auc < 0.5
    # Keeping only the blob keeps everything: perfect accuracy, AOC 0; Random loses some.
    assert oracle.kar_aoc == pytest.approx(0.0)
    assert random.kar_aoc > 0.0


def test_resume_from_done_skips_finished_cells_and_gives_identical_scores() -> None:
    train_x, train_y, train_maps = _blob_data(40, 0)
    test_x, test_y, test_maps = _blob_data(20, 1)
    noisy_maps = train_maps + torch.rand(
        train_maps.shape, generator=torch.Generator().manual_seed(2)
    )
    args = (train_x, train_y, test_x, test_y, noisy_maps, test_maps)
    kwargs = {"fill": [30], "fractions": (0.1, 0.3, 0.5), "seeds": (0, 1)}

    persisted: dict[tuple[str, float, int], float] = {}
    calls: list[int] = []

    def trainer(tx, ty, vx, vy, seed: int) -> float:  # noqa: ANN001
        calls.append(seed)
        return _nearest_class_mean(tx, ty, vx, vy, seed)

    full = roar_kar(
        trainer, *args, **kwargs, on_cell=lambda m, f, s, a: persisted.update({(m, f, s): a})
    )
    assert len(calls) == len(persisted) == 12

    # a run killed after 7 cells resumes with those 7 and trains only the other 5
    done = dict(list(persisted.items())[:7])
    calls.clear()
    new_cells: list[tuple] = []
    resumed = roar_kar(
        trainer, *args, **kwargs, done=done, on_cell=lambda m, f, s, a: new_cells.append((m, f, s))
    )
    assert len(calls) == 5
    assert set(new_cells) == set(persisted) - set(done)
    pd.testing.assert_frame_equal(resumed.cells, full.cells)
    assert (resumed.roar_auc, resumed.kar_aoc) == (full.roar_auc, full.kar_aoc)


def test_executor_receives_only_missing_cells() -> None:
    images, labels = _constant_images(2)
    seen: list[tuple] = []

    class Recording:
        def map(self, fn, items):  # noqa: ANN001, ANN202
            items = list(items)
            seen.extend(items)
            return [fn(item) for item in items]

    done = {("roar", 0.1, 0): 0.9}
    roar_kar(
        _share_kept,
        images,
        labels,
        images,
        labels,
        None,
        None,
        fill=[0],
        fractions=(0.1, 0.5),
        seeds=(0,),
        modes=("roar",),
        done=done,
        executor=Recording(),
    )
    assert seen == [("roar", 0.5, 0)]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fractions": (0.1, 1.1)}, "fractions must be in"),
        ({"fractions": (0.1,)}, "at least two"),
        ({"seeds": ()}, "seeds"),
        ({"modes": ("roar", "other")}, "modes"),
        ({"train_maps": None}, "both"),
        ({"train_labels": torch.zeros(3, dtype=torch.int64)}, "train_labels has 3 labels"),
        ({"test_maps": torch.zeros(2, 2, 4)}, "test_maps must have shape"),
        ({"done": {("roar", 0.1): 0.5}}, "done keys"),
    ],
)
def test_bad_input(change: dict, match: str) -> None:
    images, labels = _constant_images(2)
    args = {
        "train_images": images,
        "train_labels": labels,
        "test_images": images,
        "test_labels": labels,
        "train_maps": torch.zeros(2, 2, 5),
        "test_maps": torch.zeros(2, 2, 5),
        "fill": [0],
    }
    args.update(change)
    with pytest.raises(ValueError, match=match):
        roar_kar(_share_kept, **args)
