"""Sweep throughput against its lower bound and a hand-written sequential loop; the same sweep
under faults; and the peak memory of a sweep.

The sweep runs in a child process (``benchmarks.child``): the test bed's servers stay in this
process, so neither competes with the other for a GIL. Requests are counted from the test
bed's own request logs; final states are read from the test bed itself, not from any report.

The lower bound counts only the requests a sweep cannot avoid, at the test bed's latency and
the engine's concurrency: one round of list calls (they can all run at once); per job a status
read and a cancel (Glue runs need no status read: GetMLTaskRuns returns status and start
time); and, when waiting, the stop delay plus one status read per job.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import boto3
from jobjanitor_testbed.server import TestBed

from benchmarks.common import ROOT, STOPPED_OR_STOPPING, Workload, final_states, seed_workload

LATENCY = 0.025
STOP_DELAY = 0.2
CONCURRENCY = 16


def _prepare(bed: TestBed, total: int) -> Workload:
    bed.reset()
    bed.lifecycle.stop_delay = STOP_DELAY
    workload = seed_workload(bed, boto3.client("glue"), total=total)
    bed.faults_neptune.set(latency=LATENCY)
    bed.faults_aws.set(latency=LATENCY)
    bed.neptune_log.clear()
    bed.aws_log.clear()
    return workload


def _child(mode: str, bed: TestBed, workload: Workload) -> dict[str, Any]:
    args = {"mode": mode, "neptune": bed.neptune_url, "transforms": workload.transforms, "concurrency": CONCURRENCY}
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.child", json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=900,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _requests(bed: TestBed, until: float | None = None) -> Counter[str]:
    entries = bed.neptune_log.entries() + bed.aws_log.entries()
    return Counter(e.operation for e in entries if until is None or e.timestamp <= until)


def lower_bound(workload: Workload, *, wait: bool) -> float:
    glue = len(workload.jobs["glue-ml-task-run"])
    needed = 2 * (workload.total - glue) + glue
    bound = LATENCY + math.ceil(needed / CONCURRENCY) * LATENCY
    if wait:
        bound += STOP_DELAY + math.ceil(workload.total / CONCURRENCY) * LATENCY
    return bound


def engine_sweep(bed: TestBed, total: int, faults: dict[str, float] | None = None) -> dict[str, Any]:
    workload = _prepare(bed, total)
    if faults:
        bed.faults_neptune.set(**faults, seed=101)
        bed.faults_aws.set(**faults, seed=202)
    run = _child("engine", bed, workload)
    bed.faults_neptune.clear()
    bed.faults_aws.clear()
    states = final_states(bed, workload)
    outcomes = Counter(outcome for _, _, outcome in run["results"])
    # The truth: every job reported cancelled (or finished while waited for) is stopping or
    # stopped in the test bed; every job the test bed shows running is reported as a failure.
    lies = [
        f"{kind} {job_id}: reported {outcome}, test bed says {states.get((kind, job_id))}"
        for kind, job_id, outcome in run["results"]
        if outcome in ("cancelled", "finished") and states.get((kind, job_id)) not in STOPPED_OR_STOPPING
    ]
    running = {key for key, status in states.items() if status not in STOPPED_OR_STOPPING}
    unreported = [
        f"{kind} {job_id}"
        for kind, job_id, outcome in run["results"]
        if (kind, job_id) in running and outcome != "failed"
    ]
    cancel_requests = _requests(bed, until=run["cancel_end"])
    all_requests = _requests(bed)
    log = bed.neptune_log.entries() + bed.aws_log.entries()
    return {
        "jobs": workload.total,
        "by_kind": {k: len(v) for k, v in workload.jobs.items()},
        "concurrency": CONCURRENCY,
        "cancel_wall": run["cancel_wall"],
        "total_wall": run["total_wall"],
        "lower_bound_cancel": lower_bound(workload, wait=False),
        "lower_bound_total": lower_bound(workload, wait=True),
        "cancel_requests": sum(cancel_requests.values()),
        "all_requests": sum(all_requests.values()),
        "requests_by_operation": dict(sorted(all_requests.items())),
        "cancel_requests_by_operation": dict(sorted(cancel_requests.items())),
        "outcomes": dict(outcomes),
        "stopped_in_testbed": len(states) - len(running),
        "lies": lies[:10],
        "lie_count": len(lies) + len(unreported),
        "injected_faults": Counter(e.fault for e in log if e.fault),
        "report_ok": run["ok"],
    }


def sequential_loop(bed: TestBed, total: int) -> dict[str, Any]:
    workload = _prepare(bed, total)
    run = _child("sequential", bed, workload)
    run["jobs"] = workload.total
    run["requests"] = sum(_requests(bed).values())
    return run


def memory(bed: TestBed, total: int) -> dict[str, Any]:
    workload = _prepare(bed, total)
    bed.faults_neptune.set(latency=0.0)
    bed.faults_aws.set(latency=0.0)
    run = _child("memory", bed, workload)
    return {
        "jobs": workload.total,
        "tracemalloc_peak_mb": run["tracemalloc_peak_mb"],
        "maxrss_before_mb": run["maxrss_before_mb"],
        "maxrss_mb": run["maxrss_mb"],
    }
