"""The guard's ``DryRun`` property: a teardown that reports what it would cancel and cancels
nothing, driven as CloudFormation drives the guard, against the test bed."""

from __future__ import annotations

from typing import Any

import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, clients, guarded, make_event, props


def test_a_dry_run_teardown_cancels_nothing_and_says_what_it_would_cancel(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    # FailOnError: a dry run answers SUCCESS all the same (a preview never blocks the delete).
    g = guarded(testbed, receiver, per_kind=2, out_of_scope_per_kind=1, DryRun="true", FailOnError="true")
    testbed.neptune_log.clear()

    delete = make_event("Delete", g.properties, receiver, stack=g.stack, physical_id=g.pid)
    body = assert_contract(deliver(delete, receiver))

    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["DryRun"] == "true"
    assert body["Data"]["WouldCancel"] == str(g.jobs.count()), body["Data"]
    assert body["Data"]["Cancelled"] == "0"
    assert body["Reason"].startswith(f"DryRun: cancelled nothing; would cancel {g.jobs.count()} job(s)"), body
    # Nothing was cancelled: every job, in scope or not, still runs (read through boto3).
    found = sc.statuses(g.neptune, g.glue, g.jobs.in_scope, g.jobs.transform_id)
    assert sc.in_states(found, sc.RUNNING) == []
    untouched = sc.statuses(g.neptune, g.glue, g.jobs.out_of_scope, g.jobs.transform_id, g.jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0


@pytest.mark.parametrize(
    ("value", "problem"), [("", "is blank"), ("  ", "is blank"), ("maybe", "must be true or false")]
)
def test_a_blank_or_unknown_dry_run_fails_create_naming_it(
    guard_env: Any, receiver: ResponseReceiver, value: str, problem: str
) -> None:
    testbed = guard_env
    neptune, _glue = clients(testbed)
    job = sc.start_ml_job(neptune, "neptune-ml-training", "stack-a-train-0")
    event = make_event("Create", props(testbed, DryRun=value), receiver, stack=stack_id())

    body = assert_contract(deliver(event, receiver))

    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"DryRun: {problem}"), body["Reason"]
    assert sc.status_of(neptune, None, "neptune-ml-training", job) == "InProgress"
