"""Every file in events/ does what its name says: `make invoke EVENT=events/<file>` (a process,
its own test bed where events/env.json points) prints the answer, and the jobs end as the name
promises. The guard's Update and Delete carry the physical id the guard makes for them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jobjanitor.guard.config import physical_id

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
IN_SCOPE = 5  # one job of each kind in the stack's scope


def invoke(name: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, a file of ours
        [sys.executable, "-m", "jobjanitor_testbed.invoke", str(EVENTS / name)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    jobs: dict[str, str] = {}
    if "jobs afterwards:" in done.stderr:
        for line in done.stderr.split("jobs afterwards:", 1)[1].strip().splitlines():
            job, status = line.strip().rsplit(": ", 1)
            jobs[job] = status
    return done.returncode, answer, jobs


def by_scope(jobs: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for job, status in jobs.items():
        out.setdefault(job.rsplit("(", 1)[1].rstrip(")"), set()).add(status)
    return out


def test_every_event_file_is_covered() -> None:
    # events/hook-*.json belong to the teardown hook, which has its own driver and tests.
    names = {p.name for p in EVENTS.glob("*.json")} - {"env.json"}
    assert {n for n in names if not n.startswith("hook-")} == set(EXPECTED)


@pytest.mark.parametrize("name", ["guard-update.json", "guard-delete.json"])
def test_guard_events_carry_the_physical_id_the_guard_makes(name: str) -> None:
    event = json.loads((EVENTS / name).read_text())
    expected = physical_id(event)
    assert event["PhysicalResourceId"] == expected, f"set {name}'s PhysicalResourceId to {expected}"


RUNNING = {"InProgress", "LOAD_IN_PROGRESS", "RUNNING"}
STOPPED = {"Stopped", "LOAD_CANCELLED_BY_USER", "STOPPED"}
EXPECTED: dict[str, Any] = {
    # name: (status field, value, Data/summary counts, statuses by scope)
    "guard-create.json": ("Status", "SUCCESS", {"Outstanding": str(IN_SCOPE)}, {"in scope": RUNNING}),
    "guard-update.json": ("Status", "SUCCESS", {"Outstanding": str(IN_SCOPE)}, {"in scope": RUNNING}),
    "guard-delete.json": ("Status", "SUCCESS", {"Cancelled": str(IN_SCOPE)}, {"in scope": STOPPED}),
    "guard-delete-after-failed-create.json": (
        "Status",
        "SUCCESS",
        {"Skipped": "not created by this guard"},
        {"in scope": RUNNING},
    ),
    "sweeper-rule.json": ("ok", True, {"Cancelled": str(IN_SCOPE)}, {"older than MaxAge": STOPPED, "young": RUNNING}),
    "sweeper-scheduler.json": (
        "ok",
        True,
        {"Cancelled": str(IN_SCOPE)},
        {"older than MaxAge": STOPPED, "young": RUNNING},
    ),
    "sweeper-stack-delete.json": (
        "ok",
        True,
        {"Cancelled": "4"},
        {"the stack's": STOPPED, "a load: not scoped by a prefix": RUNNING},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_make_invoke_runs_each_event_against_the_test_bed(name: str) -> None:
    field, value, counts, statuses = EXPECTED[name]
    code, answer, jobs = invoke(name)
    assert answer[field] == value, answer
    assert code == 0
    data = answer.get("Data") or answer.get("summary") or {}
    assert {k: data.get(k) for k in counts} == counts, answer
    scopes = by_scope(jobs)
    for scope, allowed in statuses.items():
        assert scopes[scope] <= allowed, (scope, jobs)
    if "other stack" in scopes:
        assert scopes["other stack"] == {"InProgress"}  # never touched


def test_make_invoke_runs_the_module_and_asks_for_an_event() -> None:
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "invoke", "EVENT=events/guard-delete.json"],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    ).stdout
    assert "-m jobjanitor_testbed.invoke events/guard-delete.json" in planned
    missing = subprocess.run(
        ["make", "--no-print-directory", "invoke", "EVENT="],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "usage: make invoke EVENT=events/<file>.json" in missing.stdout + missing.stderr
