"""No doc, example or event recommends a job-id prefix built from the stack's name.

``${AWS::StackName}-`` for stack ``ml`` is ``ml-``, which also selects stack ``ml-staging``'s
jobs: a guard (or a stack's opt-in tag) given it cancels another stack's jobs on teardown. The
README and docs/guard.md explain why; every snippet must use a prefix no other stack shares.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SOURCES += sorted(p for d in ("examples", "events") for p in (REPO / d).rglob("*") if p.is_file())
# A property or tag that sets a prefix, as YAML, JSON or a CLI/tag argument, and its value.
SETTING = re.compile(
    r"""(?:JobIdPrefix|job-id-prefix|JOBJANITOR_JOB_ID_PREFIX|jobIdPrefix)["']?\s*[:=,]\s*(?P<value>.+)""",
    re.IGNORECASE,
)


def _settings(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        match = SETTING.search(line)
        if match and not line.lstrip().startswith("#"):
            found.append((number, match.group("value")))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_snippet_sets_a_prefix_from_the_stack_name(path: Path) -> None:
    offending = [f"{path.name}:{n}: {v}" for n, v in _settings(path) if "StackName" in v]
    assert offending == [], offending


def test_the_documented_snippets_are_checked() -> None:
    """The scan sees the snippets it is meant to police (deploy.md's guard, the example)."""
    assert _settings(REPO / "docs" / "deploy.md")
    assert _settings(REPO / "examples" / "consumer-stack.yaml")
