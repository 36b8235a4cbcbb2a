"""Scope safety of the ``jobjanitor`` command, run as a process against the test bed.

Each test here failed on the code before the scope-safety work (issue 10).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from clirun import PROMPT, on_a_terminal
from jobjanitor_testbed.server import TestBed


def run(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m jobjanitor ARGV`` in its own process, stdin not a terminal."""
    return subprocess.run(  # noqa: S603 - our own command, fixed argv
        [sys.executable, "-m", "jobjanitor", *argv],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        timeout=120,
        check=False,
    )


def neptune_cancels(bed: TestBed) -> int:
    return bed.neptune_log.count(method="DELETE")


@pytest.fixture
def running(aws_env: TestBed) -> TestBed:
    for i in range(3):
        aws_env.neptune.seed_ml_job("modeltraining", f"team-a-{i}", status="InProgress")
        aws_env.neptune.seed_ml_job("modeltraining", f"team-b-{i}", status="InProgress")
    return aws_env


# -- 2. blank never means "everything" ----------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (["--id-prefix", ""], "--id-prefix"),
        (["--id-prefix", "  "], "--id-prefix"),
        (["--id", ""], "--id"),
        (["--id", ","], "--id"),
        (["--kinds", ""], "--kinds"),
        (["--kinds", ","], "--kinds"),
        (["--glue-transform", ""], "--glue-transform"),
        (["--glue-transform-prefix", ""], "--glue-transform-prefix"),
        (["--older-than", ""], "--older-than"),
    ],
)
def test_a_blank_scope_flag_exits_2_naming_it(running: TestBed, flags: list[str], flag: str) -> None:
    proc = run("sweep", "--dry-run", "--neptune-endpoint", running.neptune_url, *flags)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"argument {flag}:" in proc.stderr
    assert "blank" in proc.stderr
    assert neptune_cancels(running) == 0
    assert proc.stdout == ""


def test_a_blank_endpoint_flag_exits_2(running: TestBed) -> None:
    proc = run("list", "--neptune-endpoint", "")
    assert proc.returncode == 2
    assert "argument --neptune-endpoint:" in proc.stderr


# -- 6. an endpoint is an https Neptune endpoint ------------------------------------------
@pytest.mark.parametrize("endpoint", ["http://169.254.169.254", "http://10.0.0.5:80", "https://example.com:8182"])
def test_an_endpoint_that_is_not_https_neptune_exits_2(aws_env: TestBed, endpoint: str) -> None:
    proc = run("list", "--neptune-endpoint", endpoint)
    assert proc.returncode == 2
    assert "argument --neptune-endpoint:" in proc.stderr


def test_the_cli_sends_nothing_to_a_host_that_is_not_neptune(aws_env: TestBed, hostile: Any) -> None:
    proc = run("sweep", "--dry-run", "--neptune-endpoint", hostile.url, "--kinds", "neptune-ml-training")
    assert proc.returncode == 2
    assert "argument --neptune-endpoint:" in proc.stderr
    assert hostile.requests == []


def test_the_test_bed_is_admitted_only_through_the_allowed_endpoints_variable(running: TestBed) -> None:
    refused = run("list", "--neptune-endpoint", running.neptune_url, env={"JOBJANITOR_ALLOWED_ENDPOINTS": ""})
    assert refused.returncode == 2
    assert "argument --neptune-endpoint:" in refused.stderr
    admitted = run("list", "--neptune-endpoint", running.neptune_url, "--id-prefix", "team-a-", "-q")
    assert admitted.returncode == 0, admitted.stderr
    assert "team-a-0" in admitted.stdout


# -- 5. discovery that could not see everything is a failure ------------------------------
def test_a_capped_listing_exits_1_naming_the_kind_and_the_cap(aws_env: TestBed) -> None:
    for i in range(1030):
        aws_env.neptune.seed_ml_job("modeltraining", f"other-{i}", status="Completed")
    for command in (["list"], ["sweep", "--dry-run"]):
        proc = run(*command, "--neptune-endpoint", aws_env.neptune_url, "--kinds", "neptune-ml-training", "--json")
        assert proc.returncode == 1, proc.stderr
        data = json.loads(proc.stdout)
        assert data["ok"] is False
        assert any("neptune-ml-training" in text and "1024" in text for text in data["incomplete"])


def test_loads_hidden_behind_a_full_queue_are_seen(aws_env: TestBed) -> None:
    """ListLoaderJobs lists queued loads first (at most 100 ids): a running load behind 64
    queued and 40 newer finished ones is found by listing the non-queued loads as well."""
    bed = aws_env
    running = bed.neptune.seed_load(status="LOAD_IN_PROGRESS")
    for _ in range(40):
        bed.neptune.seed_load(status="LOAD_COMPLETED")
    for _ in range(64):
        bed.neptune.seed_load(status="LOAD_IN_QUEUE")
    proc = run("list", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-loader", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    outcomes = {r["job_id"]: r["outcome"] for r in data["results"]}
    assert outcomes[running] == "would_cancel"


# -- 7. a live sweep asks first ------------------------------------------------------------
@pytest.mark.parametrize("answer", ["y", "yes"])
def test_a_live_sweep_shows_the_plan_and_asks_on_a_terminal(running: TestBed, answer: str) -> None:
    bed = running
    late: list[str] = []

    def meanwhile() -> None:  # a job that starts after the plan was shown is not in it
        late.append(bed.neptune.seed_ml_job("modeltraining", "team-a-late", status="InProgress"))

    code, shown = on_a_terminal(
        "sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training",
        "--id-prefix", "team-a-", "--max-wait", "30", answer=answer, before_answer=meanwhile,
    )  # fmt: skip
    assert code == 0, shown
    assert "will cancel 3 job(s)" in shown
    assert "neptune-ml-training" in shown
    assert "job-id prefix: team-a-" in shown
    for i in range(3):
        assert bed.neptune.job("modeltraining", f"team-a-{i}").status == "Stopped"
        assert bed.neptune.job("modeltraining", f"team-b-{i}").status == "InProgress"
    assert bed.neptune.job("modeltraining", late[0]).status == "InProgress", "a job not shown was cancelled"


@pytest.mark.parametrize("answer", ["n", "", "no thanks"])
def test_anything_but_yes_cancels_nothing(running: TestBed, answer: str) -> None:
    code, shown = on_a_terminal(
        "sweep", "--neptune-endpoint", running.neptune_url, "--id-prefix", "team-a-", answer=answer
    )
    assert code == 1, shown
    assert PROMPT in shown
    assert "nothing was cancelled" in shown
    assert neptune_cancels(running) == 0


def test_without_a_terminal_a_live_sweep_refuses_unless_yes(running: TestBed) -> None:
    refused = run("sweep", "--neptune-endpoint", running.neptune_url, "--id-prefix", "team-a-")
    assert refused.returncode == 2
    assert "argument --yes:" in refused.stderr
    assert "not a terminal" in refused.stderr
    assert running.neptune_log.count() == 0, "a refused sweep called Neptune"
    done = run("sweep", "--neptune-endpoint", running.neptune_url, "--id-prefix", "team-a-", "--yes", "-q")
    assert done.returncode == 0, done.stderr
    assert neptune_cancels(running) == 3
