"""Regenerate the pytest plugin's shipped case: ``bench/assets/rectbench_case_{model,data}.pt`` and
their manifest ``rectbench_case.json`` (SHA-256 of each file, training facts).

Run only on purpose: new assets change every golden score, so regenerate the goldens right after
(``pytest tests/test_golden_methods.py --rectbench-update-golden``) and commit both together.

    python tools/make_case_assets.py            # train (about 15 s on one CPU core) and write
    python tools/make_case_assets.py --check    # retrain in memory, compare with the shipped files

The model is PaperCNN(num_classes=4, image_size=16), trained with Adam (lr 1e-3, batch 50,
6 epochs, seed 0) on 4000 synthetic 16x16 shape images with a fixed 5x5 random patch at the
top-left; the 128 shipped test images are the same generator's test split. The weights are stored
as a float32 ``state_dict`` and the inputs as ``uint8``/``int64``/``bool`` tensors, both loaded
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import sys
from pathlib import Path

import torch

from bench.pytest_plugin import (
    ASSETS_DIR,
    DATA_FILE,
    MANIFEST_NAME,
    MODEL_FILE,
    make_case_assets,
)


def serialize(obj: object) -> bytes:
    """``torch.save`` into memory (so the archive name inside does not depend on the file name)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSETS_DIR, help="folder to write (default: bench/assets)")
    parser.add_argument("--check", action="store_true",
                        help="compare a fresh training with the shipped files instead of writing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while training (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    state, data, facts = make_case_assets()
    payloads = {MODEL_FILE: serialize(state), DATA_FILE: serialize(data)}
    files = {name: {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
             for name, raw in payloads.items()}
    for name, entry in files.items():
        print(f"{name}: {entry['bytes']} bytes, sha256 {entry['sha256']}")
    print(f"test accuracy {facts['test_accuracy']:.4f}, smallest top-2 logit margin "
          f"{facts['min_logit_margin']:.4f}, parameters {sum(v.numel() for v in state.values())}")

    if args.check:
        shipped = json.loads((args.out / MANIFEST_NAME).read_text())["files"]
        same = all(shipped[name]["sha256"] == files[name]["sha256"] for name in files)
        print("identical to the shipped assets" if same else "DIFFERS from the shipped assets")
        return 0 if same else 1

    args.out.mkdir(parents=True, exist_ok=True)
    for name, raw in payloads.items():
        (args.out / name).write_bytes(raw)
    manifest = {
        "format": 1,
        "files": files,
        "case": facts,
        "generated_with": {"torch": torch.__version__, "python": platform.python_version(),
                           "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                           "threads": args.threads, "machine": platform.machine(),
                           "command": "python tools/make_case_assets.py"},
    }
    (args.out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out / MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
