"""The built artifact (``.aws-sam/build``) as Lambda lays it out, for tests and benchmarks:
each function's code at ``/var/task`` and the layer's ``python/`` at ``/opt/python``, nothing
else on the path (the interpreter runs with ``-I -S``: no site-packages, no PYTHON* variables)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
TEMPLATE = ROOT / "template.yaml"
LAYER = "DependenciesLayer"


class _TemplateLoader(yaml.SafeLoader):
    """Reads template.yaml for its plain strings only: every intrinsic (!Ref, !Sub...) is None."""


_TemplateLoader.add_multi_constructor("!", lambda *_: None)


def handlers(template: Path = TEMPLATE) -> dict[str, str]:
    """Logical id -> handler module of every function in the template, in template order."""
    resources: dict[str, Any] = yaml.load(template.read_text(), Loader=_TemplateLoader)["Resources"]  # noqa: S506 - a SafeLoader
    return {
        name: resource["Properties"]["Handler"].rsplit(".", 1)[0]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


HANDLERS = handlers()
FUNCTIONS = tuple(HANDLERS)


def layer_site(build: Path = BUILD) -> Path:
    return build / LAYER / "python"


def function_dir(function: str, build: Path = BUILD) -> Path:
    return build / function


def is_built(build: Path = BUILD) -> bool:
    return layer_site(build).is_dir() and all(function_dir(f, build).is_dir() for f in FUNCTIONS)


def run_python(
    code: str,
    *,
    path: list[Path],
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    python: str = sys.executable,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter whose only import path besides the standard library
    is ``path``, without writing bytecode (Lambda's code directories are read-only). ``wrap``
    turns the command into the one run (a CPU-limited cgroup's: ``benchmarks.cgroup``)."""
    prelude = f"import sys; sys.path[0:0] = {[str(p) for p in path]!r}\n"
    command = [python, "-I", "-S", "-B", "-c", prelude + code]
    return subprocess.run(  # noqa: S603 - an interpreter of ours, our code
        wrap(command) if wrap else command,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lambda_path(function: str, build: Path = BUILD) -> list[Path]:
    """The import path Lambda gives ``function``: its code, then the layer."""
    return [function_dir(function, build), layer_site(build)]
