"""Upgrading across the guard's physical id scheme (docs/deploy.md, "Upgrading"): a guard an
older version created carries an id that hashed its targets. Its stack's first Update moves it
to the stable id; the Delete CloudFormation then sends for the old id, while the stack cleans
up after the Update, cancels nothing; the stack's own Delete later sweeps under the new id."""

from __future__ import annotations

from typing import Any

from jobjanitor.guard.config import GuardConfig, legacy_physical_id, physical_id
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, clients, make_event, props


def test_an_old_id_moves_to_the_stable_id_on_update_and_its_cleanup_cancels_nothing(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=1)
    stack = stack_id()
    properties = props(testbed, jobs)
    old_properties = {**properties, "MaxWaitSeconds": "60"}
    probe = make_event("Delete", old_properties, receiver, stack=stack, physical_id="probe")
    old_id = legacy_physical_id(probe, GuardConfig.from_properties(old_properties))
    assert old_id != physical_id(probe)

    update = make_event("Update", properties, receiver, stack=stack, physical_id=old_id, old_properties=old_properties)
    moved = assert_contract(deliver(update, receiver))
    assert moved["Status"] == "SUCCESS", moved
    new_id = moved["PhysicalResourceId"]
    assert new_id == physical_id(update) != old_id

    testbed.neptune_log.clear()
    testbed.aws_log.clear()
    cleanup = make_event("Delete", old_properties, receiver, stack=stack, physical_id=old_id)
    answered = assert_contract(deliver(cleanup, receiver, stack_status="UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
    assert answered["Status"] == "SUCCESS", answered
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0

    teardown = make_event("Delete", properties, receiver, stack=stack, physical_id=new_id)
    swept = assert_contract(deliver(teardown, receiver))
    assert swept["Status"] == "SUCCESS", swept
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
    untouched = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []
