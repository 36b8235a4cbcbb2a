"""Whole sweeps, measured honestly: the engine against a competent thread-pool peer at the same
concurrency and against the floor; the engine at several concurrencies and sizes; under faults.

Each sweep runs in a fresh child process (``benchmarks.child``): the test bed's servers stay in
this process, so neither competes with the other for a GIL, and the child's ``VmHWM`` is the
sweeping process's own peak memory. Requests are counted from the test bed's own request logs;
final states are read from the test bed itself, not from any report.

The floor is physics, not our design: the requests no client can avoid, at the test bed's added
latency and the concurrency used. One round of list calls; per job one cancel; per cancelled job
one read that sees it stopped, overlapped with the stop delay. So: one list round, plus the
larger of (every cancel and read, ``concurrency`` at a time) and (the cancels of the jobs that
take ``stop delay`` to stop, then the delay, then one read).

Every seeded Neptune ML job runs on SageMaker jobs in the test bed's moto (the Neptune emulator
creates them), so the engine's check that the bill stopped (``jobjanitor.billing``) reads real
SageMaker state, and those reads, in moto's request log, count in the engine's requests.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
import botocore.session
from jobjanitor_testbed.server import TestBed

from benchmarks.common import ROOT, STOPPED_OR_STOPPING, Workload, child_environment, final_states, seed_workload

LATENCY = 0.025
STOP_DELAY = 0.2
CONCURRENCY = 16  # the engine's default
CONCURRENCIES = (8, 16, 32, 64)
# Kinds whose cancel takes effect at once (a load is LOAD_CANCELLED_BY_USER on the next read).
INSTANT_STOP = frozenset({"neptune-loader"})


def _prepare(bed: TestBed, total: int) -> Workload:
    bed.reset()
    bed.lifecycle.stop_delay = STOP_DELAY
    workload = seed_workload(bed, boto3.client("glue"), total=total)
    bed.faults_neptune.set(latency=LATENCY)
    bed.faults_aws.set(latency=LATENCY)
    bed.neptune_log.clear()
    bed.aws_log.clear()
    return workload


Wrap = Callable[[list[str]], list[str]]


def _child(mode: str, bed: TestBed, workload: Workload, concurrency: int, wrap: Wrap | None = None) -> dict[str, Any]:
    """``wrap``: the command run instead (a CPU-limited cgroup's, :mod:`benchmarks.cgroup`)."""
    args = {"mode": mode, "neptune": bed.neptune_url, "transforms": workload.transforms, "concurrency": concurrency}
    command = [sys.executable, "-m", "benchmarks.child", json.dumps(args)]
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        wrap(command) if wrap else command,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=child_environment(),
        timeout=900,
    )
    if out.returncode:
        raise RuntimeError(f"benchmarks.child {mode} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@cache
def sagemaker_operations() -> frozenset[str]:
    """Every SageMaker operation name (botocore's model): which logged requests are SageMaker's."""
    return frozenset(botocore.session.get_session().get_service_model("sagemaker").operation_names)


def _requests(bed: TestBed) -> Counter[str]:
    return Counter(e.operation for e in bed.neptune_log.entries() + bed.aws_log.entries())


def floor(cancelled: dict[str, int], concurrency: int, list_calls: int) -> float:
    """The floor for cancelling and seeing stopped ``cancelled`` jobs (count by kind)."""
    jobs = sum(cancelled.values())
    delayed = sum(n for kind, n in cancelled.items() if kind not in INSTANT_STOP)
    lists = math.ceil(list_calls / concurrency) * LATENCY
    every_request = math.ceil(2 * jobs / concurrency) * LATENCY
    last_stop = math.ceil(delayed / concurrency) * LATENCY + STOP_DELAY + LATENCY if delayed else 0.0
    return lists + max(every_request, last_stop)


def floor_requests(cancelled: int, list_calls: int) -> int:
    return list_calls + 2 * cancelled


def _list_calls(workload: Workload) -> int:
    # ListLoaderJobs, three ListML*Jobs, and GetMLTaskRuns per transform and outstanding status
    # (one page each at these sizes; more pages only add to the floor's list round).
    return 4 + 2 * len(workload.transforms)


def sweep(bed: TestBed, total: int, mode: str = "engine", *, concurrency: int = CONCURRENCY,
          faults: dict[str, float] | None = None, wrap: Wrap | None = None) -> dict[str, Any]:  # fmt: skip
    """One whole sweep of ``total`` seeded jobs by ``mode`` (engine or peer), run in ``wrap``
    (a CPU-limited cgroup's command) when given."""
    workload = _prepare(bed, total)
    if faults:
        bed.faults_neptune.set(**faults, seed=101)
        bed.faults_aws.set(**faults, seed=202)
    run = _child(mode, bed, workload, concurrency, wrap)
    log = bed.neptune_log.entries() + bed.aws_log.entries()
    bed.faults_neptune.clear()
    bed.faults_aws.clear()
    requests = _requests(bed)
    states = final_states(bed, workload)
    running = {key for key, status in states.items() if status not in STOPPED_OR_STOPPING}
    out: dict[str, Any] = {
        "mode": mode,
        "jobs": workload.total,
        "by_kind": {k: len(v) for k, v in workload.jobs.items()},
        "concurrency": concurrency,
        "wall": run["wall"],
        "requests": sum(requests.values()),
        "requests_by_operation": dict(sorted(requests.items())),
        "sagemaker_requests": sum(n for op, n in requests.items() if op in sagemaker_operations()),
        "stopped_in_testbed": len(states) - len(running),
        "vmhwm_mb": run["vmhwm_mb"],
        # How long a request took at the test bed, and how many were in flight on average.
        "mean_request_s": sum(e.duration for e in log) / max(1, len(log)),
        "in_flight": sum(e.duration for e in log) / max(1e-9, run["wall"]),
        # CPU seconds: the whole process, and the sweep alone (clients made, the clock started).
        "cpu_s": run.get("cpu_s"),
        "cpu_sweep_s": run.get("cpu_sweep_s"),
        "cpu_clients_s": run.get("cpu_clients_s"),
        "injected_faults": dict(Counter(e.fault for e in log if e.fault)),
        "list_calls": _list_calls(workload),
    }
    seen: Counter[str] = Counter()
    if mode == "engine":
        # The truth: every job reported cancelled (or finished while waited for) is stopping or
        # stopped in the test bed; every job the test bed shows running is reported as a failure.
        lies = [
            f"{kind} {job_id}: reported {outcome}, test bed says {states.get((kind, job_id))}"
            for kind, job_id, outcome in run["results"]
            if outcome in ("cancelled", "finished") and states.get((kind, job_id)) not in STOPPED_OR_STOPPING
        ]
        lies += [
            f"{kind} {job_id}: running in the test bed, reported {outcome}"
            for kind, job_id, outcome in run["results"]
            if (kind, job_id) in running and outcome != "failed"
        ]
        for kind, _, _ in run["results"]:
            seen[kind] += 1
        out.update(
            outcomes=dict(Counter(outcome for _, _, outcome in run["results"])),
            lies=lies[:10],
            lie_count=len(lies),
            report_ok=run["ok"],
            warnings=run["warnings"][:10],
            errors=run["errors"][:10],
            vmhwm_before_mb=run["vmhwm_before_mb"],
            seen_by_kind=dict(seen),
        )
    else:
        out["cancelled"] = run["cancelled"]
        out["cancel_wall"] = run["cancel_wall"]
    # Every seeded job is outstanding and in scope: those stopped in the test bed are the ones
    # this sweep cancelled (the floor is computed for them).
    cancelled = Counter(kind for (kind, _), status in states.items() if status in STOPPED_OR_STOPPING)
    total_cancelled = sum(cancelled.values())
    out["cancelled_by_kind"] = dict(cancelled)
    out["cancelled_total"] = total_cancelled
    out["floor"] = floor(dict(cancelled), concurrency, out["list_calls"])
    out["floor_requests"] = floor_requests(total_cancelled, out["list_calls"])
    out["requests_per_cancelled"] = out["requests"] / max(1, total_cancelled)
    return out


def comparison(bed: TestBed, total: int, concurrencies: tuple[int, ...] = CONCURRENCIES) -> list[dict[str, Any]]:
    """The engine and the peer on the same workload at each concurrency, interleaved so that
    machine noise hits both alike."""
    rows = []
    for concurrency in concurrencies:
        engine = sweep(bed, total, "engine", concurrency=concurrency)
        peer = sweep(bed, total, "peer", concurrency=concurrency)
        rows.append({"concurrency": concurrency, "engine": engine, "peer": peer})
    return rows


def sequential_loop(bed: TestBed, total: int) -> dict[str, Any]:
    """The one-thread loop (a footnote): measured on a small workload."""
    workload = _prepare(bed, total)
    run = _child("sequential", bed, workload, 1)
    run["jobs"] = workload.total
    run["requests"] = sum(_requests(bed).values())
    return run


def scaling(bed: TestBed, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """The engine at each size (default concurrency): time, requests, memory, what it saw."""
    return [sweep(bed, size, "engine") for size in sizes]
