"""Every file in events/ does what its name says: `make invoke EVENT=events/<file>` (a process)
runs it through its own handler (guard, hook or sweeper, by the event's shape), prints the
answer, and the jobs end as the name promises. The guard's Update and Delete carry the physical
id the guard makes for them.

`make invoke` uses a test bed already answering where the environment file points, else
starts its own on free ports. These runs give it an environment file (`ENV_FILE`, a copy of
events/env.json) pointing at a port nothing listens on, so they never meet another test bed on
this machine; `test_make_invoke_uses_a_test_bed_already_running` points it at one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jobjanitor.guard.config import physical_id
from jobjanitor_testbed.pytest_plugin import make_client

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
IN_SCOPE = 5  # one job of each kind in the stack's scope
ENV_NEPTUNE, ENV_AWS = "http://127.0.0.1:18182", "http://127.0.0.1:14566"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_file(tmp: Path, neptune: str, aws: str) -> Path:
    """events/env.json with its test bed URLs replaced."""
    text = (EVENTS / "env.json").read_text().replace(ENV_NEPTUNE, neptune).replace(ENV_AWS, aws)
    path = tmp / "env.json"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An environment file naming ports nothing listens on: make invoke starts its own test bed."""
    return env_file(
        tmp_path_factory.mktemp("env"), f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    )


def make_invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - make and a target of ours
        ["make", "--no-print-directory", "invoke", *args],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )


def invoke(name: str, env: Path, *extra: str) -> tuple[int, dict[str, Any], dict[str, str], str]:
    done = make_invoke(f"EVENT=events/{name}", f"ENV_FILE={env}", *extra)
    assert done.stdout.strip(), done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    jobs: dict[str, str] = {}
    if "jobs afterwards:" in done.stderr:
        for line in done.stderr.split("jobs afterwards:", 1)[1].strip().splitlines():
            if line.startswith("  "):
                job, status = line.strip().rsplit(": ", 1)
                jobs[job] = status
    return done.returncode, answer, jobs, done.stderr


def by_scope(jobs: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for job, status in jobs.items():
        out.setdefault(job.rsplit("(", 1)[1].rstrip(")"), set()).add(status)
    return out


def test_every_event_file_is_covered() -> None:
    names = {p.name for p in EVENTS.glob("*.json")} - {"env.json"}
    assert names == set(EXPECTED)


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
    # The hook stops everything on the resource being deleted, nothing elsewhere.
    "hook-delete-neptune-cluster.json": (
        "hookStatus",
        "SUCCESS",
        {},
        {"on the cluster being deleted": STOPPED, "another resource": RUNNING},
    ),
    "hook-delete-ml-transform.json": (
        "hookStatus",
        "SUCCESS",
        {},
        {"on the transform being deleted": STOPPED, "another resource": RUNNING},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_make_invoke_runs_each_event_through_its_own_handler(name: str, nowhere: Path) -> None:
    field, value, counts, statuses = EXPECTED[name]
    code, answer, jobs, stderr = invoke(name, nowhere)
    assert answer[field] == value, (answer, stderr)
    assert code == 0, stderr
    data = answer.get("Data") or answer.get("summary") or {}
    assert {k: data.get(k) for k in counts} == counts, answer
    scopes = by_scope(jobs)
    assert scopes.keys() >= statuses.keys(), jobs
    for scope, allowed in statuses.items():
        assert scopes[scope] <= allowed, (scope, jobs)
    if "other stack" in scopes:
        assert scopes["other stack"] == {"InProgress"}  # never touched
    # Quiet by default: no function logs (Powertools JSON, EMF), no moto warning, no traceback.
    assert not [line for line in stderr.splitlines() if line.startswith("{")], stderr
    assert "Warning" not in stderr
    assert "Traceback" not in stderr


def test_the_functions_logs_are_behind_v(nowhere: Path) -> None:
    code, answer, _jobs, stderr = invoke("sweeper-scheduler.json", nowhere, "V=1")
    assert code == 0
    assert answer["ok"] is True
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("service") == "jobjanitor" and "level" in entry for entry in logs), stderr
    assert "Warning" not in stderr


def test_a_missing_event_file_is_one_line_and_status_2() -> None:
    for done in (
        make_invoke("EVENT=events/no-such-event.json"),
        subprocess.run(
            [sys.executable, "-m", "jobjanitor_testbed.invoke", "events/no-such-event.json"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        ),
    ):
        assert done.returncode == 2
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "no such event file: events/no-such-event.json" in done.stderr


def test_an_event_of_no_known_shape_is_refused(tmp_path: Path, nowhere: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}')
    done = make_invoke(f"EVENT={odd}", f"ENV_FILE={nowhere}")
    assert done.returncode == 2
    assert "not a guard (CloudFormation custom resource), hook (Lambda Hook) or sweeper" in done.stderr


def test_make_invoke_asks_for_an_event() -> None:
    missing = make_invoke("EVENT=")
    assert missing.returncode == 2
    assert "usage: make invoke EVENT=events/<file>.json" in missing.stdout + missing.stderr


def test_make_invoke_uses_a_test_bed_already_running(tmp_path: Path) -> None:
    """A test bed started where the environment file points (no "Address already in use"):
    make invoke sets the event's world up in it, through its control API, and the jobs the
    guard stopped are that test bed's."""
    ports = [str(free_port()), str(free_port())]
    started = subprocess.run(  # noqa: S603 - our own command
        [
            sys.executable,
            "-m",
            "jobjanitor_testbed",
            "--neptune-port",
            ports[0],
            "--aws-port",
            ports[1],
            "--background",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = dict(line.split("=", 1) for line in started.stdout.split())
    try:
        env = env_file(tmp_path, lines["neptune"], lines["aws"])
        code, answer, jobs, stderr = invoke("guard-delete.json", env)
        assert f"using the test bed at {lines['neptune']}" in stderr
        assert code == 0, stderr
        assert answer["Status"] == "SUCCESS"
        assert by_scope(jobs)["in scope"] <= STOPPED
        neptune = make_client("neptunedata", lines["neptune"])
        assert neptune.get_ml_model_training_job(id="5b2f0a10-modeltraining-1")["status"] == "Stopped"
        assert neptune.get_ml_model_training_job(id="other-stack-modeltraining-1")["status"] == "InProgress"
        # Again, against the same test bed: a fresh delivery, the same answer.
        code, again, _jobs, stderr = invoke("guard-delete.json", env)
        assert code == 0, stderr
        assert again["Data"]["Cancelled"] == str(IN_SCOPE)
    finally:
        subprocess.run(["kill", lines["pid"]], check=False)  # noqa: S603, S607 - the test bed it started
