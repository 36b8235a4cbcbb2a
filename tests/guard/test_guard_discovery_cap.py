"""The guard when a listing comes back holding its cap of ids: its own job may be past the
cap, so the Delete must not claim success (FailOnError: FAILED; else SUCCESS saying so)."""

from __future__ import annotations

from typing import Any

import pytest
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, create, make_event, props

CAPPED = "neptune-ml-training: ListMLModelTrainingJobs returned its cap of 1024 ids; older jobs cannot be seen"


@pytest.mark.parametrize("fail_on_error", ["true", "false"])
def test_delete_with_1030_newer_jobs_than_its_own_is_not_a_success(
    guard_env: Any, receiver: ResponseReceiver, fail_on_error: str
) -> None:
    bed = guard_env
    bed.neptune.seed_ml_job("modeltraining", "stack-a-train", status="InProgress")
    for i in range(1030):
        bed.neptune.seed_ml_job("modeltraining", f"other-{i:04}", status="InProgress")
    stack = stack_id()
    properties = props(bed, Kinds="neptune-ml-training", FailOnError=fail_on_error, MaxWaitSeconds="5")
    pid = create(bed, receiver, properties, stack)["PhysicalResourceId"]
    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS"), body
    assert CAPPED in body["Reason"], body["Reason"]
    # The stack's own job was past the cap: never seen, so never cancelled, and said so.
    assert bed.neptune.job("modeltraining", "stack-a-train").status == "InProgress"
    assert {bed.neptune.job("modeltraining", f"other-{i:04}").status for i in range(1030)} == {"InProgress"}
