"""The project's size limits, read from the source with ``ast`` so they stay true: no module
over 400 lines in functions/, no class over 200 lines, no function over 60 (a function's lines
run from its ``def`` to its last line, docstring included, decorators not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "functions"
PACKAGE = ROOT / "jobjanitor"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60

# Nothing is over a limit: a part that grows past one is split, never listed here.
KNOWN_EXCEPTIONS: frozenset[str] = frozenset()


def _over_limits(path: Path, root: Path = ROOT) -> list[tuple[str, int, int]]:
    """(what, lines, limit) for each part of ``path`` over its limit, named from ``root``."""
    name = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    found: list[tuple[str, int, int]] = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append((f"module {name}", lines, MAX_MODULE_LINES))

    def visit(node: ast.AST, qualname: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = f"{qualname}.{child.name}" if qualname else child.name
                size = (child.end_lineno or child.lineno) - child.lineno + 1
                is_class = isinstance(child, ast.ClassDef)
                limit = MAX_CLASS_LINES if is_class else MAX_FUNCTION_LINES
                if size > limit:
                    found.append((f"{'class' if is_class else 'function'} {name}:{inner}", size, limit))
                visit(child, inner)
            else:
                visit(child, qualname)

    visit(ast.parse(text, filename=str(path)), "")
    return found


def test_modules_classes_and_functions_stay_within_their_limits() -> None:
    over = [item for path in sorted(PACKAGE.rglob("*.py")) for item in _over_limits(path)]
    new = [f"{what}: {lines} lines (limit {limit})" for what, lines, limit in over if what not in KNOWN_EXCEPTIONS]
    assert not new, "over the size limits (split it; do not add it to KNOWN_EXCEPTIONS):\n" + "\n".join(new)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n" + "    x = 1\n" * 60, ["function jobjanitor/probe.py:f"]),
        ("class C:\n    def m(self):\n" + "        x = 1\n" * 59, []),
        ("class C:\n" + "    x = 1\n" * 200, ["class jobjanitor/probe.py:C"]),
        ("x = 1\n" * 401, ["module jobjanitor/probe.py"]),
    ],
)
def test_the_check_sees_each_limit(tmp_path: Path, source: str, expected: list[str]) -> None:
    probe = tmp_path / "jobjanitor" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(source, encoding="utf-8")
    assert [what for what, _, _ in _over_limits(probe, tmp_path)] == expected
