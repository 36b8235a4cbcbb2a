"""Runs one sweep in a fresh process of its own and prints what it measured as JSON.

    python -m benchmarks.child '{"mode": "engine", "neptune": URL, "transforms": [...], ...}'

The test bed's servers stay in the benchmark's process: they do not share a GIL with the
sweep, and the memory read here (``VmHWM`` of ``/proc/self/status``: this process's own peak
resident set) is the sweeping process's alone.

Modes:
- ``engine``: jobjanitor's engine, ``engine.sweep`` with the wait, as the CLI runs it.
- ``peer``: what a competent engineer writes with boto3 and a ``ThreadPoolExecutor`` of the
  same concurrency: list every kind at once, then get and cancel each job, then poll the
  cancelled jobs in rounds until they have stopped.
- ``sequential``: the same, one request at a time (a footnote in the report).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def cpu_s() -> float:
    """This process's CPU seconds so far (every thread, user and system)."""
    times = os.times()
    return times.user + times.system


def vmhwm_mb() -> float:
    """This process's peak resident set (``VmHWM``), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def engine_sweep(args: dict[str, Any]) -> dict[str, Any]:
    import boto3  # noqa: F401, PLC0415 - imported before the CPU is counted, as the peer's is
    from jobjanitor import engine  # noqa: PLC0415
    from jobjanitor.clients import build_clients  # noqa: PLC0415
    from jobjanitor.deadline import Deadline  # noqa: PLC0415
    from jobjanitor.policy import Policy  # noqa: PLC0415

    policy = Policy.build(
        kinds="all",
        neptune_endpoint=args["neptune"],
        glue_transform_ids=args["transforms"],
        max_wait=600,
        concurrency=args.get("concurrency", 16),
    )
    before = vmhwm_mb()
    # Clients are made before the clock starts, as the peer's are.
    imported = cpu_s()
    clients = build_clients(policy)
    started, cpu_started = time.perf_counter(), cpu_s()
    report = engine.sweep(policy, deadline=Deadline.after(900), clients=clients)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "cpu_clients_s": cpu_started - imported,
        "cpu_sweep_s": cpu_s() - cpu_started,
        "ok": report.ok,
        "results": [[r.ref.kind.value, r.ref.job_id, r.outcome.value] for r in report.results],
        "warnings": report.warnings,
        "errors": report.errors,
        "vmhwm_before_mb": before,
        "vmhwm_mb": vmhwm_mb(),
    }


OUTSTANDING = {
    "InProgress",
    "Stopping",
    "STOPPING",
    "RUNNING",
    "STARTING",
    "LOAD_NOT_STARTED",
    "LOAD_IN_QUEUE",
    "LOAD_IN_PROGRESS",
}
ML = ("data_processing", "model_training", "model_transform")
POLL_S = 0.2


class _Peer:
    """The hand-written loop. ``workers=1`` is the sequential footnote."""

    def __init__(self, args: dict[str, Any], workers: int) -> None:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        self.imported = cpu_s()
        # A competent engineer sizes the connection pool to the threads (boto3's default is 10).
        config = Config(max_pool_connections=max(10, workers))
        self.neptune = boto3.client("neptunedata", endpoint_url=args["neptune"], config=config)
        self.glue = boto3.client("glue", config=config)
        self.transforms: list[str] = args["transforms"]
        self.workers = workers

    def list_loads(self) -> list[tuple[str, str, str | None]]:
        ids = self.neptune.list_loader_jobs(limit=100, includeQueuedLoads=True)["payload"]["loadIds"]
        return [("load", i, None) for i in ids]

    def list_ml(self, noun: str) -> list[tuple[str, str, str | None]]:
        return [(noun, i, None) for i in getattr(self.neptune, f"list_ml_{noun}_jobs")(maxItems=1024)["ids"]]

    def list_runs(self, transform: str, status: str) -> list[tuple[str, str, str | None]]:
        out: list[tuple[str, str, str | None]] = []
        kwargs: dict[str, Any] = {"TransformId": transform, "Filter": {"Status": status}}
        while True:
            page = self.glue.get_ml_task_runs(**kwargs)
            # GetMLTaskRuns returns the status: no get needed.
            out.extend((f"glue:{transform}", run["TaskRunId"], run["Status"]) for run in page["TaskRuns"])
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    def status(self, kind: str, job_id: str) -> str:
        if kind == "load":
            return str(self.neptune.get_loader_job_status(loadId=job_id)["payload"]["overallStatus"]["status"])
        if kind.startswith("glue:"):
            return str(self.glue.get_ml_task_run(TransformId=kind[5:], TaskRunId=job_id)["Status"])
        return str(getattr(self.neptune, f"get_ml_{kind}_job")(id=job_id)["status"])

    def stop(self, job: tuple[str, str, str | None]) -> tuple[str, str] | None:
        kind, job_id, listed = job
        status = listed or self.status(kind, job_id)
        if status not in OUTSTANDING:
            return None
        if status not in ("Stopping", "STOPPING"):
            if kind == "load":
                self.neptune.cancel_loader_job(loadId=job_id)
            elif kind.startswith("glue:"):
                self.glue.cancel_ml_task_run(TransformId=kind[5:], TaskRunId=job_id)
            else:
                getattr(self.neptune, f"cancel_ml_{kind}_job")(id=job_id)
        return kind, job_id

    def run(self) -> dict[str, Any]:
        started, cpu_started = time.perf_counter(), cpu_s()
        with ThreadPoolExecutor(self.workers) as pool:
            listings = [pool.submit(self.list_loads)]
            listings += [pool.submit(self.list_ml, noun) for noun in ML]
            listings += [pool.submit(self.list_runs, t, s) for t in self.transforms for s in ("STARTING", "RUNNING")]
            jobs = [job for listing in listings for job in listing.result()]
            pending = [j for j in pool.map(self.stop, jobs) if j is not None]
            cancelled = len(pending)
            cancel_wall = time.perf_counter() - started
            while pending:
                statuses = list(pool.map(lambda job: self.status(*job), pending))
                pending = [job for job, status in zip(pending, statuses, strict=True) if status in OUTSTANDING]
                if pending:
                    time.sleep(POLL_S)
        return {
            "cancel_wall": cancel_wall,
            "wall": time.perf_counter() - started,
            "cpu_clients_s": cpu_started - self.imported,
            "cpu_sweep_s": cpu_s() - cpu_started,
            "cancelled": cancelled,
            "vmhwm_mb": vmhwm_mb(),
        }


def main() -> None:
    args = json.loads(sys.argv[1])
    mode = args["mode"]
    if mode == "engine":
        out = engine_sweep(args)
    else:
        out = _Peer(args, 1 if mode == "sequential" else args.get("concurrency", 16)).run()
    out["cpu_s"] = cpu_s()  # the whole process: interpreter, imports, clients and sweep
    print(json.dumps(out))


if __name__ == "__main__":
    main()
