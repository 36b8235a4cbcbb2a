"""A Neptune cluster that accepts a fixed number of requests a second per API, whatever the client
does (the test bed's service-side rate limit): a live sweep through the CLI converges on what the
service accepts, every cancel gets through, and throttling stays a small share of the answers.

The issue's numbers were 20 requests/s and 300 cancels with 90 s of deadline (80% of the answers
throttled, 8% of the cancels FAILED); the same shape at 60 requests/s keeps the wall time short."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from jobjanitor.cli import main
from jobjanitor_testbed.server import TestBed

JOBS = 300
LIMIT = 60.0  # requests a second per API (ListMLDataProcessingJobs, Get..., Cancel... share it)


def test_every_cancel_gets_through_a_hard_rate_limit(aws_env: TestBed, capsys: pytest.CaptureFixture[str]) -> None:
    bed = aws_env
    ids = [bed.neptune.seed_ml_job("dataprocessing", f"jj-dp-{i:03d}", status="InProgress") for i in range(JOBS)]
    bed.faults_neptune.limit_rate(LIMIT)
    started = time.monotonic()

    code = main(["sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-dataprocessing",
                 "--id-prefix", "jj-", "--max-wait", "90", "--concurrency", "32",
                 "--no-wait", "--json", "--quiet", "--yes"])  # fmt: skip

    seconds = time.monotonic() - started
    data = json.loads(capsys.readouterr().out)
    assert Counter(r["outcome"] for r in data["results"]) == {"cancelled": JOBS}
    assert code == 0
    assert {bed.neptune.job("dataprocessing", job_id).status for job_id in ids} <= {"Stopping", "Stopped"}
    answers = bed.neptune_log.entries()
    throttled = [e for e in answers if e.error_code == "TooManyRequestsException"]
    assert {e.fault for e in throttled} == {"rate-limit"}
    assert len(throttled) <= len(answers) / 3, f"{len(throttled)} of {len(answers)} answers throttled"
    # Finding the rate costs the first second; after it, throttling is rare.
    later = [e for e in answers if e.timestamp > answers[0].timestamp + 1.5]
    later_throttled = sum(e.error_code == "TooManyRequestsException" for e in later)
    assert later_throttled <= 0.1 * len(later), f"{later_throttled} of {len(later)} later answers throttled"
    # Converged, not crawling: the service's own rate sets the pace (two requests a job).
    assert seconds < 2 * (2 * JOBS / LIMIT) + 5, seconds
