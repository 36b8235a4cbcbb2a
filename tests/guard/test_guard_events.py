"""The example events in events/ drive the guard through a stack's whole life.

The files hold what CloudFormation sends; only what cannot exist here is pointed at the test
bed: the cluster endpoint, the Glue transform, the ResponseURL (the loopback receiver), and
the physical id CloudFormation echoes from the Create's answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, contract_violations
from jobjanitor_testbed.guard_driver import deliver, lambda_permissions, polling_rules

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(
    name: str, testbed: Any, receiver: ResponseReceiver, transform_id: str, pid: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    for key in ("ResourceProperties", "OldResourceProperties"):
        if key in event:
            event[key] = {**event[key], "NeptuneEndpoint": testbed.neptune_url, "GlueTransformIds": [transform_id]}
    event["ResponseURL"] = receiver.url_for(event["RequestId"])
    if pid is not None:
        event["PhysicalResourceId"] = pid
    return event


def answer(event: dict[str, Any], receiver: ResponseReceiver) -> dict[str, Any]:
    delivery = deliver(event, receiver)
    assert delivery.response is not None
    assert len(delivery.all_responses) == 1
    assert contract_violations(delivery.response, event) == []
    return delivery.body


def test_create_update_delete_from_the_example_events(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune = boto3.client("neptunedata", endpoint_url=testbed.neptune_url)
    glue = boto3.client("glue")
    prefix = json.loads((EVENTS / "guard-create.json").read_text())["ResourceProperties"]["JobIdPrefix"]
    jobs = sc.start_jobs(neptune, glue, prefix=prefix, per_kind=1, testbed=testbed)

    created = answer(load("guard-create.json", testbed, receiver, jobs.transform_id), receiver)
    assert created["Status"] == "SUCCESS", created
    pid = created["PhysicalResourceId"]
    updated = answer(load("guard-update.json", testbed, receiver, jobs.transform_id, pid), receiver)
    assert (updated["Status"], updated["PhysicalResourceId"]) == ("SUCCESS", pid)
    deleted = answer(load("guard-delete.json", testbed, receiver, jobs.transform_id, pid), receiver)
    assert (deleted["Status"], deleted["PhysicalResourceId"]) == ("SUCCESS", pid)

    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
    others = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(others, sc.RUNNING) == []
    assert polling_rules() == []
    assert lambda_permissions() == []


def test_delete_after_failed_create_from_the_example_event(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune = boto3.client("neptunedata", endpoint_url=testbed.neptune_url)
    glue = boto3.client("glue")
    jobs = sc.start_jobs(neptune, glue, prefix="ml-pipeline-", per_kind=1, out_of_scope_per_kind=0)
    event = load("guard-delete-after-failed-create.json", testbed, receiver, jobs.transform_id)
    body = answer(event, receiver)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []
