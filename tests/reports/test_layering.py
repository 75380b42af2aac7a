"""reports/ reads the stored tables only: it must not import the layers that compute them."""

from __future__ import annotations

import subprocess
import sys


def test_reports_imports_no_bench_methods_or_metrics() -> None:
    code = (
        "import sys, reports; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'bench', 'methods', 'metrics', 'torch'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
