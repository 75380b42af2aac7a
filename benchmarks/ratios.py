"""The speed ratios in one table, checked against this machine's saved baseline (``make benchmark``).

* ``rectgrad/guided_backprop``: RectGrad / Captum's Guided Backprop, as registered, paper CNN,
  batch 128, CPU (benchmarks/rectgrad_ratio.py); target <= 1.2.
* ``train_tensors/plain_loop``: one epoch of ``bench.training.train_tensors`` / a plain
  channels-last loop, 3,000 images, batch 100 (benchmarks/training_ratio.py); target <= 1.05.

Each ratio is the median of pairs timed in turn in this process (machine load hits both sides of
a pair alike). Every run is saved as JSON under ``.benchmarks/ratios/``; the first one becomes
``baseline.json`` (``--update-baseline`` replaces it). Exit status 1 when a ratio's median is more
than ``--tolerance`` (25 %) above the baseline's. Usage::

    python benchmarks/ratios.py [--repeats-rectgrad 9] [--repeats-training 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

import rectgrad_ratio
import torch
import training_ratio
from _timing import RatioResult, load_average

STORAGE = Path(".benchmarks") / "ratios"


def _environment() -> dict[str, object]:
    return {"host": platform.node(), "machine": platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _table(results: list[RatioResult], baseline: dict[str, dict], tolerance: float) -> list[str]:
    """Rows of the printed table; also the verdict per ratio (appended as the last column)."""
    header = (f"{'ratio':26s} {'median [min-max]':20s} {'numerator ms':>13s} {'denominator ms':>15s} "
              f"{'target':>7s} {'baseline':>9s} {'change':>7s}  verdict")
    rows = [header, "-" * len(header)]
    for r in results:
        base = baseline.get(r.name)
        comparable = base is not None and base.get("settings") == r.settings
        base_median = float(base["ratio"]["median"]) if comparable else None
        change = f"{r.ratio.median / base_median - 1:+.0%}" if base_median else "n/a"
        if base_median is not None and r.ratio.median > base_median * (1 + tolerance):
            verdict = f"REGRESSION (> +{tolerance:.0%})"
        elif base_median is None:
            verdict = "no comparable baseline"
        else:
            verdict = "ok"
        verdict += "" if r.ratio.median <= r.target else ", above target"
        rows.append(
            f"{r.name:26s} {str(r.ratio):20s} {r.numerator_ms.median:13.1f} "
            f"{r.denominator_ms.median:15.1f} {r.target:7.2f} "
            f"{base_median if base_median is not None else float('nan'):9.2f} {change:>7s}  {verdict}"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats-rectgrad", type=int, default=9)
    parser.add_argument("--repeats-training", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.25,
                        help="allowed rise of a ratio's median over the baseline's (0.25 = 25 %%)")
    parser.add_argument("--storage", type=Path, default=STORAGE)
    parser.add_argument("--update-baseline", action="store_true")
    args = parser.parse_args()

    load_before = load_average()
    results = [
        rectgrad_ratio.measure(batch=128, repeats=args.repeats_rectgrad, threads=args.threads),
        training_ratio.measure(repeats=args.repeats_training, threads=args.threads),
    ]
    run = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "load_average": {"before": load_before, "after": load_average()},
           "environment": _environment(),
           "ratios": {r.name: r.to_dict() for r in results}}
    args.storage.mkdir(parents=True, exist_ok=True)
    stamp = run["time"].replace(":", "").replace("-", "")
    (args.storage / f"{stamp}.json").write_text(json.dumps(run, indent=2))
    baseline_path = args.storage / "baseline.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None

    print(f"load average before {load_before}, after {run['load_average']['after']} "
          f"(1, 5, 15 min); threads {args.threads}; torch {torch.__version__}")
    rows = _table(results, (baseline or {}).get("ratios", {}), args.tolerance)
    print("\n".join(rows))
    if baseline is None or args.update_baseline:
        baseline_path.write_text(json.dumps(run, indent=2))
        print(f"saved as the baseline: {baseline_path}")
        return 0
    print(f"baseline: {baseline_path} ({baseline['time']}, load {baseline['load_average']})")
    return 1 if any("REGRESSION" in row for row in rows[2:]) else 0


if __name__ == "__main__":
    sys.exit(main())
