"""Time ``rectbench report DIR`` on a store sized like the quick preset's run (issue 15).

The store: 10 methods, 15 metrics, 500 images per per-image metric, one retraining seed, a
10-image gallery of 32x32 maps, and every other table of schema 2, written through
``bench.store.ResultStore`` by ``tests/reports/fixture_store.py``. Each repetition is a fresh
``python -m bench.cli report DIR`` process, so the imports are timed too (that is what a user
waits for). Target: <= 5 s wall. With ``--against PATH`` the same command also runs with
``PYTHONPATH=PATH`` (e.g. /work/main) in alternation, and the ratio of the medians is printed.
Usage::

    python benchmarks/report_speed.py [--repeats 5] [--against /work/main]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0


def write_quick_sized_store(run_dir: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "fixture_store", ROOT / "tests" / "reports" / "fixture_store.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_store(run_dir, methods=module.ALL_METHODS, metrics=module.ALL_METRICS,
                              n_images=501, seeds=(0,), n_gallery=10, gallery_size=32)


def time_report(run_dir: Path, pythonpath: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.cli", "report", str(run_dir)], env=env,
                   check=True, stdout=subprocess.DEVNULL, cwd=pythonpath)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to time side by side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_quick_sized_store(Path(tmp) / "quick")
        print(f"store: {(run_dir / 'results.sqlite').stat().st_size / 1e6:.1f} MB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        time_report(run_dir, ROOT)  # warm the file cache and .pyc files
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(time_report(run_dir, ROOT))
            if args.against:
                theirs.append(time_report(run_dir, args.against))
        median = statistics.median(ours)
        verdict = "meets" if median <= TARGET_SECONDS else "MISSES"
        print(f"rectbench report (this checkout): median {median:.2f} s of {args.repeats} "
              f"(min {min(ours):.2f}, max {max(ours):.2f}); {verdict} the {TARGET_SECONDS:.0f} s "
              "target")
        if theirs:
            other = statistics.median(theirs)
            print(f"rectbench report ({args.against}): median {other:.2f} s "
                  f"(min {min(theirs):.2f}); ratio this / that = {median / other:.2f}")


if __name__ == "__main__":
    main()
