"""Reads uv.lock: the exact versions of the runtime set (what the layer must hold) and of the
runtime and dev sets (what .venv must hold), for a given platform. Tests compare them with what
was installed; this reads the lock itself rather than asking uv, so it checks uv's work too."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.markers import Marker, default_environment
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parent.parent / "uv.lock"
PROJECT = "jobjanitor"

# The Lambda the template deploys: python3.13 on arm64.
LAMBDA_ENVIRONMENT = {
    **default_environment(),
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def _applies(dep: Mapping[str, Any], environment: Mapping[str, str]) -> bool:
    marker = dep.get("marker")
    return marker is None or Marker(marker).evaluate({**environment, "extra": ""})


def locked_versions(
    extras: Iterable[str] = (), environment: Mapping[str, str] = LAMBDA_ENVIRONMENT, lock: Path = LOCK
) -> dict[str, str]:
    """Canonical name -> version of every package the project needs, transitively: its runtime
    dependencies, plus its optional-dependency groups ``extras`` (e.g. ``dev``)."""
    packages = {canonicalize_name(p["name"]): p for p in tomllib.loads(lock.read_text())["package"]}
    root = packages[PROJECT]
    todo: list[Mapping[str, Any]] = list(root.get("dependencies", []))
    for extra in extras:
        todo.extend(root.get("optional-dependencies", {})[extra])
    out: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    while todo:
        dep = todo.pop()
        if not _applies(dep, environment):
            continue
        name = canonicalize_name(dep["name"])
        package = packages[name]
        for extra in ["", *dep.get("extra", [])]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            out[name] = package["version"]
            if extra:
                todo.extend(package.get("optional-dependencies", {}).get(extra, []))
            else:
                todo.extend(package.get("dependencies", []))
    return out
