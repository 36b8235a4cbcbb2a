"""The guard's idempotency table is bookkeeping, through the real handler against the test bed: a
table that hangs costs the teardown a few seconds, its cancels go through, and the answer says
it ran without the table."""

from __future__ import annotations

import time
from typing import Any

import pytest
from jobjanitor import observability
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.aws import DYNAMODB_ITEM_OPERATIONS
from jobjanitor_testbed.cfn import ResponseReceiver
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, guarded, make_event


def test_a_table_that_hangs_costs_seconds_and_the_answer_says_so(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    counted: list[str] = []
    add = observability.metrics.add_metric
    monkeypatch.setattr(
        observability.metrics, "add_metric", lambda name, *a, **k: (counted.append(name), add(name, *a, **k))
    )
    testbed.faults_aws.set(hang_rate=1.0, operations=DYNAMODB_ITEM_OPERATIONS)
    started = time.monotonic()

    delivery = deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver, timeout=60)

    seconds = time.monotonic() - started
    body = assert_contract(delivery)
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["IdempotencyTable"] == "unavailable: ran without it"
    assert int(body["Data"]["Cancelled"]) == jobs.count("in_scope")
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPING_OR_STOPPED) == []
    assert "IdempotencyTableFaults" in counted
    # Each table call gives up within its budget: a few of them, not a minute each.
    assert seconds < 20, seconds
