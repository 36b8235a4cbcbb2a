"""The guard's teardown waits until SageMaker agrees the bill stopped (issue 22, part 2), driven as
CloudFormation drives it: a Neptune ML job Neptune reads Stopped while its SageMaker jobs still
stop is still stopping, and past the guard's deadline it is reported (and fails the Delete with
FailOnError)."""

from __future__ import annotations

from typing import Any

from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import PREFIX, assert_contract, create, make_event, props


def _teardown(testbed: Any, receiver: ResponseReceiver, **extra: str) -> dict[str, Any]:
    properties = props(testbed, Kinds="neptune-ml-training", **extra)
    stack = stack_id()
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    return assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))


def test_a_teardown_waits_for_sagemaker_that_lags_neptune(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    job = testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}training", status="InProgress")
    testbed.neptune.state.sagemaker_lag = 1.5
    body = _teardown(testbed, receiver)
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["StillRunning"] == "0"
    assert testbed.neptune.job("modeltraining", job).status == "Stopped"
    assert testbed.aws_log.count(operation="DescribeHyperParameterTuningJob") >= 2


def test_sagemaker_still_stopping_at_the_deadline_is_reported_and_fails_with_fail_on_error(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    job = testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}training", status="InProgress")
    testbed.neptune.state.sagemaker_lag = 600.0
    body = _teardown(testbed, receiver, MaxWaitSeconds="3", FailOnError="true")
    assert body["Status"] == "FAILED", body
    assert body["Data"]["StillRunning"] == "1"
    assert f"neptune-ml-training:{job}" in body["Data"]["StillRunningIds"]
    assert testbed.neptune.job("modeltraining", job).status == "Stopped"  # Neptune is done; SageMaker is not
