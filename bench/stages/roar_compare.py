"""ROAR/KAR comparisons: paired by seed and by test image, against the best method and Random.

Each stored cell carries which test images its retrained model gets right (``roar_correct``), so a
comparison of two methods is a bootstrap over seeds and test images at once
(:func:`metrics.roar_paired.paired_difference`, interval ``bootstrap_models_images``); without the
bits (cells stored by an older version) it falls back to the paired t over seeds. The paired
differences from the chance baseline are also stored per interval kind (``differences``: over
seeds, over test images, over both, each with its standard error).

Resolution at this scale: a run resolves ROAR/KAR when its retrained models learn enough (the
clean cells, :mod:`bench.stages.retraining`, reach at least :data:`CLEAN_MINIMUM`) and a difference
of :data:`RESOLVABLE` from Random lies at 2 standard errors, i.e. ``2 * SE <= 0.03`` for every real
method, with ``SE = sqrt(sd_seeds^2 / S + se_images^2)``. ``sd_seeds`` is measured over the run's
S seeds; a one-seed run uses the preset's calibration figure (``roar.seed_sd``) and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from bench.pipeline import RunContext
from bench.roar_store import cell_correctness
from bench.stages.retraining import clean_accuracies
from methods import METHODS
from metrics import MetricSpec
from metrics.compare import PairedTest, holm, paired_seed_test
from metrics.roar_paired import PairedDifference, paired_difference

__all__ = ["RESOLVABLE", "CLEAN_MINIMUM", "RoarComparisons"]

#: The paired difference from Random a run must resolve at 2 standard errors (the gaps of the
#: paper's Table 1 are 0.01-0.02; 0.03 is what a CPU-sized run can hope for).
RESOLVABLE = 0.03
#: The clean accuracy retrained models must reach for their ROAR/KAR curves to rank methods (the
#: explained model reaches ~0.70; at 1,500 images and 3 epochs retrained models reach ~0.35).
CLEAN_MINIMUM = 0.55


class RoarComparisons:
    """The paired tests of one retraining metric's methods, from the stored cells.

    Args:
        ctx: The run.
        spec: A retraining metric (``roar_auc`` or ``kar_aoc``).
        per_seed: Per method with a complete grid, its per-seed scores (in ``roar.seeds`` order).
    """

    def __init__(self, ctx: RunContext, spec: MetricSpec, per_seed: Mapping[str, Sequence[float]]):
        self.ctx, self.spec, self.per_seed = ctx, spec, per_seed
        self.mode = str(spec.retraining_mode)
        self.fractions = sorted(float(f) for f in ctx.config.roar.fractions)
        self.seeds = [int(s) for s in ctx.config.roar.seeds]
        self.bits = {m: self._cube(m) for m in per_seed}
        self._differences: dict[tuple[str, str], PairedDifference | None] = {}

    @property
    def names(self) -> dict[str, str]:
        """The methods, as ``comparisons._compare`` takes its ``values`` (name -> name)."""
        return {m: m for m in self.per_seed}

    def test(self, a: str, b: str) -> PairedTest:
        """A vs B: the bootstrap over seeds and images, or the paired t over seeds."""
        difference = self.difference(a, b)
        if difference is None:
            return paired_seed_test(self.per_seed[a], self.per_seed[b])
        return difference.both

    def difference(self, a: str, b: str) -> PairedDifference | None:
        """The paired difference A - B from the correctness bits (None when bits are missing)."""
        if (a, b) not in self._differences:
            cube_a, cube_b = self.bits.get(a), self.bits.get(b)
            result = None
            if cube_a is not None and cube_b is not None and cube_a.shape == cube_b.shape:
                result = paired_difference(cube_a, cube_b, self.fractions, self.mode,
                                           seed=self.ctx.job_seed("roar_compare", a, b))
            self._differences[(a, b)] = result
        return self._differences[(a, b)]

    def versus_chance(
        self, row: Any
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``comparisons`` rows (every method against each chance baseline, Holm-adjusted) and
        ``differences`` rows; ``row(spec, method, reference, result, p)`` builds a comparison."""
        comparisons: list[dict[str, Any]] = []
        differences: list[dict[str, Any]] = []
        for chance in self._chances():
            others = [m for m in self.per_seed if m != chance]
            results = [self.test(m, chance) for m in others]
            adjusted = holm([r.p_value for r in results])
            comparisons += [row(self.spec, m, chance, r, p)
                            for m, r, p in zip(others, results, adjusted, strict=True)]
            for method in others:
                differences += self._difference_rows(method, chance)
        return comparisons, differences

    def scale_reason(self) -> str:
        """Why the run cannot rank methods at its scale ("" when it can): too little learnt
        (clean accuracy) or too much noise for :data:`RESOLVABLE` against Random."""
        reasons = [r for r in (self._clean_reason(), self._noise_reason()) if r]
        if not reasons:
            return ""
        return "not resolved at this scale: " + "; ".join(reasons)

    def _clean_reason(self) -> str:
        clean = clean_accuracies(self.ctx)
        if not clean:
            return ""
        mean = sum(clean.values()) / len(clean)
        if mean >= CLEAN_MINIMUM:
            return ""
        return (f"models retrained with this protocol reach {mean:.3f} on clean images "
                f"(mean of {len(clean)} seed(s); at least {CLEAN_MINIMUM} is needed)")

    def _noise_reason(self) -> str:
        chances = self._chances()
        real = [m for m in self.per_seed if METHODS.get(m).role == "method"]
        if not chances or not real:
            return ""
        n_seeds = len(self.seeds)
        calibration = float(self.ctx.config.roar.seed_sd)
        if n_seeds < 2 and calibration <= 0:
            return ("one retraining seed and no calibration figure (roar.seed_sd): the spread "
                    "between retrained models is unknown, so no difference from Random is resolved")
        worst: tuple[float, float, float, int] | None = None  # (se, sd, se_images, n_images)
        for method in real:
            for chance in chances:
                parts = self._error_parts(method, chance, calibration if n_seeds < 2 else None)
                if parts is not None and (worst is None or parts[0] > worst[0]):
                    worst = parts
        if worst is None or 2 * worst[0] <= RESOLVABLE:
            return ""
        se, sd, se_images, n_images = worst
        source = (f"over this run's {n_seeds} seeds" if n_seeds > 1 else
                  "from the preset's calibration (roar.seed_sd), not measured in this run (one seed)")
        images = (f"SE {se_images:.4f} over {n_images}" if n_images else
                  "not included (no per-image results stored)")
        return (f"a paired difference from Random has a standard error up to {se:.4f} "
                f"(2 SE = {2 * se:.4f} > {RESOLVABLE}): seed SD of the difference {sd:.4f} "
                f"{source}, test images {images}")

    # -- helpers -------------------------------------------------------------------------------

    def _chances(self) -> list[str]:
        return [m for m in self.per_seed if METHODS.get(m).role == "chance"]

    def _error_parts(
        self, method: str, chance: str, seed_sd: float | None
    ) -> tuple[float, float, float, int] | None:
        difference = self.difference(method, chance)
        if difference is not None:
            sd = difference.sd_seeds if seed_sd is None else seed_sd
            return difference.standard_error(seed_sd), sd, difference.se_images, difference.n_images
        deltas = [a - b for a, b in zip(self.per_seed[method], self.per_seed[chance], strict=True)]
        if seed_sd is None and len(deltas) < 2:
            return None
        sd = seed_sd if seed_sd is not None else float(torch.tensor(deltas).std(unbiased=True))
        return sd / math.sqrt(len(deltas)), sd, 0.0, 0

    def _difference_rows(self, method: str, chance: str) -> list[dict[str, Any]]:
        base = dict(metric=self.spec.name, method=method, reference=chance,
                    n_seeds=len(self.seeds))
        seeds = paired_seed_test(self.per_seed[method], self.per_seed[chance])
        difference = self.difference(method, chance)
        rows = []
        if len(self.seeds) > 1:
            sd = (difference.sd_seeds if difference is not None else
                  float(torch.tensor([a - b for a, b in zip(self.per_seed[method],
                        self.per_seed[chance], strict=True)]).std(unbiased=True)))
            rows.append(dict(base, interval="t_seeds", value=seeds.difference, low=seeds.low,
                             high=seeds.high, se=sd / math.sqrt(len(self.seeds)),
                             p_value=seeds.p_value, n_images=None))
        if difference is not None:
            m = difference.n_images
            rows.append(dict(base, interval="bootstrap_pairs", value=difference.value,
                             low=difference.images.low, high=difference.images.high,
                             se=difference.se_images, p_value=difference.images.p_value,
                             n_images=m))
            both = difference.both
            se = difference.standard_error() if len(self.seeds) > 1 else math.nan
            rows.append(dict(base, interval="bootstrap_models_images", value=difference.value,
                             low=both.low, high=both.high, se=se, p_value=both.p_value,
                             n_images=m))
        return rows

    def _cube(self, method: str) -> torch.Tensor | None:
        """bool (F, S, M) correctness of the method's cells of this mode, or None if incomplete."""
        stored = {(m, round(f * 1_000_000), s): v for (m, f, s), v in
                  cell_correctness(self.ctx.store, self.ctx.run_id, method).items()}
        rows = []
        for fraction in self.fractions:
            row = [stored.get((self.mode, round(fraction * 1_000_000), seed)) for seed in self.seeds]
            if any(v is None for v in row) or len({v.numel() for v in row}) != 1:
                return None
            rows.append(torch.stack(row))
        if len({r.shape for r in rows}) != 1:
            return None
        return torch.stack(rows)
