"""How far the pytest plugin's golden scores move between CPU kernel configurations.

Runs every registered method x default metric of ``bench.pytest_plugin`` on the shipped case in
fresh processes, one per configuration: ``ATEN_CPU_CAPABILITY`` unset (native) / default / avx2 /
avx512, ``ONEDNN_MAX_CPU_ISA`` unset / AVX2, torch threads 1 / 2, each with an empty ``HOME``.
Prints, per method and metric, the largest relative difference between any two configurations,
``(max - min) / max |score|``.

One CPU cannot show every kernel another CPU (ARM, another BLAS) may use, so a second table probes
the sensitivity: in one process, every weight of the case model is scaled by ``1 + 1e-6 z``
(z ~ N(0, 1), ``--probe-draws`` draws; about 8 float32 ulps, more than any kernel configuration
moves the logits) and the largest relative change of each score is printed. A metric with a
threshold (the 95th-percentile final threshold of the baselines, RectGrad's per-layer percentile)
shows its discontinuities here: a pixel crossing the threshold moves the mean by a step.

The rule of the plugin's tolerances: per metric, 10x the larger of the two maxima (over methods),
rounded up to 1, 2 or 5 x 10^k. The script prints the result next to what the plugin uses. With
``--golden-dir`` it also prints each configuration's largest relative distance to the golden files
and whether they pass.

    python benchmarks/golden_drift.py                       # the 16 configurations, small case
    python benchmarks/golden_drift.py --golden-dir tests/golden
    python benchmarks/golden_drift.py --quick --probe-draws 5   # 4 configurations, short probe

A configuration the CPU cannot run (avx512 on a CPU without AVX-512) falls back silently in
torch; the table's ``capability`` column shows what each process really used.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = (None, "default", "avx2", "avx512")
ONEDNN_ISAS = (None, "AVX2")
THREADS = (1, 2)
SAFETY_FACTOR = 10.0
PROBE_SCALE = 1e-6


def child(threads: int, size: str) -> None:
    """Evaluate every registered method on the case and print one JSON line."""
    import hashlib

    import torch

    torch.set_num_threads(threads)
    from bench.pytest_plugin import build_case, evaluate_method
    from methods import available_methods

    case = build_case(size)
    scores = {m: evaluate_method(case, m) for m in available_methods()}
    with torch.no_grad():
        logits = case.model(case.images)
    facts = {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
             "inputs_sha": hashlib.sha256(case.images.numpy().tobytes()).hexdigest()[:12],
             "logits_sha": hashlib.sha256(logits.numpy().tobytes()).hexdigest()[:12]}
    print(json.dumps({"facts": facts, "scores": scores}))


def probe(draws: int, size: str) -> list[dict[str, dict[str, float]]]:
    """Scores with the case's weights scaled by ``1 + PROBE_SCALE * z``, one dict per draw (plus
    the unperturbed scores first)."""
    import copy
    from dataclasses import replace

    import torch

    torch.set_num_threads(1)
    from bench.pytest_plugin import build_case, evaluate_method
    from methods import available_methods

    case = build_case(size)
    runs = []
    for draw in range(draws + 1):
        model = copy.deepcopy(case.model)
        generator = torch.Generator().manual_seed(1000 + draw)
        with torch.no_grad():
            for parameter in model.parameters() if draw else ():
                parameter.mul_(1 + PROBE_SCALE * torch.randn(parameter.shape, generator=generator))
        perturbed = replace(case, model=model)
        runs.append({m: evaluate_method(perturbed, m) for m in available_methods()})
    return runs


def run_config(capability: str | None, isa: str | None, threads: int, size: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    env["PYTHONPATH"] = str(ROOT)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    with tempfile.TemporaryDirectory() as home:
        env["HOME"] = home
        out = subprocess.run([sys.executable, __file__, "--child", str(threads), "--size", size],
                             env=env, capture_output=True, text=True, check=True, cwd=home)
    return json.loads(out.stdout.strip().splitlines()[-1])


def relative_spread(values: list[float]) -> float:
    """``(max - min) / max |v|``: the largest relative difference between two of ``values``."""
    if any(math.isnan(v) for v in values):
        return 0.0 if all(math.isnan(v) for v in values) else math.inf
    top = max(abs(v) for v in values)
    return (max(values) - min(values)) / top if top else 0.0


def round_up_125(x: float) -> float:
    """The smallest 1, 2 or 5 x 10^k that is >= x."""
    if x <= 0:
        return 0.0
    k = math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if step * 10.0**k >= x * (1 - 1e-12):
            return step * 10.0**k
    raise AssertionError


def print_table(spreads: dict[str, dict[str, float]], metrics: list[str]) -> None:
    width = max(len(m) for m in spreads) + 2
    print("method".ljust(width) + "".join(m[:14].rjust(16) for m in metrics))
    for method, row in spreads.items():
        print(method.ljust(width) + "".join(f"{row[m]:16.2e}" for m in metrics))
    print("max".ljust(width) + "".join(f"{max(r[m] for r in spreads.values()):16.2e}" for m in metrics))


def spread_table(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """method -> metric -> relative spread of that score over ``runs``."""
    return {method: {metric: relative_spread([run[method][metric] for run in runs])
                     for metric in runs[0][method]} for method in runs[0]}


def run_configs(configs: list[tuple[str | None, str | None, int]], size: str) -> list[dict]:
    results = []
    for capability, isa, threads in configs:
        start = time.perf_counter()
        result = run_config(capability, isa, threads, size)
        facts = result["facts"]
        print(f"ATEN_CPU_CAPABILITY={capability or 'unset':8} ONEDNN_MAX_CPU_ISA={isa or 'unset':6} "
              f"threads={threads}: capability {facts['capability']:7} inputs {facts['inputs_sha']} "
              f"logits {facts['logits_sha']} ({time.perf_counter() - start:.1f} s)", flush=True)
        results.append(result["scores"])
    return results


def print_rule(kernel: dict[str, dict[str, float]], probed: dict[str, dict[str, float]]) -> None:
    from bench.pytest_plugin import metric_tolerance

    print(f"\nrule: {SAFETY_FACTOR:g}x the larger maximum, rounded up to 1/2/5 x 10^k")
    for metric in next(iter(kernel.values())):
        worst_kernel = max(row[metric] for row in kernel.values())
        worst_probe = max(row[metric] for row in probed.values()) if probed else 0.0
        derived = round_up_125(SAFETY_FACTOR * max(worst_kernel, worst_probe))
        used = metric_tolerance(metric)[0]
        verdict = "ok" if used >= derived else "TOO TIGHT"
        print(f"  {metric:28} kernels {worst_kernel:.2e}  probe {worst_probe:.2e}  -> rtol {derived:.0e}"
              f"  (plugin: {used:.0e}, {verdict})")


def print_golden_distance(golden_dir: Path, configs: list, results: list[dict]) -> None:
    from bench.pytest_plugin import golden_diff

    print(f"\ndistance to the golden files in {golden_dir}:")
    for config, scores in zip(configs, results, strict=True):
        worst, failures = 0.0, []
        for method, row in scores.items():
            expected = json.loads((golden_dir / f"method_{method}.json").read_text())
            for metric, value in row.items():
                e = expected[metric]
                worst = max(worst, abs(value - e) / abs(e) if e else abs(value))
            failures += [f"{method}{line}" for line in golden_diff(expected, row)]
        print(f"  {config}: max relative {worst:.2e}, "
              f"{'PASS' if not failures else 'FAIL ' + '; '.join(failures)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", default="small", choices=("small", "medium"))
    parser.add_argument("--quick", action="store_true", help="threads 1 and native oneDNN only")
    parser.add_argument("--probe-draws", type=int, default=30, help="weight perturbations (0: none)")
    parser.add_argument("--golden-dir", type=Path, help="also compare with these golden files")
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.size)
        return 0

    configs = list(itertools.product(CAPABILITIES, ONEDNN_ISAS[:1] if args.quick else ONEDNN_ISAS,
                                     THREADS[:1] if args.quick else THREADS))
    results = run_configs(configs, args.size)
    metrics = list(next(iter(results[0].values())))
    kernel = spread_table(results)
    print(f"\nlargest relative difference between two of {len(configs)} configurations "
          f"({args.size} case):")
    print_table(kernel, metrics)
    probed: dict[str, dict[str, float]] = {}
    if args.probe_draws:
        probed = spread_table(probe(args.probe_draws, args.size))
        print(f"\nprobe: largest relative difference between two of {args.probe_draws + 1} runs, "
              f"weights x (1 + {PROBE_SCALE:g} z):")
        print_table(probed, metrics)
    print_rule(kernel, probed)
    if args.golden_dir:
        print_golden_distance(args.golden_dir, configs, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
