"""Ctrl-C and SIGTERM during a sweep, and what a long wait shows: the CLI as a process against
the test bed.

The test bed keeps cancelled jobs stopping for ten minutes, so the CLI is always in its wait
when these tests interrupt it or read its heartbeat.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest
from clirun import TIMEOUT_S, cli_env, start_cli
from jobjanitor_testbed.server import TestBed

SLOW_STOP_S = 600.0
JOBS = ("jj-a", "jj-b", "jj-c")


@pytest.fixture
def stopping_slowly(aws_env: TestBed) -> TestBed:
    aws_env.lifecycle.stop_delay = SLOW_STOP_S
    for job_id in JOBS:
        aws_env.neptune.seed_ml_job("modeltraining", job_id, status="InProgress")
    aws_env.neptune.seed_ml_job("dataprocessing", "jj-dp", status="InProgress")
    return aws_env


def sweep_args(bed: TestBed, *extra: str) -> list[str]:
    return ["sweep", "--neptune-endpoint", bed.neptune_url, "--id-prefix", "jj-", "--max-wait", "300", "--yes", *extra]


def read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    """stderr lines up to the first one containing ``text`` (the process keeps running)."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line, f"stderr ended before {text!r}: {lines}"
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} on stderr: {lines}")


def signalled_mid_wait(bed: TestBed, signum: int, *extra: str) -> tuple[int, str, str]:
    """Sweep, send ``signum`` once the wait is under way: (exit status, stdout, stderr)."""
    proc = start_cli(*sweep_args(bed, *extra), env=cli_env(JOBJANITOR_HEARTBEAT_SECONDS="0.2"))
    try:
        read_until(proc, "[heartbeat] [wait]")  # cancels answered, the wait under way
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert "Traceback" not in err
    return proc.returncode, out, err


def assert_the_report_so_far(bed: TestBed, out: str, by: str) -> None:
    report = json.loads(out)
    assert report["ok"] is False
    assert any(f"interrupted ({by}) during wait" in e for e in report["errors"])
    outcomes = {r["job_id"]: (r["outcome"], r["final_status"]) for r in report["results"]}
    assert outcomes == dict.fromkeys((*JOBS, "jj-dp"), ("cancelled", "Stopping"))
    # What the report says is what happened: the cancels went out, the jobs are stopping.
    assert {bed.neptune.job("modeltraining", j).status for j in JOBS} == {"Stopping"}


@pytest.mark.parametrize("output", ["json", "table"])
def test_ctrl_c_prints_the_report_so_far_and_exits_130(stopping_slowly: TestBed, output: str) -> None:
    bed = stopping_slowly
    code, out, err = signalled_mid_wait(bed, signal.SIGINT, *(["--json"] if output == "json" else []))
    assert code == 130, err
    assert "interrupted (Ctrl-C): no more cancels are sent" in err
    if output == "json":
        assert_the_report_so_far(bed, out, "Ctrl-C")
    else:
        assert "error: interrupted (Ctrl-C) during wait" in out
        assert out.count("cancelled") >= 4
        # Issue 23, 4: the wait was cut short by the interrupt, not by its deadline.
        assert "still running when Ctrl-C cut the wait short: 4" in out
        assert "at the deadline" not in out
        assert {bed.neptune.job("modeltraining", j).status for j in JOBS} == {"Stopping"}


def test_sigterm_prints_the_report_so_far_and_exits_143(stopping_slowly: TestBed) -> None:
    """Issue 23, 6: CI cancelling a job or Kubernetes stopping a pod sends SIGTERM; it is handled
    as Ctrl-C: no more cancels, the report of what was done, exit 128 + 15."""
    code, out, err = signalled_mid_wait(stopping_slowly, signal.SIGTERM, "--json")
    assert code == 143, err
    assert "interrupted (SIGTERM): no more cancels are sent" in err
    assert json.loads(out)["command"] == "sweep"
    assert_the_report_so_far(stopping_slowly, out, "SIGTERM")


def test_a_second_ctrl_c_exits_at_once(stopping_slowly: TestBed) -> None:
    bed = stopping_slowly
    # The first calls hang (a small sweep describes each job, then cancels it): after the first
    # Ctrl-C the run still waits for them.
    bed.faults_neptune.set(latency=45.0, operations={"GetMLModelTrainingJob", "CancelMLModelTrainingJob"})
    proc = start_cli(*sweep_args(bed, "--json"), env=cli_env())
    try:
        read_until(proc, "job(s) listed")
        proc.send_signal(signal.SIGINT)
        read_until(proc, "interrupted (Ctrl-C): no more cancels are sent")
        assert proc.poll() is None  # still finishing the calls in flight
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)  # well before the hanging calls could return
    finally:
        proc.kill()
        bed.faults_neptune.clear()
    assert proc.returncode == 130
    assert "interrupted again: exiting now, without a report" in err
    assert out == ""
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 0  # none answered


