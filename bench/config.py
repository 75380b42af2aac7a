"""Run configuration: frozen dataclasses, printable as TOML, hashed into cache keys.

A :class:`RunConfig` fully determines a run: the same configuration on the same machine gives the
same numbers. ``to_toml``/``from_toml`` round-trip exactly (``rectbench presets show NAME`` prints
one, ``rectbench run --config FILE`` runs it). Unknown keys in a file raise ``ValueError``.

Settings added for users' own methods, models and data (``weights``, ``plugins``, the
``[method.NAME]`` / ``[metric.NAME]`` tables, ``data.resize``, ``data.crop``) are left out of the
TOML and of the hashes while they hold their defaults, so configurations written before them keep
their run ids and protocol hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import tomli_w

from bench.config_parsing import build_dataclass

__all__ = [
    "DataConfig",
    "MethodEntry",
    "MetricEntry",
    "TrainRecipe",
    "EvalConfig",
    "RoarConfig",
    "RunConfig",
    "config_hash",
    "protocol_hash",
]

DataSource = Literal["synthetic", "cifar10", "imagefolder"]


@dataclass(frozen=True)
class DataConfig:
    """Which images the run uses.

    Attributes:
        source: ``"synthetic"`` (generated in memory, exact masks), ``"cifar10"`` or
            ``"imagefolder"`` (a user's tree ``test/<class>/*`` and optionally ``train/<class>/*``,
            images of any size; classes are the sorted folder names).
        path: CIFAR-10 location (official python release, ImageFolder tree or the JPEG tar.gz;
            empty means ``$RECTBENCH_DATA`` or the user cache folder), or the ImageFolder tree.
        masks: Object masks for the background metrics. CIFAR-10: the authors'
            ``CIFAR10_mask.tar`` (file or extracted folder). ImageFolder: a tree of PNG files
            ``<class>/<name>.png`` parallel to ``test/`` (object = non-zero, same size as its
            image), or a tar / folder in the authors' format. Empty: no background metrics.
        download: Let torchvision download the official CIFAR-10 release when it is missing.
        n_train: Training images used (after a seeded shuffle); 0 means all.
        n_test: Test images used (after a seeded shuffle); 0 means all.
        synthetic_classes: Number of shape classes of the synthetic set.
        image_size: Side of the synthetic images, in pixels (CIFAR-10 is always 32).
        patch_seed: Seed of the paper's 10x10 random patch (training-data occlusion experiment).
        patch_size: Side of that patch, in pixels. Patch attribution is scored on its top-left
            ``(patch_size - 2)`` square (the paper's 8x8 of 10x10: the first 3x3 conv's receptive
            field makes the patch's inner ring ambiguous).
        resize: ImageFolder: scale every image (and mask) so that its shorter side has this many
            pixels (bilinear; masks nearest), as torchvision's ``Resize(int)``; 0 = keep the size.
        crop: ImageFolder: then cut the centred ``crop`` x ``crop`` square (torchvision's
            ``CenterCrop``); 0 = no crop. Without resize and crop all images must have one size.
    """

    source: DataSource = "synthetic"
    path: str = ""
    masks: str = ""
    download: bool = False
    resize: int = 0
    crop: int = 0
    n_train: int = 0
    n_test: int = 0
    synthetic_classes: int = 4
    image_size: int = 32
    patch_seed: int = 0
    patch_size: int = 10


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained (the paper's recipe, appendix F.2, as defaults).

    The seed is not part of the recipe: it is the run's (``RunConfig.seed``) or a ROAR/KAR cell's,
    passed to the training functions beside the recipe.

    Attributes:
        epochs: Passes over the training set (paper: 20).
        batch_size: Images per optimizer step (paper: 100); the last batch may be smaller.
        lr: Adam learning rate (paper: 1e-3; betas and eps are PyTorch's defaults, as TF's).
    """

    epochs: int = 20
    batch_size: int = 100
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"train.epochs must be an integer >= 1, got {self.epochs!r}")
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or self.batch_size < 1
        ):
            raise ValueError(f"train.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"train.lr must be a number > 0, got {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON/TOML-ready)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvalConfig:
    """Sizes of the retraining-free evaluations.

    Attributes:
        n_images: Test images scored by patch attribution and total variation (0 = all).
        masked_per_class: Masked images kept per class (paper: first 10 correctly classified).
        n_quantus: Images given to each Quantus metric (they are slower; 0 = skip Quantus).
        batch_size: Attribution batch size.
        gallery: Number of test images shown with every method's map in the report.
        image_sets: Per metric, the images it scores instead of its spec's ``image_set``:
            ``"test"``, ``"masked"``, ``"patch"`` or ``"train"`` (the run's training images;
            the paper computes total variation over the 50,000 training images).
        map_rule: How maps are post-processed before the map metrics: ``"paper"`` (the paper's
            asymmetric rule: the baselines' final threshold at 95, none for RectGrad),
            ``"uniform"`` (every method's map final-thresholded at ``uniform_percentile``, scored
            as ``<metric>@uniform``) or ``"both"`` (the paper's rule for the headline, the
            uniform one beside it, and whether each metric's ranking survives the change).
        uniform_percentile: The one final-threshold percentile of the uniform rule.
        blur_sigma: Sigma in pixels of the blurred controls ``<method>+blur``.
        occlusion_layer: Module name (``model.named_modules()``) whose output feature-map
            occlusion zeroes; empty: the output of the first conv block (the first
            ``nn.MaxPool2d``; the paper CNN's ``features.4``), else the first ``nn.ReLU``.
        occlusion_trials: Random occlusion orders per image and region (paper: 50).
        occlusion_steps: Points of the occluded-share grid from 0 to 1 (11: steps of 10 %).
        occlusion_images: Masked images occluded (a seeded class-balanced subset; 0 = all).
            Cost: ``2 * images * trials * steps`` forward passes of the layers above.
    """

    n_images: int = 0
    masked_per_class: int = 10
    n_quantus: int = 32
    batch_size: int = 100
    gallery: int = 6
    image_sets: dict[str, str] = field(default_factory=dict)
    map_rule: Literal["paper", "uniform", "both"] = "both"
    uniform_percentile: float = 95.0
    blur_sigma: float = 1.0
    occlusion_layer: str = ""
    occlusion_trials: int = 50
    occlusion_steps: int = 11
    occlusion_images: int = 20


@dataclass(frozen=True)
class RoarConfig:
    """ROAR/KAR: occlude, retrain a fresh model, measure accuracy (paper Table 1).

    Attributes:
        fractions: Fractions of pixels removed (ROAR) or kept (KAR).
        seeds: Retraining seeds per cell; scores use the mean accuracy over seeds.
        modes: ``("roar", "kar")`` or a subset.
        n_train: Training images occluded and retrained on (0 = all the run's training images).
        n_test: Test images occluded and evaluated (0 = all the run's test images).
        epochs: Retraining epochs (paper: 20, the main recipe).
        engine: How cells train: ``"sequential"`` (one model at a time), ``"ensemble"`` (groups of
            cells as one vectorised ensemble, ``bench.ensemble``) or ``"auto"`` (the ensemble on
            CUDA, sequential otherwise). Both give the same cells up to float rounding.
        group_size: Cells per ensemble group (0: all missing cells of a method at once; the
            ensemble splits them into chunks that fit the GPU's memory).
        bf16: bf16 autocast in the ensemble's forward passes (off: float32 like the paper).
        leakage_seeds: Mask-only leakage classifiers per (method, fraction): the first
            ``leakage_seeds`` of ``seeds``; 0 skips the leakage control.
        seed_sd: Calibration: the seed SD of a method's paired ROAR/KAR difference from Random at
            this protocol, measured elsewhere; used for the resolution of a one-seed run (0:
            unknown, so a one-seed run cannot claim a resolution).
    """

    fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    seeds: tuple[int, ...] = (0, 1, 2)
    modes: tuple[str, ...] = ("roar", "kar")
    n_train: int = 0
    n_test: int = 0
    epochs: int = 20
    engine: str = "auto"
    group_size: int = 0
    bf16: bool = False
    leakage_seeds: int = 1
    seed_sd: float = 0.0


@dataclass(frozen=True)
class MethodEntry:
    """A method defined in the configuration, a ``[method.NAME]`` table; run it by listing NAME in
    ``methods``. ``factory(model, **settings)`` returns an object with
    ``attribute(inputs, target=None, additional_forward_args=None)`` (Captum's convention).

    Attributes:
        factory: ``"package.module:callable"`` (a class or function), importable from the
            current folder or an installed package.
        settings: Keyword arguments of the factory (the method's defaults).
        label, description, reference, color: Display name, one line, source, ``#rrggbb``.
        role: ``"method"``, ``"chance"`` or ``"control"`` (see ``methods.MethodSpec``).
        map_percentile: The final-threshold percentile applied before scoring (the paper's 95
            for the baselines); 0 = none.
        meaningful_scale: False when the maps' scale is arbitrary (scale-dependent metrics are
            then skipped).
        random_ranking: The maps rank pixels at random (ROAR/KAR draws occlusions directly).
        version: Bump when the method's results change, so stored maps are recomputed.
    """

    factory: str
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    description: str = ""
    reference: str = ""
    color: str = ""
    role: str = "method"
    map_percentile: float = 95.0
    meaningful_scale: bool = True
    random_ranking: bool = False
    version: int = 1


@dataclass(frozen=True)
class MetricEntry:
    """A per-image metric defined in the configuration, a ``[metric.NAME]`` table; compute it by
    listing NAME in ``metrics``. ``factory(inputs, **settings)`` takes a ``metrics.MetricInputs``
    and returns one value per image, a tensor (N,).

    Attributes:
        factory: ``"package.module:callable"``.
        higher_is_better: The metric's direction (required).
        requires: The ``MetricInputs`` fields it reads (``"foreground"`` needs object masks).
        settings: Keyword arguments passed after the inputs.
        label, description: Display name and one line.
        image_set: ``"test"``, ``"masked"`` or ``"patch"`` (see ``metrics.MetricSpec``).
        scale_dependent: Its value scales with the map's.
        map_processing: ``"paper"`` (the method's final threshold) or ``"plain"``.
        expensive: Scored on ``evaluation.n_quantus`` images only.
        version: Bump when its values change, so stored scores are recomputed.
    """

    factory: str
    higher_is_better: bool
    requires: tuple[str, ...] = ("maps",)
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    description: str = ""
    image_set: str = "test"
    scale_dependent: bool = False
    map_processing: str = "paper"
    expensive: bool = False
    version: int = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs. See the module docstring.

    Attributes beside the sections:
        model: A registered model, ``torchvision.<arch>`` or ``package.module:factory``
            (``bench.models.model_spec``).
        weights: A state_dict file for the explained model (or a checkpoint dict holding one
            under ``state_dict`` or ``model``); the model is then loaded, not trained. Empty:
            trained with ``train``.
        plugins: Modules imported before the run (names importable from the current folder, or
            ``.py`` paths) that register methods, metrics or models.
        method: Methods defined here, by name (``[method.NAME]`` tables, :class:`MethodEntry`).
        metric: Metrics defined here, by name (``[metric.NAME]`` tables, :class:`MetricEntry`).
        experiments: The paper's other experiments to run, stored as curves:
            ``"feature_occlusion"`` (Fig. 3), ``"noise_accumulation"`` (Fig. 6),
            ``"threshold_sweep"`` (Fig. 4, the ``sweeps`` below).
        sweeps: ``"method.setting=v1,v2,..."`` per sweep: the method re-scored on every
            retraining-free metric of the run at each value; a value ``other=v`` sets another
            setting instead (a labelled endpoint, e.g. ``tau=0``).
    """

    preset: str
    description: str = ""
    model: str = "paper_cnn"
    seed: int = 0
    device: str = "cpu"
    methods: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    weights: str = ""
    plugins: tuple[str, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainRecipe = field(default_factory=TrainRecipe)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    roar: RoarConfig = field(default_factory=RoarConfig)
    method: dict[str, MethodEntry] = field(default_factory=dict)
    metric: dict[str, MetricEntry] = field(default_factory=dict)
    experiments: tuple[str, ...] = ()
    # The paper's Figure 4: RectGrad's q, and the constant tau = 0 (Claim 2) as an endpoint.
    sweeps: tuple[str, ...] = ("rectgrad.percentile=0,50,80,90,95,98,99,99.5,tau=0",)

    def with_overrides(self, **overrides: Any) -> RunConfig:
        """A copy with top-level fields replaced; ``None`` values are ignored (timm style)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(clean) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown RunConfig fields: {sorted(unknown)}")
        return replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values; optional settings at their defaults are left out (see the
        module docstring)."""
        out = dataclasses.asdict(self)
        for key in ("weights", "plugins", "method", "metric"):
            if not out[key]:
                del out[key]
        for key in ("resize", "crop"):
            if out["data"][key] == 0:
                del out["data"][key]
        return out

    def to_toml(self) -> str:
        """The configuration as TOML (tuples become arrays)."""
        return tomli_w.dumps(_plain(self.to_dict()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return build_dataclass(cls, data, "config")

    @classmethod
    def from_toml(cls, text: str) -> RunConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config is not valid TOML: {exc}") from exc
        for plural in ("methods", "metrics"):
            if isinstance(data.get(plural), dict):
                raise ValueError(f"config.{plural} must be an array of names; define your own in "
                                 f"[{plural[:-1]}.NAME] tables and list NAME in {plural}")
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        return cls.from_toml(path.read_text())


def protocol_hash(config: RunConfig) -> str:
    """A digest of what makes two runs' numbers comparable: the data (not where it lies), the
    model, the training and evaluation settings and the ROAR/KAR protocol; not the methods,
    metrics, seed, device or description. Leaderboards never rank runs of different protocols
    together."""
    data = config.to_dict()["data"]
    for where in ("path", "masks", "download"):
        data.pop(where)
    data["has_masks"] = bool(config.data.masks) or config.data.source == "synthetic"
    roar = dataclasses.asdict(config.roar)
    for how in ("engine", "group_size", "leakage_seeds", "seed_sd"):  # how, not what, is measured
        roar.pop(how, None)
    evaluation = dataclasses.asdict(config.evaluation)
    evaluation.pop("batch_size", None)
    payload = {"data": data, "model": config.model, "train": config.train.to_dict(),
               "evaluation": evaluation, "roar": roar}
    if config.weights:
        # Loaded, not trained: which weights is the model name's business (``name@sha256``).
        payload["pretrained"] = True
    return config_hash(payload, length=12)


def config_hash(obj: Any, length: int = 16) -> str:
    """A stable hex digest of a configuration (dataclass, dict, or JSON-able value)."""
    if isinstance(obj, RunConfig):
        obj = obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    blob = json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
