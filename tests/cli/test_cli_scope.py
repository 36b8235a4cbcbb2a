"""Scope safety of the ``jobjanitor`` command, run as a process against the test bed.

Each test here failed on the code before the scope-safety work (issue 10).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
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