def test_the_time_left_during_discovery_is_what_max_wait_allows(stopping_slowly: TestBed) -> None:
    """Issue 23, 4: with --max-wait 900 the countdown said 19m59s while listing (the run's
    deadline: --max-wait plus 5 minutes for discovery and cancels). It says at most 15m00s, and
    counts down from the start of the wait."""
    bed = stopping_slowly
    bed.faults_neptune.set(latency=1.5, operations={"ListMLModelTrainingJobs"})  # a slow listing
    args = ["sweep", "--neptune-endpoint", bed.neptune_url, "--id-prefix", "jj-", "--max-wait", "900", "--yes"]
    proc = start_cli(*args, env=cli_env(JOBJANITOR_HEARTBEAT_SECONDS="0.2"))
    try:
        lines = read_until(proc, "[heartbeat] [wait]")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)
        bed.faults_neptune.clear()
    beats = [line for line in lines if "[heartbeat]" in line]
    discovering = [line for line in beats if "[discover]" in line]
    assert discovering, lines
    assert all(line.rstrip().endswith("; 15m00s left") for line in discovering), discovering
    waiting = re.search(r"; (\d+)m(\d\d)s left", beats[-1])
    assert waiting is not None, beats[-1]
    assert 14 * 60 <= int(waiting[1]) * 60 + int(waiting[2]) <= 15 * 60


def test_heartbeat_line_when_not_on_a_terminal(stopping_slowly: TestBed) -> None:
    proc = start_cli(*sweep_args(stopping_slowly, "--json"), env=cli_env(JOBJANITOR_HEARTBEAT_SECONDS="0.2"))
    try:
        lines = read_until(proc, "[heartbeat] [wait]")
        beat = lines[-1]
        assert "neptune-ml-training: 0 stopped, 3 stopping, 0 failed" in beat
        assert "neptune-ml-dataprocessing: 0 stopped, 1 stopping, 0 failed" in beat
        assert " left" in beat
        assert all("\r" not in line for line in lines)  # no terminal control characters in a log
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)


def test_live_progress_line_on_a_terminal(stopping_slowly: TestBed) -> None:
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))  # room for the whole line
    proc = start_cli(*sweep_args(stopping_slowly, "--json"), env=cli_env(), stderr=terminal)
    os.close(terminal)
    seen = ""
    try:
        deadline = time.monotonic() + TIMEOUT_S
        live = "\r\x1b[2K[wait] "  # the live line, redrawn in place during the wait
        while not (live in seen and "left" in seen.rpartition(live)[2]) and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                seen += os.read(controller, 4096).decode(errors="replace")
        line = seen.rpartition(live)[2]
        assert line.startswith("neptune-ml-dataprocessing: 0 stopped, 1 stopping, 0 failed; "), seen
        assert "neptune-ml-training: 0 stopped, 3 stopping, 0 failed; " in line
        assert re.search(r"; \d+m\d\ds left", line), line  # e.g. 4m59s left
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)
        os.close(controller)


def test_describe_failures_during_the_wait_are_shown(stopping_slowly: TestBed) -> None:
    bed = stopping_slowly
    proc = start_cli(*sweep_args(bed, "--json"), env=cli_env(JOBJANITOR_HEARTBEAT_SECONDS="0.2"))
    try:
        read_until(proc, "[wait] waiting for")
        bed.faults_neptune.inject("ClientTimeoutException", times=1000, operations={"GetMLModelTrainingJob"})
        line = read_until(proc, "failed while waiting")[-1]
        assert "WARNING" in line
        assert "ClientTimeout" in line
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)
        bed.faults_neptune.clear()


def test_the_live_line_fits_a_narrow_terminal(stopping_slowly: TestBed) -> None:
    """A wrapped line could not be redrawn in place: it is cut to the terminal's width."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    proc = start_cli(*sweep_args(stopping_slowly, "--json"), env=cli_env(), stderr=terminal)
    os.close(terminal)
    seen = ""
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while seen.count("\x1b[2K[wait] ") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                seen += os.read(controller, 4096).decode(errors="replace")
        live = [re.split(r"[\r\n]", part, maxsplit=1)[0] for part in seen.split("\x1b[2K")[1:]]
        waiting = [line for line in live if line.startswith("[wait] ")]
        assert len(waiting) >= 3, seen
        assert all(len(line) <= 39 for line in waiting), waiting
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)
        os.close(controller)
