"""Cold start as deployed, and the artifact's size (``make bench`` runs it through
benchmarks/run.py).

    python -m benchmarks.coldstart                  # sam build, then every figure below, as JSON
    python -m benchmarks.coldstart imports [--runs N] [--mb MB | --full-cpu]
        # only the handler-import rows (import boto3, each handler as shipped), from the current
        # build (make build first), at Lambda's share for MB (256 by default) or on a full core:
        # the rows and the target's, as make bench writes them, in about a minute

Every import runs in a fresh interpreter laid out as Lambda lays out the built artifact
(``.aws-sam/build``): the function's code, then the layer, then the standard library; no
site-packages (``-I -S``), no bytecode written (``-B``; Lambda's ``/var/task`` and ``/opt`` are
read-only), from a read-only copy of the build. The environment is the template's defaults:
``Tracing: Active`` (POWERTOOLS_TRACE_DISABLED=false), and LAMBDA_TASK_ROOT set, as Powertools
checks it before it traces. ``import boto3`` runs from the same layer, the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from artifact import built
from benchmarks import cgroup
from benchmarks.common import ROOT

TARGET_RATIO = 1.5  # handler import / import boto3
SHARE_TARGET_RATIO = 1.2  # the same, at Lambda's CPU share for SHARE_MB
SHARE_MB = 256
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


def _run_ms(
    code: str, path: list[Path], env: dict[str, str], wrap: Callable[[list[str]], list[str]] | None = None
) -> float:
    out = built.run_python(code, path=path, env=env, python=str(Path(ROOT) / ".venv" / "bin" / "python"), wrap=wrap)
    if out.returncode != 0:
        raise RuntimeError(f"cold-start probe failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _read_only_copy(source: Path, target: Path, *, bytecode: bool) -> None:
    shutil.copytree(source, target, ignore=None if bytecode else shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@contextmanager
def deployed_copy(*, bytecode: bool = True) -> Iterator[Path]:
    """A read-only copy of the built artifact (``.aws-sam/build``), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="jobjanitor-coldstart-") as tmp:
        target = Path(tmp) / ("deployed" if bytecode else "source-only")
        _read_only_copy(built.BUILD, target, bytecode=bytecode)
        yield target


def _probes(deployed: Path, source_only: Path | None) -> dict[str, tuple[str, list[Path], dict[str, str]]]:
    """Label -> (code, import path, environment) of each cold-start probe."""
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
        timed = TIMED.format(statement=f"import {module}")
        probes[f"{name} (tracing on)"] = (timed, path, _lambda_env(function, deployed, True))
        if source_only is None:
            continue
        probes[f"{name} (tracing off)"] = (timed, path, _lambda_env(function, deployed, False))
        probes[f"{name} (tracing on) + Tracer on first invocation"] = (
            FIRST_CALL.format(module=module),
            path,
            _lambda_env(function, deployed, True),
        )
        probes[f"{name} (tracing on), no bytecode"] = (
            timed,
            built.lambda_path(function, source_only),
            _lambda_env(function, source_only, True),
        )
    return probes


def import_times(
    runs: int = 11, *, wrap: Callable[[list[str]], list[str]] | None = None, variants: bool = True
) -> dict[str, Any]:
    """The fastest of ``runs`` fresh interpreters, in ms (the import does the same work every
    time and a shared machine only adds to it), each kind interleaved with the others: import boto3, each handler with tracing on (the template's default) and off,
    each handler's first-invocation tracer set-up, and each handler without precompiled bytecode
    (what the build shipped before it compiled any). With ``wrap`` (a CPU-limited cgroup's
    command, :mod:`benchmarks.cgroup`) or without ``variants``: only import boto3 and each handler
    as shipped."""
    out: dict[str, Any] = {"runs": runs}
    with deployed_copy() as deployed, contextlib.ExitStack() as stack:
        source_only = None if wrap or not variants else stack.enter_context(deployed_copy(bytecode=False))
        probes = _probes(deployed, source_only)
        samples: dict[str, list[float]] = {label: [] for label in probes}
        for _ in range(runs):
            for label, (code, path, env) in probes.items():
                samples[label].append(_run_ms(code, path, env, wrap))
        out.update({label: min(values) for label, values in samples.items()})
    return out


# A cold invocation: the interpreter starts, imports the handler and calls it once with the
# event (a file), a Lambda context of the function's timeout and memory; prints when it had
# imported, when the handler returned, the process's CPU seconds and peak memory, the answer.
INVOKE = """
import json, os, time
from {module} import lambda_handler
imported = time.time()

class Context:
    function_name = {function_name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = {memory_mb}
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    _end = time.monotonic() + {timeout_s}

    def get_remaining_time_in_millis(self):
        return max(0, int((self._end - time.monotonic()) * 1000))

with open({event_path!r}) as f:
    event = json.load(f)
answer = lambda_handler(event, Context())
answered = time.time()
times = os.times()
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
print()
print(json.dumps({{"imported": imported, "answered": answered, "cpu_s": times.user + times.system,
                  "vmhwm_mb": peak, "answer": answer}}, default=str))
"""


