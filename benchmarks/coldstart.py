"""Cold start as deployed, and the artifact's size (``make bench`` runs it through
benchmarks/run.py; ``python -m benchmarks.coldstart`` alone prints its figures as JSON).

Every import runs in a fresh interpreter laid out as Lambda lays out the built artifact
(``.aws-sam/build``): the function's code, then the layer, then the standard library; no
site-packages (``-I -S``), no bytecode written (``-B``; Lambda's ``/var/task`` and ``/opt`` are
read-only), from a read-only copy of the build. The environment is the template's defaults:
``Tracing: Active`` (POWERTOOLS_TRACE_DISABLED=false), and LAMBDA_TASK_ROOT set, as Powertools
checks it before it traces. ``import boto3`` runs from the same layer, the same way.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from artifact import built
from benchmarks.common import ROOT

TARGET_RATIO = 1.5  # handler import / import boto3
TARGET_MB = 5.0  # zipped, per function plus the layer

TIMED = "import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
# The handler's import, then what its first invocation adds before the handler body runs: with
# tracing on, building the Tracer (the X-Ray SDK and its botocore patch), kept off the import path.
FIRST_CALL = (
    "import time; t = time.perf_counter(); import {module}; from jobjanitor.observability import tracer; "
    "getattr(tracer, 'real', lambda: None)(); print((time.perf_counter() - t) * 1000)"
)


def _lambda_env(function: str, root: Path, tracing: bool) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "LAMBDA_TASK_ROOT": str(root / function),
        "POWERTOOLS_SERVICE_NAME": "jobjanitor",
        "POWERTOOLS_METRICS_NAMESPACE": "JobJanitor",
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }


def _run_ms(code: str, path: list[Path], env: dict[str, str]) -> float:
    out = built.run_python(code, path=path, env=env, python=str(Path(ROOT) / ".venv" / "bin" / "python"))
    if out.returncode != 0:
        raise RuntimeError(f"cold-start probe failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _read_only_copy(source: Path, target: Path, *, bytecode: bool) -> None:
    shutil.copytree(source, target, ignore=None if bytecode else shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def import_times(runs: int = 11) -> dict[str, Any]:
    """The fastest of ``runs`` fresh interpreters, in ms (the import does the same work every
    time and a shared machine only adds to it), each kind interleaved with the others: import boto3, each handler with tracing on (the template's default) and off,
    each handler's first-invocation tracer set-up, and each handler without precompiled bytecode
    (what the build shipped before it compiled any)."""
    out: dict[str, Any] = {"runs": runs}
    with tempfile.TemporaryDirectory(prefix="jobjanitor-coldstart-") as tmp:
        deployed, source_only = Path(tmp) / "deployed", Path(tmp) / "source-only"
        _read_only_copy(built.BUILD, deployed, bytecode=True)
        _read_only_copy(built.BUILD, source_only, bytecode=False)
        probes: dict[str, tuple[str, list[Path], dict[str, str]]] = {
            "import boto3": (
                TIMED.format(statement="import boto3"),
                [built.layer_site(deployed)],
                _lambda_env("GuardFunction", deployed, True),
            )
        }
        for function, module in built.HANDLERS.items():
            name = module.rsplit(".", 1)[-1]
            path = built.lambda_path(function, deployed)
            probes[f"{name} (tracing on)"] = (
                TIMED.format(statement=f"import {module}"),
                path,
                _lambda_env(function, deployed, True),
            )
            probes[f"{name} (tracing off)"] = (
                TIMED.format(statement=f"import {module}"),
                path,
                _lambda_env(function, deployed, False),
            )
            probes[f"{name} (tracing on) + Tracer on first invocation"] = (
                FIRST_CALL.format(module=module),
                path,
                _lambda_env(function, deployed, True),
            )
            probes[f"{name} (tracing on), no bytecode"] = (
                TIMED.format(statement=f"import {module}"),
                built.lambda_path(function, source_only),
                _lambda_env(function, source_only, True),
            )
        samples: dict[str, list[float]] = {label: [] for label in probes}
        for _ in range(runs):
            for label, (code, path, env) in probes.items():
                samples[label].append(_run_ms(code, path, env))
        out.update({label: min(values) for label, values in samples.items()})
    return out


def _zipped_mb(folder: Path) -> tuple[float, float]:
    raw = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                raw += path.stat().st_size
                archive.write(path, path.relative_to(folder))
    return raw / 1e6, len(buffer.getvalue()) / 1e6


def package_size() -> dict[str, Any]:
    """Unzipped and zipped MB of the layer and of each function (as sam package zips them)."""
    out: dict[str, Any] = {}
    for name in (built.LAYER, *built.FUNCTIONS):
        unzipped, zipped = _zipped_mb(built.BUILD / name)
        out[name] = {"unzipped_mb": unzipped, "zipped_mb": zipped}
    return out


def build() -> bool:
    """``make build`` (sam build); False if it failed."""
    result = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S607
    return result.returncode == 0


def collect(*, quick: bool = False) -> dict[str, Any]:
    """Build, then measure: the figures :func:`render` reports."""
    started = time.perf_counter()
    figures: dict[str, Any] = {"built": build(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not figures["built"] or not built.is_built():
        return figures
    figures["package"] = package_size()
    figures["imports"] = import_times(3 if quick else 11)
    figures["load"] = os.getloadavg()[0]
    figures["seconds"] = time.perf_counter() - started
    return figures


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def target_rows(f: dict[str, Any]) -> list[str]:
    """The cold-start and size rows of docs/benchmarks.md's target table."""
    if not f.get("built") or "imports" not in f:
        return [
            "| handler import at most 1.5x `import boto3`, as deployed | `make build` failed: not measured | **missed** |"
        ]
    imp, pkg = f["imports"], f["package"]
    boto = imp["import boto3"]
    names = [module.rsplit(".", 1)[-1] for module in built.HANDLERS.values()]
    on = {h: imp[f"{h} (tracing on)"] / boto for h in names}
    off = {h: imp[f"{h} (tracing off)"] / boto for h in names}
    layer = pkg[built.LAYER]["zipped_mb"]
    sizes = {fn: pkg[fn]["zipped_mb"] + layer for fn in built.FUNCTIONS}
    return [
        f"| handler import at most 1.5x `import boto3`, from the built artifact, tracing as the template ships it (Active) | {', '.join(f'{h} {r:.2f}x' for h, r in on.items())} (tracing off: {', '.join(f'{r:.2f}x' for r in off.values())}) | {_met(max(on.values()) <= TARGET_RATIO)} |",
        f"| at most 5 MB zipped per function plus the layer | {', '.join(f'{fn.removesuffix("Function").lower()} {mb:.2f} MB' for fn, mb in sizes.items())} | {_met(max(sizes.values()) <= TARGET_MB)} |",
    ]


def render(f: dict[str, Any]) -> list[str]:
    """docs/benchmarks.md's cold-start section (without its heading)."""
    if not f.get("built") or "imports" not in f:
        return ["`make build` failed in this run: nothing was measured.", ""]
    imp, pkg = f["imports"], f["package"]
    boto = imp["import boto3"]
    lines = [
        f"Measured {f.get('date', '-')} (load average {f.get('load', 0):.1f} on this shared machine).",
        "",
        f"Import time from the built artifact (`.aws-sam/build`), the fastest of {imp['runs']} fresh interpreters each",
        "(each import does the same work every time; other processes only add to it), interleaved,",
        "laid out as Lambda lays it out: the function's code, then the layer, then the standard library; no",
        "site-packages, a read-only copy, no bytecode written (`-I -S -B`). Environment: the template's defaults",
        "(`Tracing: Active`), `LAMBDA_TASK_ROOT` set. This machine is x86_64 and the layer is built for arm64, so",
        "wrapt runs its pure-Python fallback here (Lambda loads its aarch64 extension).",
        "",
        "| import | ms | vs `import boto3` |",
        "|---|---|---|",
    ]
    for label, value in imp.items():
        if label != "runs":
            lines.append(f"| `{label}` | {value:.0f} | {value / boto:.2f}x |")
    lines += [
        "",
        "With tracing on, the Tracer (the X-Ray SDK, whose sampler creates botocore clients, and its patch of",
        "botocore) is built on the first invocation instead of at import (`observability._LazyTracer`): the",
        '"first invocation" rows show what that adds, once per execution environment. "No bytecode" is the',
        "same artifact without its `__pycache__` folders: what every cold start compiled before the build",
        "precompiled (`unchecked-hash` pycs for Python 3.13).",
        "",
        "Built artifact (`make build`: `BuildMethod: makefile`, arm64; zipped as `sam package` zips it):",
        "",
        "| | unzipped | zipped | zipped with the layer |",
        "|---|---|---|---|",
    ]
    layer = pkg[built.LAYER]
    lines.append(f"| {built.LAYER} | {layer['unzipped_mb']:.1f} MB | {layer['zipped_mb']:.2f} MB | |")
    for fn in built.FUNCTIONS:
        size = pkg[fn]
        lines.append(
            f"| {fn} | {size['unzipped_mb']:.2f} MB | {size['zipped_mb']:.2f} MB | {size['zipped_mb'] + layer['zipped_mb']:.2f} MB |"
        )
    lines += [
        "",
        "The layer holds the runtime set pinned in `uv.lock`, with only the botocore models the code's clients",
        "need (their documentation stripped) and the Powertools modules its imports reach (docs/build.md).",
        "",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(collect(), indent=1))
