"""The benchmark runner: every selected method through every selected metric, stored and resumable.

A run is identified by the hash of its resolved configuration, so rerunning the same command in the
same folder resumes it: trained models, attribution maps, per-image scores and ROAR/KAR cells that
are already stored are reused, and only missing work is done. Everything is seeded, so an
interrupted and resumed run ends with the same numbers as an uninterrupted one.

Stages (wall time of each is stored in the ``stages`` table, summed over the invocations of a
resumed run):
``data`` -> ``train`` (clean model) -> ``train_patch`` (model on the random-patch data, only when
``patch_attribution`` is asked for) -> ``metrics`` (attributions + per-image metrics per method)
-> ``roar_kar`` (occlusion + retraining) -> ``summary`` -> ``report``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from bench.config import RunConfig, config_hash
from bench.data import ImageSet, add_patch, make_patch, to_model_input
from bench.environment import environment_facts, resolve_device
from bench.executor import Executor, LocalExecutor
from bench.hashing import tensor_digest
from bench.map_cache import MapCache
from bench.store import ResultStore
from bench.training import ModelCache, TrainRecipe, make_train_and_evaluate, predict, train_or_load
from methods import METHODS, create_method, to_map
from metrics import METRICS, MetricInputs, roar_kar, score_cells, summarize
from reports import leaderboard_table

__all__ = ["RunResult", "run_benchmark", "patch_box"]


def patch_box(patch_size: int) -> tuple[int, int, int, int]:
    """The scored region of a top-left patch: the paper's 8x8 of its 10x10 patch (the first 3x3
    conv's receptive field makes the patch's inner ring ambiguous)."""
    side = max(1, patch_size - 2)
    return (0, 0, side, side)

_RETRAINING = {"roar_auc": "roar", "kar_aoc": "kar"}

# The Random baseline's maps are uniform noise on an arbitrary scale: sums of |map| mean nothing
# for it (and would dwarf every plot), while scale-free metrics give a useful chance level.
_CHANCE_METHODS = frozenset({"random"})
_SCALE_DEPENDENT = frozenset({"patch_attribution", "background_mass", "total_variation"})


@dataclass
class RunResult:
    """What a finished run leaves: its folder, id, tidy scores, and the leaderboard (one row per
    method, indexed by method name, one column per metric plus ``rank``, sorted by rank)."""

    run_dir: Path
    run_id: str
    scores: pd.DataFrame
    leaderboard: pd.DataFrame
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class _Split:
    """Images a set of metrics is computed on, with the model that explains them."""

    name: str
    model: torch.nn.Module
    model_key: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    targets: torch.Tensor  # int64 (N,), the model's predicted class (the paper's target)
    masks: torch.Tensor | None = None  # bool (N, H, W)
    patch_box: tuple[int, int, int, int] | None = None
    indices: torch.Tensor | None = None  # positions in the source set, for the gallery


def run_benchmark(
    config: RunConfig,
    out: str | Path,
    *,
    fresh: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
    echo: Callable[[str], None] = print,
    report: bool = True,
) -> RunResult:
    """Run ``config`` into the folder ``out`` (created), resuming whatever is already there.

    Args:
        config: The resolved run configuration (a preset or a TOML file).
        out: Run folder: ``results.sqlite``, ``config.toml``, ``scores.csv``, ``leaderboard.csv``,
            ``report.html`` and ``cache/`` (models, maps) are written there.
        fresh: Delete the folder's store and caches first instead of resuming.
        progress: Show progress bars.
        executor: Runs ROAR/KAR cells; default in-process, one after another.
        echo: Where status lines go.
        report: Build ``report.html`` and the CSVs at the end.

    Raises:
        KeyError: An unknown method or metric name (the message lists the valid names).
        FileNotFoundError: Data or masks missing (the message says where it looked).
    """
    return _Run(config, Path(out), fresh, progress, executor or LocalExecutor(), echo).execute(report)


class _Run:
    def __init__(
        self, config: RunConfig, out: Path, fresh: bool, progress: bool, executor: Executor,
        echo: Callable[[str], None],
    ) -> None:
        for name in config.methods:
            METHODS.get(name)
        for name in config.metrics:
            METRICS.get(name)
        if not config.methods:
            raise ValueError("config.methods is empty: name at least one method")
        if not config.metrics:
            raise ValueError("config.metrics is empty: name at least one metric")
        self.config = config
        self.out = out
        self.progress = progress
        self.executor = executor
        self.echo = echo
        self.device = resolve_device(config.device)
        if fresh and out.exists():
            for name in ("results.sqlite", "results.sqlite-wal", "results.sqlite-shm"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "cache", ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        self.run_id = config_hash(replace(config, device="*"))
        self.store = ResultStore(out / "results.sqlite")
        self.models = ModelCache(out / "cache" / "models")
        self.maps = MapCache(out / "cache" / "maps")
        self.stage_seconds: dict[str, float] = {}
        self.recipe = TrainRecipe(
            epochs=config.train.epochs, batch_size=config.train.batch_size, lr=config.train.lr,
            seed=config.seed,
        )

    # -- orchestration --------------------------------------------------------------------------
    def execute(self, report: bool) -> RunResult:
        start = time.perf_counter()
        cfg = self.config
        env = environment_facts(self.device)
        config_toml = cfg.to_toml()
        (self.out / "config.toml").write_text(config_toml)
        (self.out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
        self.store.begin_run(
            self.run_id, preset=cfg.preset, dataset=self._dataset_name(), model=cfg.model,
            config_toml=config_toml, env=env, started=time.time(),
        )
        self.echo(f"run {self.run_id} ({cfg.preset}) -> {self.out}")
        with self._stage("data"):
            train, test = self._load_data()
        with self._stage("train"):
            model, key, accuracy = self._train("clean", train, test)
        self.store.update_run(self.run_id, model_accuracy=accuracy)
        self.echo(f"model test accuracy: {accuracy:.4f}")
        splits = self._splits(model, key, train, test)
        per_image = [m for m in cfg.metrics if METRICS.get(m).kind == "per_image"]
        retraining = [m for m in cfg.metrics if METRICS.get(m).kind == "retraining"]
        with self._stage("metrics"):
            self._per_image_metrics(per_image, splits)
            self._gallery(splits)
        if retraining:
            with self._stage("roar_kar"):
                self._roar_kar(retraining, model, key, train, test)
        with self._stage("summary"):
            scores = self._summaries(per_image, retraining)
        self.store.update_run(self.run_id, finished=time.time())
        if report:
            with self._stage("report"):
                self._report()
        board = leaderboard_table(scores.assign(run_id=self.run_id)).set_index("method")
        seconds = time.perf_counter() - start
        self.store.add_stage_time(self.run_id, "total", seconds)
        self.echo("\n" + board.to_string(float_format=lambda v: f"{v:.4g}"))
        self.echo(f"\ndone in {seconds:.1f} s: {self.out}")
        self.store.close()
        return RunResult(self.out, self.run_id, scores, board, seconds, dict(self.stage_seconds))

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        self.echo(f"[{name}]")
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        self.stage_seconds[name] = seconds
        self.store.add_stage_time(self.run_id, name, seconds)

    def _bar(self, iterable: Any = None, **kwargs: Any) -> Any:
        return tqdm(iterable, disable=not self.progress, dynamic_ncols=True, **kwargs)

    # -- data and models ------------------------------------------------------------------------
    def _dataset_name(self) -> str:
        data = self.config.data
        if data.source == "synthetic":
            return f"synthetic{data.synthetic_classes}-{data.image_size}px"
        return "cifar10"

    def _load_data(self) -> tuple[ImageSet, ImageSet]:
        from bench.data import load_cifar10, make_synthetic

        data, seed = self.config.data, self.config.seed
        if data.source == "synthetic":
            train, test = make_synthetic(
                data.n_train or 2000, data.n_test or 500, seed=seed,
                num_classes=data.synthetic_classes, image_size=data.image_size,
            )
        else:
            train, test = load_cifar10(
                data.path or None, download=data.download, progress=self.progress
            )
            # The JPEG tree is in class order: shuffle with the run's seed before any subsetting.
            train = train.head(data.n_train, seed=seed)
            test = test.head(data.n_test, seed=seed + 1)
        self.echo(f"data: {len(train)} train / {len(test)} test images, {len(train.classes)} classes")
        return train, test

    def _train(self, tag: str, train: ImageSet, test: ImageSet) -> tuple[torch.nn.Module, str, float]:
        model, info = train_or_load(
            self.models, self.config.model, train, test, self.recipe, self.config.seed,
            device=self.device, progress=self.progress,
        )
        key = str(info["cache_key"])
        accuracy = float(info["test_accuracy"])
        self.echo(f"{tag} model {key[:12]}: test accuracy {accuracy:.4f}")
        return model.to(self.device).eval(), key, accuracy

    def _predict(self, model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        return predict(model, images, device=self.device).cpu()

    def _splits(
        self, model: torch.nn.Module, key: str, train: ImageSet, test: ImageSet
    ) -> dict[str, _Split]:
        cfg = self.config
        n_eval = cfg.evaluation.n_images or len(test)
        idx = torch.arange(min(n_eval, len(test)))
        splits: dict[str, _Split] = {}
        ev = test.subset(idx)
        splits["eval"] = _Split("eval", model, key, ev.images, ev.labels,
                                self._predict(model, ev.images), indices=idx)
        requires = {r for m in cfg.metrics for r in METRICS.get(m).requires}
        if "foreground" in requires or any(m.startswith("quantus.") for m in cfg.metrics):
            masked = self._masked_split(model, key, test)
            if masked is not None:
                splits["masked"] = masked
        if "patch_attribution" in cfg.metrics:
            with self._stage("train_patch"):
                patch = make_patch(cfg.data.patch_seed, size=cfg.data.patch_size)
                p_train = replace(train, images=add_patch(train.images, patch))
                p_test = replace(test, images=add_patch(test.images, patch))
                p_model, p_key, _ = self._train("patch", p_train, p_test)
            p_images = p_test.images[idx]
            splits["patch"] = _Split("patch", p_model, p_key, p_images, test.labels[idx],
                                     self._predict(p_model, p_images), patch_box=patch_box(cfg.data.patch_size),
                                     indices=idx)
        return splits

    def _masked_split(self, model: torch.nn.Module, key: str, test: ImageSet) -> _Split | None:
        from bench.data import load_object_masks, select_masked

        cfg = self.config
        if cfg.data.source == "synthetic":
            n = cfg.evaluation.n_images or len(test)
            source = test.subset(torch.arange(min(len(test), max(n, 50 * cfg.data.synthetic_classes))))
        elif cfg.data.masks:
            source = load_object_masks(cfg.data.masks)
        else:
            self.echo("no --masks given: background metrics are skipped (they need object masks)")
            return None
        predicted = self._predict(model, source.images)
        chosen = torch.as_tensor(select_masked(source, predicted, per_class=cfg.evaluation.masked_per_class))
        self.echo(f"masked images: {len(chosen)} correctly classified of {len(source)}")
        return _Split("masked", model, key, source.images[chosen], source.labels[chosen],
                      predicted[chosen], masks=source.masks[chosen], indices=chosen)

    # -- attributions ---------------------------------------------------------------------------
    def _job_seed(self, *parts: str) -> int:
        digest = hashlib.sha256("/".join((str(self.config.seed), *parts)).encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def _attributor(self, method: str, model: torch.nn.Module, seed: int) -> Any:
        overrides: dict[str, Any] = {}
        if "seed" in METHODS.get(method).defaults:
            overrides["seed"] = seed
        return create_method(method, model, **overrides)

    def _raw_maps(self, method: str, split: _Split) -> torch.Tensor:
        """Channel-summed attributions (N, H, W) of ``split`` for ``method``, cached on disk."""
        key = config_hash({"model": split.model_key, "method": method, "split": split.name,
                           "data": tensor_digest(split.images, split.targets)})

        def compute() -> torch.Tensor:
            seed = self._job_seed(method, split.name)
            torch.manual_seed(seed)
            attributor = self._attributor(method, split.model, seed)
            batch = self.config.evaluation.batch_size
            chunks = []
            for start in self._bar(range(0, len(split.images), batch), desc=f"{method}/{split.name}", leave=False):
                x = to_model_input(split.images[start:start + batch]).to(self.device)
                t = split.targets[start:start + batch].to(self.device)
                attributions = attributor.attribute(x, target=t)
                chunks.append(to_map(attributions.detach()).cpu())
            return torch.cat(chunks)

        return self.maps.get_or_compute(key, compute)

    def _attribute_fn(self, method: str, model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            seed = self._job_seed(method, "quantus")
            torch.manual_seed(seed)
            return self._attributor(method, model, seed).attribute(inputs.to(self.device), target=target.to(self.device)).detach()

        return attribute

    # -- metrics --------------------------------------------------------------------------------
    def _split_for(self, metric: str, splits: dict[str, _Split]) -> _Split | None:
        """Which images a metric is computed on (None: not computable in this run)."""
        if metric == "patch_attribution":
            return splits.get("patch")
        if metric.startswith("quantus."):
            n = self.config.evaluation.n_quantus
            base = splits.get("masked") or splits["eval"]
            if n <= 0 or ("foreground" in METRICS.get(metric).requires and base.masks is None):
                return None
            return _Split(f"{base.name}_q{n}", base.model, base.model_key, base.images[:n],
                          base.labels[:n], base.targets[:n],
                          None if base.masks is None else base.masks[:n], base.patch_box)
        if "foreground" in METRICS.get(metric).requires:
            return splits.get("masked")
        return splits["eval"]

    def _per_image_metrics(self, metrics: list[str], splits: dict[str, _Split]) -> None:
        if not metrics:
            return
        for method in self._bar(self.config.methods, desc="methods"):
            map_percentile = METHODS.get(method).map_percentile
            for metric in metrics:
                if method in _CHANCE_METHODS and metric in _SCALE_DEPENDENT:
                    continue
                if self.store.has_image_scores(self.run_id, method, metric):
                    continue
                split = self._split_for(metric, splits)
                if split is None:
                    continue
                raw = self._raw_maps(method, split)
                # The paper's final threshold belongs to its own metrics (PROTOCOL.md); Quantus
                # metrics see the plain channel-summed map, as Quantus users would give it.
                percentile = None if metric.startswith("quantus.") else map_percentile
                maps = to_map(raw.unsqueeze(1), final_threshold_percentile=percentile)
                inputs = MetricInputs(
                    maps=maps.to(self.device), model=split.model,
                    images=to_model_input(split.images).to(self.device),
                    labels=split.labels.to(self.device), targets=split.targets.to(self.device),
                    foreground=None if split.masks is None else split.masks.to(self.device),
                    patch_box=split.patch_box, attribute=self._attribute_fn(method, split.model),
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    values = METRICS.get(metric).compute(inputs)
                self.store.put_image_scores(self.run_id, method, metric, values.detach().cpu().double().tolist())

    def _gallery(self, splits: dict[str, _Split]) -> None:
        n = self.config.evaluation.gallery
        split = splits.get("masked") or splits["eval"]
        if n <= 0:
            return
        for method in self.config.methods:
            if self.store.has_gallery(self.run_id, method):
                continue
            raw = self._raw_maps(method, split)[:n]
            shown = to_map(raw.unsqueeze(1), clip_percentiles=(0.5, 99.5))
            masks = None if split.masks is None else split.masks[:n].numpy()
            self.store.put_gallery(self.run_id, method, split.indices[:n].tolist(),
                                   split.labels[:n].tolist(), shown.numpy(),
                                   split.images[:n].numpy(), masks)

    # -- ROAR / KAR -----------------------------------------------------------------------------
    def _roar_kar(self, metrics: list[str], model: torch.nn.Module, key: str,
                  train: ImageSet, test: ImageSet) -> None:
        cfg, roar = self.config, self.config.roar
        modes = tuple(m for m in roar.modes if any(_RETRAINING[x] == m for x in metrics))
        tr, te = train.head(roar.n_train), test.head(roar.n_test)
        fill = tr.images.double().mean(dim=(0, 2, 3))  # per-channel mean of the training images
        recipe = replace(self.recipe, epochs=roar.epochs)
        train_and_evaluate = make_train_and_evaluate(
            cfg.model, recipe, num_classes=len(train.classes), image_size=train.images.shape[-1],
            device=self.device,
        )
        splits = {
            "roar_train": _Split("roar_train", model, key, tr.images, tr.labels, self._predict(model, tr.images)),
            "roar_test": _Split("roar_test", model, key, te.images, te.labels, self._predict(model, te.images)),
        }
        n_cells = len(modes) * len(roar.fractions) * len(roar.seeds)
        for method in self._bar(cfg.methods, desc="roar/kar methods"):
            done = self.store.roar_cells(self.run_id, method)
            wanted = {(m, float(f), int(s)) for m in modes for f in roar.fractions for s in roar.seeds}
            if wanted <= set(done):
                continue
            if method == "random":
                train_maps = test_maps = None
            else:
                train_maps = self._raw_maps(method, splits["roar_train"])
                test_maps = self._raw_maps(method, splits["roar_test"])
            bar = self._bar(total=n_cells, initial=len(wanted & set(done)), desc=f"{method} cells", leave=False)

            def on_cell(mode: str, fraction: float, seed: int, accuracy: float, method: str = method, bar: Any = bar) -> None:
                self.store.put_roar_cell(self.run_id, method, mode, fraction, seed, accuracy)
                bar.update(1)

            roar_kar(
                train_and_evaluate, tr.images, tr.labels, te.images, te.labels, train_maps, test_maps,
                fill, fractions=roar.fractions, seeds=roar.seeds, modes=modes,
                done={k: v for k, v in done.items() if k in wanted}, on_cell=on_cell,
                executor=self.executor,
            )
            bar.close()

    # -- summaries and report -------------------------------------------------------------------
    def _summaries(self, per_image: list[str], retraining: list[str]) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        for method in self.config.methods:
            for metric in per_image:
                values = self.store.image_scores(self.run_id, method, metric)
                if values.size == 0:
                    continue
                spec = METRICS.get(metric)
                s = summarize(torch.from_numpy(values))
                hib = int(spec.higher_is_better)
                rows.append(dict(method=method, metric=metric, higher_is_better=hib, statistic="median",
                                 value=s.median, ci_low=s.ci_low, ci_high=s.ci_high, n=s.n))
                rows.append(dict(method=method, metric=metric, higher_is_better=hib, statistic="mean",
                                 value=s.mean, ci_low=None, ci_high=None, n=s.n))
            if retraining:
                rows += self._retraining_rows(method, retraining)
        self.store.put_scores(self.run_id, rows)
        return pd.DataFrame(rows, columns=["method", "metric", "higher_is_better", "statistic",
                                           "value", "ci_low", "ci_high", "n"])

    def _retraining_rows(self, method: str, metrics: list[str]) -> list[dict[str, Any]]:
        """ROAR AUC / KAR AOC of ``method`` from its stored cells (interval: range over seeds)."""
        roar = self.config.roar
        modes = [_RETRAINING[m] for m in metrics]
        cells = self.store.roar_cells(self.run_id, method)
        grid = [(m, float(f), int(s)) for m in modes for f in roar.fractions for s in roar.seeds]
        if not cells or any(cell not in cells for cell in grid):
            return []
        table = pd.DataFrame([(*cell, cells[cell]) for cell in grid],
                             columns=["mode", "fraction", "seed", "accuracy"])
        result = score_cells(table, roar.fractions, roar.seeds, modes)
        rows = []
        for metric in metrics:
            per_seed = result.seed_scores[metric]
            several = len(per_seed) > 1
            rows.append(dict(method=method, metric=metric, higher_is_better=0, statistic="value",
                             value=getattr(result, metric), n=len(per_seed),
                             ci_low=per_seed.min() if several else None,
                             ci_high=per_seed.max() if several else None))
        return rows

    def _report(self) -> None:
        from reports import build_report

        path = build_report(self.out)
        self.echo(f"report: {path}")
