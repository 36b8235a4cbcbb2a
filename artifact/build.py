"""Builds the Lambda artifact: the dependencies layer and the two functions (docs/build.md).

``sam build`` runs ``artifact/Makefile`` (``BuildMethod: makefile``) from the repository root;
the Makefile installs the locked runtime set for arm64 into the layer, then calls

    python -m artifact.build layer    ARTIFACTS_DIR/python   # trim, then precompile
    python -m artifact.build function ARTIFACTS_DIR          # copy jobjanitor, then precompile
    python -m artifact.build services                        # the botocore models kept, one a line

What the layer keeps of botocore's 400-odd service models is derived from the code: every
``client("name")`` / ``resource("name")`` call in ``functions/jobjanitor`` (a call whose service
is not a string literal stops the build), plus the clients our libraries create
(:data:`LIBRARY_SERVICES`). Of Powertools it keeps the modules our code's imports reach
(statically, imports inside functions and ``TYPE_CHECKING`` blocks included). Everything is
compiled for Python 3.13 into ``unchecked-hash`` pycs: Lambda's ``/var/task`` and ``/opt`` are
read-only, so without them every cold start compiles from source; unchecked, because zip
timestamps are not preserved and the files never change after the build.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import gzip
import json
import py_compile
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "functions" / "jobjanitor"
PYTHON = (3, 13)  # the template's Runtime: python3.13

# Clients created by libraries the functions ship, not by our code (why each is kept).
LIBRARY_SERVICES = {
    "dynamodb": "Powertools idempotency (DynamoDBPersistenceLayer)",
    "xray": "the X-Ray SDK's sampler, created when aws_xray_sdk.core is imported",
}
# botocore/data files that are not service models: all kept.
BOTOCORE_DATA_FILES = ("_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json")
# Never needed at run time: documentation examples, C sources, type stubs, console scripts.
DROP_SUFFIXES = (".c", ".pyi")
DROP_NAMES = ("examples-1.json", "RECORD")  # RECORD: hashes of files the trimming removed
DROP_TOP = ("bin", "wrapt-stubs")
POWERTOOLS = "aws_lambda_powertools"
# Powertools subpackages reached only through imports inside functions that serve features we
# do not use; the closure does not follow imports into them.
POWERTOOLS_NOT_FOLLOWED = {
    "aws_lambda_powertools.event_handler": "reached only via shared.functions.pydantic_to_dict "
    "(Pydantic models; pydantic is not in the runtime set)",
}


class BuildError(Exception):
    pass


# ---------------------------------------------------------------- which service models
def _python_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def client_services(package: Path = PACKAGE) -> dict[str, list[str]]:
    """Service name -> where the code creates a client (or resource) for it. A ``client(...)``
    whose service is not a string literal is an error naming the line: the build could not
    know which model to keep."""
    found: dict[str, list[str]] = {}
    for path in _python_files(package):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in ("client", "resource", "create_client"):
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "service_name"), None)
            where = f"{path.relative_to(package.parent)}:{node.lineno}"
            service = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            if arg is None or (name == "resource" and service is None):
                continue  # not a boto3 call (some other callable named resource)
            if service is None:
                raise BuildError(
                    f"{where}: {name}() with a service name that is not a string literal; "
                    "the build keeps only the botocore models it can see (artifact/build.py)"
                )
            found.setdefault(service, []).append(where)
    return found


def kept_services(package: Path = PACKAGE) -> list[str]:
    """Every botocore service model the functions need, sorted."""
    return sorted(set(client_services(package)) | set(LIBRARY_SERVICES))


def trim_botocore(site: Path, services: Iterable[str]) -> None:
    keep = set(services)
    data = site / "botocore" / "data"
    present = {p.name for p in data.iterdir() if p.is_dir()}
    missing = keep - present
    if missing:
        raise BuildError(f"botocore has no model for {sorted(missing)}")
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry)
        elif entry.is_file() and entry.name not in BOTOCORE_DATA_FILES:
            entry.unlink()
    for model in data.glob("*/*/service-2.json*"):
        _strip_documentation(model)
    resources = site / "boto3" / "data"
    for entry in resources.iterdir():
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry)


def _strip_documentation(model: Path) -> None:
    """Service models are mostly API documentation, which botocore reads only for docstrings
    (``help(client.method)``): drop it, keep everything that shapes a request or a response."""

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("documentation", "documentationUrl")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    opener = gzip.open if model.suffix == ".gz" else open
    with opener(model, "rt", encoding="utf-8") as source:
        content = strip(json.load(source))
    # mtime=0: the same lock builds the same bytes.
    with open(model, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as target:
        target.write(json.dumps(content, separators=(",", ":")).encode())
    if model.suffix != ".gz":
        model.rename(model.with_name(model.name + ".gz"))


# ---------------------------------------------------------------- which Powertools modules
def _module_index(site: Path, top: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in _python_files(site / top):
        parts = list(path.relative_to(site).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        index[".".join(parts)] = path
    return index


def _imports(path: Path, module: str) -> set[str]:
    """Every module name an import anywhere in the file may load (``from a import b`` counts
    ``a`` and ``a.b``: b may be a submodule)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def reachable_modules(
    site: Path, top: str, roots: Iterable[Path], not_followed: Iterable[str] = POWERTOOLS_NOT_FOLLOWED
) -> set[str]:
    """Modules of package ``top`` in ``site`` that imports in ``roots`` reach, transitively,
    with every parent package."""
    index = _module_index(site, top)
    todo = [name for root in roots for name in _imports(root, "") if name.split(".")[0] == top]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in index or name in seen or any(name.startswith(f"{n}.") or name == n for n in not_followed):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            parent = ".".join(parts[:i])
            if parent in index and parent not in seen:
                seen.add(parent)
                todo.extend(n for n in _imports(index[parent], parent) if n.split(".")[0] == top)
    return seen


