"""Each make target installs only the tools it runs: `make build` needs SAM CLI (and uv, through
the venv), never checkov, which takes a minute to install. Planned with `make -n` against an
empty tools directory, so every install step shows and nothing runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def plan(target: str, tools: Path, venv: Path) -> str:
    done = subprocess.run(  # noqa: S603 - make and a target of ours
        ["make", "--no-print-directory", "-n", target, f"TOOLS={tools}", f"VENV={venv}"],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("target", "installs", "never"),
    [
        ("build", ["tools/sam-cli.txt", "tools/uv.txt"], ["checkov"]),
        ("venv", ["tools/uv.txt"], ["checkov", "sam-cli"]),
        ("demo", ["tools/uv.txt"], ["checkov", "sam-cli"]),
        ("cfn", ["tools/sam-cli.txt", "tools/checkov.txt"], []),
        ("tools", ["tools/sam-cli.txt", "tools/checkov.txt", "tools/uv.txt"], []),
    ],
)
def test_a_target_installs_only_the_tools_it_runs(
    tmp_path: Path, target: str, installs: list[str], never: list[str]
) -> None:
    planned = plan(target, tmp_path / "tools", tmp_path / "venv")
    for requirement in installs:
        assert f"-r {requirement}" in planned, planned
    for tool in never:
        assert tool not in planned, planned
