"""Every command in README.md and docs/*.md is run, or checked, here, so a doc cannot drift.

The convention, by the fenced block's info string:

- ```bash (or ```sh, ```shell): run here, locally and offline (the test bed stands in for
  AWS), as one `bash -euo pipefail` script per block from the repository root, in document
  order (README.md first, then docs/*.md by name); it must exit 0. A test bed a block starts
  with `--background` prints `pid=N`: it is stopped when every block has run, so later blocks
  reuse it (`make invoke` uses the one the README starts where events/env.json points). A
  `jobjanitor list` or `sweep` in such a block must select at least one job: an example that
  matches nothing teaches nothing (issue 23: the README's recipe selected nothing).
  Commands in SKIPPED are not run, each for the reason it gives (the test that covers it).
- ```console: never run: it needs a real AWS account, or it changes what a test run must not
  (uv.lock, your tool directory). Each command is checked for its form instead: `make`
  targets plan (`make -n`); `jobjanitor` flags parse through the CLI's own parser and scope
  checks (`https://…:8182` stands for a cluster endpoint, a bare `…` for the previous
  `jobjanitor` command's flags); `sam` subcommands exist and `--config-env` names an environment of samconfig.toml;
  `aws <service> <operation>` exists in botocore's model and each `--option` is a member of
  its input (or a global option); a wheel named `jobjanitor-X.Y.Z` has the project's version.
- Anything else (```yaml, ```json, ```text, a bare fence: diagrams, queries, output) is not a
  command, and must not hold one: a block whose line starts with a known command is an error,
  "mark it bash or console".
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LOCAL = {"bash", "sh", "shell"}
ACCOUNT = {"console"}
# Local commands not run here, and where they are covered.
SKIPPED = {
    "make test": "it is CI's own command: every check, this test among them (it would run itself)",
    ".venv/bin/python -m pytest tests/template/test_organization.py tests/template/test_stackset_safe.py -q": (
        "the suite runs these very tests (tests/template/test_organization.py, test_stackset_safe.py)"
    ),
}
PROGRAMS = re.compile(r"^\s*(\$ )?(make|jobjanitor|\.venv/|\.tools/|aws|sam|uv|pip|pipx|curl|python)\b")
FENCE = re.compile(r"^(\s*)```\s*([A-Za-z]*)\s*$")
README_PORTS = (18182, 14566)  # the README's test bed, where events/env.json points
LOCK = Path("/tmp/jobjanitor-doc-commands.lock")  # noqa: S108 - one run at a time on this machine


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    kind: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            match = FENCE.match(lines[i])
            if not match:
                i += 1
                continue
            indent, kind, start = match.group(1), match.group(2).lower(), i
            body = []
            i += 1
            while i < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[i]):
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            found.append(Block(path, start + 1, kind, "\n".join(body)))
            i += 1
    return found


ALL = blocks()


def commands(text: str) -> list[list[str]]:
    """The simple commands of a shell snippet: continuations joined, comments dropped, split at
    ;, &&, ||, | and the for/while keywords (whose own words are not commands). A `<placeholder>`
    is a word, not a redirection."""
    joined = re.sub(r"<[^<>\n]+>", "PLACEHOLDER", re.sub(r"\\\n", " ", text))
    out: list[list[str]] = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in (";", "&&", "||", "|", "&", ">", ">>", "<"):
                if current and current[0] not in ("for", "while", "if", "done", "fi"):
                    out.append(current)
                current = [] if token not in (">", ">>", "<") else ["#redirect"]
            elif current == ["#redirect"]:
                current = []  # the redirect's target
            elif token in ("do", "then", "else") and not current:
                continue
            else:
                current.append(token)
    return [c for c in out if c and c[0] != "#redirect"]


# ---------------------------------------------------------------- every block is classified


@pytest.mark.parametrize("block", [b for b in ALL if b.kind not in LOCAL | ACCOUNT], ids=lambda b: b.where)
def test_a_block_that_is_not_a_command_holds_none(block: Block) -> None:
    held = [line for line in block.text.splitlines() if PROGRAMS.match(line)]
    assert not held, f"{block.where}: a command in a ```{block.kind} block: mark it ```bash or ```console: {held}"


# ---------------------------------------------------------------- local blocks: run


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def session() -> Iterator[list[str]]:
    """One run at a time on this machine (the README's test bed takes fixed ports); the test
    beds the blocks start, stopped at the end."""
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deadline = time.monotonic() + 120
        while not all(port_free(p) for p in README_PORTS):
            if time.monotonic() > deadline:
                pytest.fail(f"ports {README_PORTS} are in use: the README's test bed starts there (stop it)")
            time.sleep(1)
        pids: list[str] = []
        try:
            yield pids
        finally:
            for pid in pids:
                subprocess.run(["kill", pid], check=False)  # noqa: S603, S607 - a test bed a block started


def environment() -> dict[str, str]:
    """The shell's environment, without anything that would point a command elsewhere."""
    drop = ("AWS_", "JOBJANITOR_", "POWERTOOLS_", "PYTEST_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def runnable(block: Block) -> str:
    kept = []
    for line in block.text.splitlines():
        command = line.split("#", 1)[0].strip()
        if command in SKIPPED:
            kept.append(f"# skipped here ({SKIPPED[command]}): {command}")
        else:
            kept.append(line)
    return "\n".join(kept)


@pytest.mark.xdist_group("doc-commands")  # one process, in document order (make pytest: --dist loadgroup)
@pytest.mark.parametrize("block", [b for b in ALL if b.kind in LOCAL], ids=lambda b: b.where)
def test_a_local_block_runs(block: Block, session: list[str]) -> None:
    done = subprocess.run(  # noqa: S603 - bash running our own documentation's commands
        ["bash", "-euo", "pipefail", "-c", runnable(block)],  # noqa: S607 - bash from PATH
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment(),
        timeout=900,
        check=False,
    )
    session.extend(re.findall(r"^pid=(\d+)$", done.stdout, re.MULTILINE))
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{block.where} failed ({done.returncode}):\n{output}"
    for total in re.findall(r"^total: \d+ \((.*)\)$", done.stdout, re.MULTILINE):
        outcomes = {part.split("=")[0] for part in total.split(", ")}
        assert outcomes - {"skipped"}, f"{block.where}: a jobjanitor command selected nothing ({total})"


# ---------------------------------------------------------------- account blocks: their form

AWS_GLOBALS = {
    "--region",
    "--profile",
    "--output",
    "--query",
    "--endpoint-url",
    "--no-paginate",
    "--no-cli-pager",
    "--debug",
    "--no-verify-ssl",
    "--cli-input-json",
    "--page-size",
    "--max-items",
    "--starting-token",
}
# High-level commands of the AWS CLI that are not API operations (their flags are the CLI's).
AWS_CUSTOMIZATIONS = {("cloudformation", "deploy"), ("cloudformation", "package")} | {
    ("s3", c) for c in ("cp", "sync", "ls", "mb", "rb", "mv", "rm", "presign", "website")
}
SAM_COMMANDS = {"build", "deploy", "package", "publish", "delete", "validate", "sync", "local", "logs", "list"}
ELIDED_ENDPOINT = "https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182"


def check_aws(words: list[str]) -> None:
    service, operation = words[1], words[2]
    if (service, operation) in AWS_CUSTOMIZATIONS:
        return
    session = botocore.session.get_session()
    assert service in session.get_available_services(), f"aws {service}: no such service"
    model = session.get_service_model(service)
    by_cli_name = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in by_cli_name, f"aws {service} {operation}: no such operation"
    shape = model.operation_model(by_cli_name[operation]).input_shape
    members = shape.members if shape is not None else {}
    options = {f"--{xform_name(name, '-')}": m for name, m in members.items()}
    for word in words[3:]:
        if not word.startswith("--"):
            continue
        flag = word.split("=", 1)[0]
        negated = flag.replace("--no-", "--", 1)
        boolean = negated != flag and negated in options and options[negated].type_name == "boolean"
        known = flag in options or flag in AWS_GLOBALS or boolean
        assert known, f"aws {service} {operation}: no option {flag}"


def check_jobjanitor(words: list[str], monkeypatch: pytest.MonkeyPatch, previous: list[str]) -> None:
    from jobjanitor import cli

    expanded = [w for word in words[1:] for w in (previous[2:] if word == "…" else [word])]
    argv = [word.replace("https://…:8182", ELIDED_ENDPOINT) for word in expanded]
    monkeypatch.setattr(cli, "_run", lambda *args: 0)  # everything up to the first AWS call
    monkeypatch.setattr(cli, "_asks", lambda args: False)  # a terminal would be asked
    assert cli.main(argv) == 0, f"jobjanitor {' '.join(argv)}: refused (see stderr)"


def check_sam(words: list[str]) -> None:
    assert words[1] in SAM_COMMANDS, f"sam {words[1]}: not a SAM CLI command"
    if "--config-env" in words:
        env = words[words.index("--config-env") + 1]
        config = tomllib.loads((REPO / "samconfig.toml").read_text())
        assert env in config, f"sam --config-env {env}: samconfig.toml has no [{env}]"


def check_make(words: list[str]) -> None:
    done = subprocess.run(  # noqa: S603 - make planning our own targets
        ["make", "--no-print-directory", "-n", *words[1:]],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"make {' '.join(words[1:])}: {done.stderr.strip()}"


def check_wheel(words: list[str]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for word in words:
        for named in re.findall(r"jobjanitor-(\d[^-]*)-py3", word):
            assert named == version, f"{word}: the project's version is {version}"


@pytest.mark.parametrize("block", [b for b in ALL if b.kind in ACCOUNT], ids=lambda b: b.where)
def test_an_account_block_has_the_right_form(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    previous: list[str] = []
    for words in commands(block.text):
        program = words[0].rsplit("/", 1)[-1]
        try:
            if program == "aws":
                check_aws(words)
            elif program == "jobjanitor":
                check_jobjanitor(words, monkeypatch, previous)
                previous = [w for w in words if w != "…"] if "…" not in words else previous
            elif program == "sam":
                check_sam(words)
            elif program == "make":
                check_make(words)
            elif program in ("uv", "pip", "pipx"):
                check_wheel(words)
            else:
                pytest.fail(f"no check for {program!r}: add one to this test")
        except AssertionError as error:
            raise AssertionError(f"{block.where}: {error}") from None


def test_the_convention_sees_every_block() -> None:
    kinds = {b.kind for b in ALL}
    assert LOCAL & kinds
    assert ACCOUNT & kinds
    assert len([b for b in ALL if b.kind in LOCAL | ACCOUNT]) >= 10