def trim_powertools(site: Path, package: Path = PACKAGE) -> list[str]:
    """Drop the Powertools modules our code cannot reach; returns what was dropped."""
    keep = reachable_modules(site, POWERTOOLS, _python_files(package))
    dropped = []
    for name, path in _module_index(site, POWERTOOLS).items():
        if name not in keep:
            dropped.append(name)
            path.unlink()
    for folder in sorted((site / POWERTOOLS).rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(p.suffix == ".py" for p in folder.rglob("*.py")):
            shutil.rmtree(folder)
    return sorted(dropped)


# ---------------------------------------------------------------- bytecode
def precompile(folder: Path) -> None:
    """``unchecked-hash`` pycs for every module (Python 3.13, the runtime's version)."""
    if sys.version_info[:2] != PYTHON:
        raise BuildError(f"precompiling needs Python {PYTHON[0]}.{PYTHON[1]}, this is {sys.version.split()[0]}")
    ok = compileall.compile_dir(
        str(folder), quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not ok:
        raise BuildError(f"compileall failed under {folder}")


def _drop_extras(site: Path) -> None:
    for name in DROP_TOP:
        shutil.rmtree(site / name, ignore_errors=True)
    for path in list(site.rglob("*")):
        if path.is_file() and (path.suffix in DROP_SUFFIXES or path.name in DROP_NAMES):
            path.unlink()
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache)


def build_layer(site: Path) -> None:
    """``site`` holds the locked runtime set, installed for the target: trim it, compile it."""
    _drop_extras(site)
    trim_botocore(site, kept_services())
    dropped = trim_powertools(site)
    print(f"layer: kept botocore models {', '.join(kept_services())}; dropped {len(dropped)} Powertools modules")
    precompile(site)


def build_function(out: Path) -> None:
    """The function holds only jobjanitor itself (its dependencies are the layer's)."""
    target = out / "jobjanitor"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    precompile(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artifact.build", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("layer").add_argument("site", type=Path)
    sub.add_parser("function").add_argument("out", type=Path)
    sub.add_parser("services")
    args = parser.parse_args(argv)
    try:
        if args.what == "layer":
            build_layer(args.site)
        elif args.what == "function":
            build_function(args.out)
        else:
            print("\n".join(kept_services()))
    except BuildError as exc:
        print(f"artifact.build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
