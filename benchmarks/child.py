"""Runs one sweep in its own process (its own GIL: the test bed's servers stay in the parent),
and prints what it measured as JSON.

    python -m benchmarks.child '{"mode": "engine", "neptune": URL, "transforms": [...], ...}'

Modes: ``engine`` (jobjanitor's engine), ``sequential`` (the loop a user would write), and
``memory`` (the engine under tracemalloc, for peak memory; its times are not used).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_sweep(args: dict[str, Any], *, trace_memory: bool = False) -> dict[str, Any]:
    import tracemalloc  # noqa: PLC0415

    from jobjanitor import engine  # noqa: PLC0415
    from jobjanitor.deadline import Deadline  # noqa: PLC0415
    from jobjanitor.policy import Policy  # noqa: PLC0415

    policy = Policy.build(
        kinds="all",
        neptune_endpoint=args["neptune"],
        glue_transform_ids=args["transforms"],
        max_wait=600,
        concurrency=args.get("concurrency", 16),
    )
    rss_before = _maxrss_mb()
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    report = engine.cancel_in_scope(policy, deadline=Deadline.after(600))
    cancel_wall = time.perf_counter() - started
    cancel_end = time.time()
    if args.get("wait", True):
        report = engine.wait_for(report, policy, deadline=Deadline.after(600))
    total_wall = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024 if trace_memory else None
    return {
        "cancel_wall": cancel_wall,
        "total_wall": total_wall,
        "cancel_end": cancel_end,
        "ok": report.ok,
        "results": [[r.ref.kind.value, r.ref.job_id, r.outcome.value] for r in report.results],
        "tracemalloc_peak_mb": peak,
        "maxrss_before_mb": rss_before,
        "maxrss_mb": _maxrss_mb(),
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


def sequential(args: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0912 - written the plain way a user would
    """The loop a user would write by hand: list, get, cancel, one request at a time, with
    default boto3 clients; then poll each cancelled job until it has stopped."""
    import boto3  # noqa: PLC0415

    neptune = boto3.client("neptunedata", endpoint_url=args["neptune"])
    glue = boto3.client("glue")
    cancelled: list[tuple[str, str]] = []
    started = time.perf_counter()
    for load_id in neptune.list_loader_jobs(limit=100, includeQueuedLoads=True)["payload"]["loadIds"]:
        if neptune.get_loader_job_status(loadId=load_id)["payload"]["overallStatus"]["status"] in OUTSTANDING:
            neptune.cancel_loader_job(loadId=load_id)
            cancelled.append(("load", load_id))
    for noun in ML:
        for job_id in getattr(neptune, f"list_ml_{noun}_jobs")(maxItems=1024)["ids"]:
            if getattr(neptune, f"get_ml_{noun}_job")(id=job_id)["status"] == "InProgress":
                getattr(neptune, f"cancel_ml_{noun}_job")(id=job_id)
                cancelled.append((noun, job_id))
    for transform in args["transforms"]:
        for status in ("STARTING", "RUNNING"):
            kwargs: dict[str, Any] = {"TransformId": transform, "Filter": {"Status": status}}
            while True:
                page = glue.get_ml_task_runs(**kwargs)
                for run in page["TaskRuns"]:
                    glue.cancel_ml_task_run(TransformId=transform, TaskRunId=run["TaskRunId"])
                    cancelled.append((f"glue:{transform}", run["TaskRunId"]))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
    cancel_wall = time.perf_counter() - started
    for kind, job_id in cancelled:
        while True:
            if kind == "load":
                status = neptune.get_loader_job_status(loadId=job_id)["payload"]["overallStatus"]["status"]
            elif kind.startswith("glue:"):
                status = glue.get_ml_task_run(TransformId=kind[5:], TaskRunId=job_id)["Status"]
            else:
                status = getattr(neptune, f"get_ml_{kind}_job")(id=job_id)["status"]
            if status not in OUTSTANDING:
                break
            time.sleep(0.2)
    return {"cancel_wall": cancel_wall, "total_wall": time.perf_counter() - started, "cancelled": len(cancelled)}


def main() -> None:
    args = json.loads(sys.argv[1])
    mode = args["mode"]
    out = sequential(args) if mode == "sequential" else engine_sweep(args, trace_memory=mode == "memory")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
