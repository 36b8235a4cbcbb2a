"""Cold start: import time of each handler module against ``import boto3`` alone (median of
fresh processes, same interpreter), and the size of the built package."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from typing import Any

from benchmarks.common import ROOT, median_of_processes

PROBE = "import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
MODULES = {
    "import boto3": "boto3",
    "jobjanitor.handlers.guard": "jobjanitor.handlers.guard",
    "jobjanitor.handlers.sweeper": "jobjanitor.handlers.sweeper",
}


def import_times(runs: int = 9) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for tracing in ("true", "false"):
        env = {"POWERTOOLS_TRACE_DISABLED": "false" if tracing == "true" else "true", "AWS_DEFAULT_REGION": "us-east-1"}
        # Interleave the modules so machine noise hits them alike.
        for label, module in MODULES.items():
            key = label if label == "import boto3" else f"{label} (tracing {'on' if tracing == 'true' else 'off'})"
            if label == "import boto3" and tracing == "false":
                continue
            out[key] = median_of_processes(PROBE.format(module=module), runs, env)
    return out


def package_size() -> dict[str, Any]:
    build = os.path.join(ROOT, ".aws-sam", "build")
    out: dict[str, Any] = {}
    for function in ("GuardFunction", "SweeperFunction"):
        path = os.path.join(build, function)
        if not os.path.isdir(path):
            continue
        raw = 0
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder, _, files in os.walk(path):
                for name in files:
                    full = os.path.join(folder, name)
                    raw += os.path.getsize(full)
                    archive.write(full, os.path.relpath(full, path))
        out[function] = {"unzipped_mb": raw / 1e6, "zipped_mb": len(buffer.getvalue()) / 1e6}
    return out


def build() -> bool:
    """``make build`` (sam build); False if it is not available here."""
    result = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S607
    return result.returncode == 0
