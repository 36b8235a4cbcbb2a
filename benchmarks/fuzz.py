"""The guard's Hypothesis fuzzing at full size (tests/guard/test_guard_fuzz.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import ROOT


def run(examples: int = 1000) -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/guard/test_guard_fuzz.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "JOBJANITOR_FUZZ_EXAMPLES": str(examples), "JOBJANITOR_FUZZ_RANDOM": "1"},
    )
    summary = next(
        (line for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), ""
    )
    return {
        "examples": examples,
        "passed": result.returncode == 0,
        "seconds": time.perf_counter() - started,
        "summary": summary.strip("= "),
        "tail": "\n".join(result.stdout.splitlines()[-15:]) if result.returncode else "",
    }