def invoke(
    function: str,
    event: dict[str, Any],
    *,
    deployed: Path,
    env: dict[str, str],
    memory_mb: int,
    timeout_s: float,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> dict[str, Any]:
    """``function``'s handler invoked once in a fresh interpreter from the read-only ``deployed``
    artifact (a cold execution environment), inside ``wrap`` (a CPU-limited cgroup). Seconds
    from the process's start to the import's end and to the handler's answer, its CPU seconds
    and peak memory, and the answer."""
    module = built.HANDLERS[function]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
    code = INVOKE.format(
        module=module,
        function_name=function,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        event_path=f.name,
    )
    lambda_env = {**_lambda_env(function, deployed, True), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb), **env}
    started = time.time()
    try:
        out = built.run_python(
            code,
            path=built.lambda_path(function, deployed),
            env=lambda_env,
            python=str(Path(ROOT) / ".venv" / "bin" / "python"),
            timeout=timeout_s + 60,
            wrap=wrap,
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(f"{function}'s cold invocation failed: {out.stderr[-2000:]}")
    child = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "import_s": child["imported"] - started,
        "answer_s": child["answered"] - started,
        "cpu_s": child["cpu_s"],
        "vmhwm_mb": child["vmhwm_mb"],
        "answer": child["answer"],
    }


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
    figures["imports"] = import_times(3 if quick else 7)
    figures["imports_at_share"] = imports_at_share(SHARE_MB, 2 if quick else 5)
    figures["load"] = os.getloadavg()[0]
    figures["seconds"] = time.perf_counter() - started
    return figures


def imports_at_share(memory_mb: int, runs: int) -> dict[str, Any]:
    """:func:`import_times` of import boto3 and each handler as shipped, in a cgroup at Lambda's
    CPU share for ``memory_mb``; or why no such cgroup could be made (``skipped``)."""
    with cgroup.cpu_limit(memory_mb) as limit:
        if isinstance(limit, str):
            return {"skipped": limit}
        return {
            **import_times(runs, wrap=limit.command),
            "memory_mb": memory_mb,
            "share": limit.share,
            "measured_share": limit.measured,
        }


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
        *_share_rows(f, names),
        f"| handler import at most 1.5x `import boto3`, from the built artifact, tracing as the template ships it (Active) | {', '.join(f'{h} {r:.2f}x' for h, r in on.items())} (tracing off: {', '.join(f'{r:.2f}x' for r in off.values())}) | {_met(max(on.values()) <= TARGET_RATIO)} |",
        f"| at most 5 MB zipped per function plus the layer | {', '.join(f'{fn.removesuffix("Function").lower()} {mb:.2f} MB' for fn, mb in sizes.items())} | {_met(max(sizes.values()) <= TARGET_MB)} |",
    ]


def _share_rows(f: dict[str, Any], names: list[str], memory_mb: int = SHARE_MB) -> list[str]:
    at = f.get("imports_at_share")
    target = f"handler import at {cgroup.share(memory_mb):.3f} CPU ({memory_mb} MB) at most {SHARE_TARGET_RATIO}x `import boto3` at the same share, from the built artifact"
    if not at:
        return []
    if "skipped" in at:
        return [f"| {target} | not measured: {at['skipped']} | **missed** |"]
    boto = at["import boto3"]
    ratios = {h: at[f"{h} (tracing on)"] / boto for h in names}
    measured = ", ".join(f"{h} {r:.2f}x" for h, r in ratios.items()) + f" (`import boto3` {boto / 1000:.2f} s)"
    return [f"| {target} | {measured} | {_met(max(ratios.values()) <= SHARE_TARGET_RATIO)} |"]


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
    at = f.get("imports_at_share") or {}
    if "import boto3" in at:
        lines += [
            "",
            f"The same imports at Lambda's CPU share for {at['memory_mb']} MB ({at['share']:.3f} of one CPU; a busy loop got {at['measured_share']:.3f}), in a",
            f"cgroup (`benchmarks/cgroup.py`), the fastest of {at['runs']}:",
            "",
            "| import | ms | vs `import boto3` |",
            "|---|---|---|",
        ]
        lines += import_rows(at)
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


def import_rows(imports: dict[str, Any]) -> list[str]:
    """``| import | ms | vs import boto3 |`` rows of :func:`import_times`' figures."""
    boto = imports["import boto3"]
    return [
        f"| `{label}` | {value:.0f} | {value / boto:.2f}x |"
        for label, value in imports.items()
        if isinstance(value, float) and label not in ("share", "measured_share")
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.coldstart", description="Cold start as deployed, and the artifact's size."
    )
    sub = parser.add_subparsers(dest="part")
    only = sub.add_parser("imports", help="only the handler-import rows, from the current build")
    only.add_argument("--runs", type=int, default=5, help="fresh interpreters per import; the fastest counts")
    only.add_argument("--mb", type=int, default=SHARE_MB, help="at Lambda's CPU share for this MemorySize")
    only.add_argument("--full-cpu", action="store_true", help="on a full core instead of in a cgroup")
    args = parser.parse_args(argv)
    if args.part is None:
        print(json.dumps(collect(), indent=1))
        return
    if not built.is_built():
        parser.exit(2, "no built artifact in .aws-sam/build: run make build first\n")
    names = [module.rsplit(".", 1)[-1] for module in built.HANDLERS.values()]
    if args.full_cpu:
        imports = import_times(args.runs, variants=False)
        ratio = max(imports[f"{h} (tracing on)"] for h in names) / imports["import boto3"]
        rows = [
            f"| handler import at most {TARGET_RATIO}x `import boto3` on a full core | {ratio:.2f}x | {_met(ratio <= TARGET_RATIO)} |"
        ]
    else:
        imports = imports_at_share(args.mb, args.runs)
        rows = _share_rows({"imports_at_share": imports}, names, args.mb)
    print(f"fastest of {args.runs}, load average {os.getloadavg()[0]:.1f}")
    print("\n".join([*(import_rows(imports) if "skipped" not in imports else []), *rows]))


if __name__ == "__main__":
    main(sys.argv[1:])
