"""The guard's Hypothesis fuzzing at full size (tests/guard/test_guard_fuzz.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import ROOT


def run(examples: int = 1000) -> dict[str, Any]:
    count_file = tempfile.NamedTemporaryFile(prefix="fuzz-", suffix=".txt", delete=False)  # noqa: SIM115
    count_file.close()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/guard/test_guard_fuzz.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "JOBJANITOR_FUZZ_EXAMPLES": str(examples),
            "JOBJANITOR_FUZZ_RANDOM": "1",
            "JOBJANITOR_FUZZ_REPORT": count_file.name,
        },
    )
    summary = next(
        (line for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), ""
    )
    with open(count_file.name) as f:
        checked = int(f.read().strip() or 0)
    os.unlink(count_file.name)
    return {
        "examples": examples,
        "checked": checked,
        "passed": result.returncode == 0,
        "seconds": time.perf_counter() - started,
        "summary": summary.strip("= "),
        "tail": "\n".join(result.stdout.splitlines()[-15:]) if result.returncode else "",
    }
