"""The sweeper's idempotency table is bookkeeping, through the real handler against the test bed:
a table that cannot be written costs a few seconds, the sweep runs, and the result says it ran
without the table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.aws import DYNAMODB_ITEM_OPERATIONS
from test_sweeper import STOPPED_OR_STOPPING, cancel_requests, event, invoke, states


def test_a_table_that_hangs_is_swept_without_and_said(sweeper_env: Any, seed_aged: Callable[..., Any]) -> None:
    bed = sweeper_env
    aged = seed_aged()
    bed.faults_aws.set(hang_rate=1.0, operations=DYNAMODB_ITEM_OPERATIONS)

    result = invoke(event("sweeper-rule.json"), timeout=60.0)

    assert result["status"] == "swept"
    assert result["idempotency"].startswith("ran without the idempotency table (it could not be read or written")
    assert int(result["summary"]["Cancelled"]) == aged.count("old")
    assert cancel_requests(bed) == aged.count("old")
    assert sc.in_states(states(bed, aged.old, aged.transform_id), STOPPED_OR_STOPPING) == []
    assert sc.in_states(states(bed, aged.young, aged.transform_id), sc.RUNNING) == []
