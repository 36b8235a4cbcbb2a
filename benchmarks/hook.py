"""The teardown hook's first invocation on a cluster with 1,000 outstanding jobs, against
CloudFormation's 30-second budget per invocation.

A stack in moto's CloudFormation holds a Neptune cluster (pointed at the test bed's emulator);
1,000 outstanding jobs are seeded on it (64 loads, the rest Neptune ML in equal thirds), with
25 ms added to every request as in the sweep benchmark. The hook's handler runs in a fresh
process of its own (a cold execution environment: the imports count, as they do against
CloudFormation's clock) with a 30 s Lambda context, on the request CloudFormation sends for
``DELETE_PRE_PROVISION`` of the cluster. Measured: the whole invocation (imports included),
when the last cancel was answered, how many jobs got a cancel, and the answer.

    python -m benchmarks.hook '{"event": {...}}'   # the child: one invocation, JSON on stdout
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import boto3
from jobjanitor_testbed.hook_driver import ALLOWED_ENV, attach_cluster, create_stack, hook_event
from jobjanitor_testbed.scenario import ML_KINDS
from jobjanitor_testbed.server import TestBed

from benchmarks.common import ROOT, Workload, child_environment

BUDGET_S = 30.0
LATENCY = 0.025
STOP_DELAY = 2.0
TABLE = "jobjanitor-idempotency"


def seed(bed: TestBed, total: int) -> dict[str, list[str]]:
    """``total`` outstanding jobs on the emulator's cluster: 64 loads (Neptune runs one and
    queues at most 64), the rest Neptune ML in equal thirds."""
    loads = min(64, max(1, total // 16))
    jobs: dict[str, list[str]] = {
        "neptune-loader": [bed.neptune.seed_load(status="LOAD_IN_PROGRESS")]
        + [bed.neptune.seed_load(status="LOAD_IN_QUEUE") for _ in range(loads - 1)]
    }
    kinds = list(ML_KINDS.items())
    for n, (kind, api_kind) in enumerate(kinds):
        count = (total - loads) // len(kinds) + (1 if n < (total - loads) % len(kinds) else 0)
        jobs[kind] = [
            bed.neptune.seed_ml_job(api_kind, f"hook-{api_kind}-{i}", status="InProgress") for i in range(count)
        ]
    return jobs


@dataclass
class Prepared:
    """A cluster with outstanding jobs, the hook's environment, and CloudFormation's request."""

    env: dict[str, str]
    event: dict[str, Any]
    workload: Workload


def prepare(bed: TestBed, jobs: int) -> Prepared:
    """The test bed reset, then: the idempotency table, a stack whose Neptune cluster is the
    emulator, ``jobs`` outstanding jobs on it, and the ``DELETE_PRE_PROVISION`` request."""
    bed.reset()
    bed.lifecycle.stop_delay = STOP_DELAY
    bed.faults_neptune.set(latency=LATENCY)
    bed.faults_aws.set(latency=LATENCY)
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    stack = create_stack("bench-hook", transform=False)
    env: dict[str, str] = {}
    attach_cluster(stack["GraphCluster"], bed.neptune_url, env)
    env.update(
        {
            "IDEMPOTENCY_TABLE_NAME": TABLE,
            "JOBJANITOR_NEPTUNE_CLUSTERS": stack["GraphCluster"],
            "JOBJANITOR_HOOK_MODE": "Fail",
        }
    )
    workload = Workload(jobs=seed(bed, jobs))
    bed.neptune_log.clear()
    bed.aws_log.clear()
    event = hook_event("AWS::Neptune::DBCluster", "GraphCluster", stack["StackId"])
    return Prepared(env, event, workload)


def measure(bed: TestBed, jobs: int = 1000) -> dict[str, Any]:
    prepared = prepare(bed, jobs)
    env = child_environment(POWERTOOLS_LOG_LEVEL="WARNING", **prepared.env)
    env[ALLOWED_ENV] = ",".join(filter(None, [os.environ.get(ALLOWED_ENV), prepared.env[ALLOWED_ENV]]))
    started = time.time()
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.hook", json.dumps({"event": prepared.event})],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the hook's child process failed: {done.stderr[-2000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    cancels = [e for e in bed.neptune_log.entries() if e.operation.startswith("Cancel")]
    cancelled = {e.path for e in cancels if e.status == 200}
    last_cancel = max((e.timestamp + e.duration for e in cancels), default=started) - started
    seeded = prepared.workload.jobs
    return {
        "jobs": sum(len(v) for v in seeded.values()),
        "by_kind": {k: len(v) for k, v in seeded.items()},
        "latency_ms": LATENCY * 1000,
        "stop_delay": STOP_DELAY,
        "budget_s": BUDGET_S,
        "invocation_s": child["total_s"],
        "import_s": child["import_s"],
        "last_cancel_s": last_cancel,
        "cancel_requests": len(cancels),
        "cancelled": len(cancelled),
        "status": child["answer"]["hookStatus"],
        "message": child["answer"]["message"][:300],
        "requests": len(bed.neptune_log.entries()),
    }


def _child(args: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    from jobjanitor.handlers.hook import lambda_handler  # noqa: PLC0415 - the cold import is measured
    from jobjanitor_testbed.cfn import LambdaContext  # noqa: PLC0415

    imported = time.perf_counter()
    answer = lambda_handler(args["event"], LambdaContext(function_name="jobjanitor-hook", timeout_seconds=BUDGET_S))
    finished = time.perf_counter()
    return {"import_s": imported - started, "total_s": finished - started, "answer": answer}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))


def target_row(h: dict[str, Any]) -> str:
    """The row in docs/benchmarks.md's targets table."""
    ok = h["invocation_s"] <= h["budget_s"] and h["cancelled"] == h["jobs"]
    target = f"teardown hook: first invocation on {h['jobs']:,} jobs within {h['budget_s']:.0f} s, every job cancelled"
    measured = f"{h['invocation_s']:.2f} s ({h['cancelled']:,} cancelled, last cancel at {h['last_cancel_s']:.2f} s)"
    return f"| {target} | {measured} | {'met' if ok else '**missed**'} |"


def section(h: dict[str, Any], number: int) -> list[str]:
    by_kind = ", ".join(f"{k} {v}" for k, v in h["by_kind"].items())
    requests = f"{h['cancel_requests']:,} cancel requests, {h['requests']:,} requests in all"
    return [
        f"## {number}. Teardown hook",
        "",
        f"A stack's Neptune cluster with {h['jobs']:,} outstanding jobs ({by_kind}),",
        f"{h['latency_ms']:.0f} ms added to every request; a cancelled ML job stops {h['stop_delay']:g} s after its",
        "cancel. The hook's handler runs in a fresh process (imports included, as against",
        "CloudFormation's clock) on the `DELETE_PRE_PROVISION` request for the cluster, with a 30 s",
        "Lambda context (`benchmarks/hook.py`).",
        "",
        "| | |",
        "|---|---|",
        f"| first invocation, end to end | {h['invocation_s']:.2f} s (budget {h['budget_s']:.0f} s) |",
        f"| of which imports | {h['import_s']:.2f} s |",
        f"| last cancel answered | {h['last_cancel_s']:.2f} s after its process was started |",
        f"| jobs cancelled | {h['cancelled']:,} of {h['jobs']:,} ({requests}) |",
        f"| answer | {h['status']}: {h['message']} |",
        "",
    ]
