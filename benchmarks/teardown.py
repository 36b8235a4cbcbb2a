"""Teardown latency: how long after the last job reaches a terminal state the guard's Delete
is answered; and a Delete with nothing outstanding, end to end."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import boto3
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, custom_resource_event, stack_id
from jobjanitor_testbed.clusters import stand_in_environment
from jobjanitor_testbed.guard_driver import TABLE, deliver, prepare_aws
from jobjanitor_testbed.server import TestBed

STOP_DELAY = 2.0


def _guard(bed: TestBed, receiver: ResponseReceiver, properties: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    import jobjanitor.guard.app as guard_app  # noqa: PLC0415

    os.environ["IDEMPOTENCY_TABLE_NAME"] = TABLE
    guard_app._app = None  # a fresh execution environment
    stack = stack_id()
    created = deliver(custom_resource_event("Create", properties, receiver=receiver, stack=stack), receiver)
    pid = created.body["PhysicalResourceId"]
    event = custom_resource_event("Delete", properties, receiver=receiver, stack=stack, physical_id=pid)
    sent = time.time()
    delivery = deliver(event, receiver)
    if delivery.response is None:
        raise RuntimeError("the guard did not answer the Delete")
    return delivery.body, sent, delivery.response.received_at


def measure(bed: TestBed, repeats: int = 3) -> dict[str, Any]:
    latencies: list[float] = []
    empties: list[float] = []
    totals: list[float] = []
    with ResponseReceiver() as receiver:
        for _ in range(repeats):
            bed.reset()
            bed.lifecycle.stop_delay = STOP_DELAY
            prepare_aws()
            os.environ.update(stand_in_environment(bed.neptune_url))  # the install's one cluster
            neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
            glue = boto3.client("glue")
            jobs = sc.start_jobs(neptune, glue, prefix="bench-", per_kind=2, out_of_scope_per_kind=0)
            properties = {
                "NeptuneEndpoint": bed.neptune_url,
                "Kinds": "all",
                "JobIdPrefix": "bench-",
                "GlueTransformIds": [jobs.transform_id],
                "MaxWaitSeconds": "300",
            }
            bed.neptune_log.clear()
            bed.aws_log.clear()
            body, sent, answered = _guard(bed, receiver, properties)
            if body["Status"] != "SUCCESS":
                raise RuntimeError(f"the guard answered {body}")
            cancels = [e for e in bed.neptune_log.entries() + bed.aws_log.entries() if e.operation.startswith("Cancel")]
            # A cancelled ML job or Glue run stops STOP_DELAY after its cancel was answered.
            last_terminal = max(e.timestamp + e.duration for e in cancels) + STOP_DELAY
            latencies.append(answered - last_terminal)
            totals.append(answered - sent)
            # Nothing outstanding: a second stack's guard over an empty scope.
            empty = {**properties, "JobIdPrefix": "nothing-here-", "Kinds": "neptune-ml-training"}
            _, sent, answered = _guard(bed, receiver, empty)
            empties.append(answered - sent)
    return {
        "stop_delay": STOP_DELAY,
        "jobs": jobs.count("in_scope"),
        "after_last_stop_s": statistics.median(latencies),
        "after_last_stop_all": latencies,
        "delete_total_s": statistics.median(totals),
        "empty_delete_s": statistics.median(empties),
        "repeats": repeats,
    }
