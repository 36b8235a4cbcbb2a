"""The guard's teardown waits until SageMaker agrees the bill stopped (issue 22, part 2), driven as
CloudFormation drives it: a Neptune ML job Neptune reads Stopped while its SageMaker jobs still
stop is still stopping, and past the guard's deadline it is reported (and fails the Delete with
FailOnError)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
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


def test_the_guards_log_says_when_the_bill_stopped(
    guard_env: Any, receiver: ResponseReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Each job's "stopped" log line carries the SageMaker verdict (make demo shows it)."""
    testbed = guard_env
    job = testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}training", status="InProgress")
    with caplog.at_level(logging.INFO):
        body = _teardown(testbed, receiver)
    assert body["Status"] == "SUCCESS", body
    stopped = [
        r for r in caplog.records if getattr(r, "action", None) == "stopped" and getattr(r, "job_id", None) == job
    ]
    assert [getattr(r, "billing", None) for r in stopped] == ["billing stopped"], caplog.text
    assert stopped[0].getMessage() == f"stopped neptune-ml-training {job}: cancelled (Stopped); billing stopped"


def test_a_teardown_reads_many_jobs_sagemaker_side_by_listing_and_waits_for_it(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    """Six training jobs (six processing and six tuning jobs in SageMaker) whose SageMaker side
    lags Neptune: read by listings, held while they still stop, then the Delete succeeds."""
    testbed = guard_env
    jobs = [
        testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}training-{i}", status="InProgress") for i in range(6)
    ]
    testbed.neptune.state.sagemaker_lag = 1.5
    body = _teardown(testbed, receiver)
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["StillRunning"] == "0"
    assert {testbed.neptune.job("modeltraining", job).status for job in jobs} == {"Stopped"}
    log = testbed.aws_log
    assert log.count(operation="ListHyperParameterTuningJobs") >= 2  # held, then read again
    assert log.count(operation="DescribeHyperParameterTuningJob") == 0
    assert log.count(operation="DescribeProcessingJob") == 0
