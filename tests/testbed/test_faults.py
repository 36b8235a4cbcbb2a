"""Fault injection and the request log, on the Neptune emulator and on the moto (AWS) side."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from jobjanitor_testbed.aws import DYNAMODB_ITEM_OPERATIONS
from jobjanitor_testbed.faults import Faults
from jobjanitor_testbed.pytest_plugin import make_client
from jobjanitor_testbed.server import TestBed

NO_RETRIES = Config(retries={"total_max_attempts": 1})


def glue_transform(glue: Any) -> str:
    out = glue.create_ml_transform(
        Name="dedupe",
        InputRecordTables=[{"DatabaseName": "db", "TableName": "people"}],
        Parameters={"TransformType": "FIND_MATCHES", "FindMatchesParameters": {"PrimaryKeyColumnName": "id"}},
        Role="arn:aws:iam::123456789012:role/GlueML",
    )
    return str(out["TransformId"])


def test_neptune_throttle_error_drop(testbed: TestBed) -> None:
    client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    testbed.faults_neptune.set(throttle_rate=1.0)
    with pytest.raises(client.exceptions.TooManyRequestsException) as info:
        client.list_loader_jobs()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert str(info.value)

    testbed.faults_neptune.set(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(client.exceptions.InternalFailureException) as info:
        client.list_loader_jobs()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    testbed.faults_neptune.set(error_rate=0.0, drop_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        client.list_loader_jobs()

    testbed.faults_neptune.clear()
    assert client.list_loader_jobs()["payload"]["loadIds"] == []
    log = testbed.neptune_log
    assert [(e.status, e.fault) for e in log] == [(429, "throttle"), (500, "error"), ("dropped", "drop"), (200, None)]
    assert log.count(error_code="TooManyRequestsException") == 1
    assert {e.service for e in log} == {"neptune"}


def test_glue_throttle_error_drop(testbed: TestBed) -> None:
    glue = make_client("glue", testbed.aws_url, config=NO_RETRIES)
    transform = glue_transform(glue)
    testbed.faults_aws.set(throttle_rate=1.0)
    with pytest.raises(ClientError) as info:
        glue.get_ml_task_runs(TransformId=transform)
    assert info.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    testbed.faults_aws.set(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(glue.exceptions.InternalServiceException) as err:
        glue.get_ml_task_runs(TransformId=transform)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    testbed.faults_aws.set(error_rate=0.0, drop_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        glue.get_ml_task_runs(TransformId=transform)

    testbed.faults_aws.clear()
    assert glue.get_ml_task_runs(TransformId=transform)["TaskRuns"] == []
    runs = testbed.aws_log.entries(operation="GetMLTaskRuns")
    assert [(e.status, e.fault, e.error_code) for e in runs] == [
        (400, "throttle", "ThrottlingException"),
        (500, "error", "InternalServiceException"),
        ("dropped", "drop", None),
        (200, None, None),
    ]
    assert testbed.aws_log.count(operation="CreateMLTransform", status=200) == 1


def test_glue_errors_from_moto_are_logged_with_their_code(testbed: TestBed, glue_client: Any) -> None:
    transform = glue_transform(glue_client)
    with pytest.raises(glue_client.exceptions.EntityNotFoundException):
        glue_client.get_ml_task_run(TransformId=transform, TaskRunId="missing")
    assert testbed.aws_log.entries(operation="GetMLTaskRun")[-1].error_code == "EntityNotFoundException"


@pytest.mark.usefixtures("no_retry_delay")
def test_glue_default_client_retries_a_throttle(testbed: TestBed, glue_client: Any) -> None:
    transform = glue_transform(glue_client)
    testbed.faults_aws.inject("ThrottlingException", operations=["GetMLTaskRuns"])
    out = glue_client.get_ml_task_runs(TransformId=transform)
    assert out["ResponseMetadata"]["RetryAttempts"] == 1
    assert [e.status for e in testbed.aws_log.entries(operation="GetMLTaskRuns")] == [400, 200]


def test_latency_shows_in_logged_durations(testbed: TestBed, neptune_client: Any, glue_client: Any) -> None:
    testbed.set_faults(latency=0.05)
    neptune_client.list_loader_jobs()
    glue_client.get_ml_transforms()
    testbed.set_faults(latency=0.0)
    neptune_client.list_loader_jobs()
    slow, fast = testbed.neptune_log.entries()
    assert slow.duration >= 0.05
    assert fast.fault is None  # latency 0: nothing injected
    assert testbed.aws_log.entries(operation="GetMLTransforms")[0].duration >= 0.05


def test_operation_filter_and_scripted_errors() -> None:
    faults = Faults(throttle_rate=1.0, operations=["CancelLoaderJob"])
    assert faults.decide("ListLoaderJobs").action == "pass"
    assert faults.decide("CancelLoaderJob").action == "throttle"
    faults.clear().inject("ConstraintViolationException", times=2, operations=["CancelLoaderJob"])
    assert faults.decide("ListLoaderJobs").action == "pass"
    first, second, third = (faults.decide("CancelLoaderJob") for _ in range(3))
    assert (first.action, first.code) == ("inject", "ConstraintViolationException")
    assert second.action == "inject"
    assert third.action == "pass"


def test_seeded_draws_repeat_and_rates_apply() -> None:
    def draws(seed: int) -> list[str]:
        faults = Faults(throttle_rate=0.3, error_rate=0.2, drop_rate=0.1, seed=seed)
        return [faults.decide("op").action for _ in range(500)]

    assert draws(7) == draws(7)
    actions = draws(7)
    assert {"pass", "throttle", "error", "drop"} == set(actions)
    assert 0 < actions.count("drop") < actions.count("throttle") < actions.count("pass")


@pytest.mark.parametrize("bad", [{"throttle_rate": 1.5}, {"error_rate": -0.1}, {"drop_rate": 2}, {"latency": -1}])
def test_knobs_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Faults(**bad)


def test_concurrent_clients(testbed: TestBed) -> None:
    load = testbed.neptune.seed_load("l")
    testbed.neptune.seed_ml_job("dataprocessing", "j")

    def worker(_: int) -> int:
        client = make_client("neptunedata", testbed.neptune_url)
        for _ in range(16):
            client.get_loader_job_status(loadId=load)
            client.get_ml_data_processing_job(id="j")
        return 32

    with ThreadPoolExecutor(32) as pool:
        total = sum(pool.map(worker, range(32)))
    assert total == 1024
    assert testbed.neptune_log.count(status=200) == 1024
    assert len(testbed.neptune_log) == 1024


def test_aws_env_reaches_moto_and_reset_isolates(aws_env: TestBed) -> None:
    glue = boto3.client("glue")
    transform = glue_transform(glue)
    assert aws_env.aws_log.count(operation="CreateMLTransform") == 1
    aws_env.reset()
    assert boto3.client("glue").get_ml_transforms()["Transforms"] == []
    assert transform


def test_a_rate_limit_is_per_api_and_answers_the_declared_throttle(testbed: TestBed) -> None:
    """Whatever the client does, each API of the emulator accepts ``rate`` requests a second."""
    client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    testbed.neptune.seed_ml_job("dataprocessing", "j")
    testbed.faults_neptune.limit_rate(2, burst=2)
    client.list_ml_data_processing_jobs()
    client.get_ml_data_processing_job(id="j")
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.cancel_ml_data_processing_job(id="j")  # the third of one API within the second
    assert client.list_loader_jobs()["payload"]["loadIds"] == []  # another API: its own bucket
    throttled = testbed.neptune_log.entries(fault="rate-limit")
    assert [(e.operation, e.status) for e in throttled] == [("CancelMLDataProcessingJob", 429)]
    testbed.faults_neptune.clear()
    client.cancel_ml_data_processing_job(id="j")


def test_a_hung_table_answers_nothing_and_applies_nothing(aws_env: TestBed) -> None:
    dynamodb = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1}, read_timeout=0.5))
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws_env.faults_aws.set(hang_rate=1.0, operations=DYNAMODB_ITEM_OPERATIONS)
    with pytest.raises(ReadTimeoutError):
        dynamodb.put_item(TableName="t", Item={"id": {"S": "held"}})
    assert dynamodb.describe_table(TableName="t")["Table"]["TableName"] == "t"  # only items hang
    aws_env.faults_aws.clear()  # releases the held request: closed unanswered, never applied
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"id": {"S": "held"}}, ConsistentRead=True)
    for _ in range(100):  # the held request's thread logs it once released
        if aws_env.aws_log.count(operation="PutItem"):
            break
        time.sleep(0.01)
    assert [e.fault for e in aws_env.aws_log.entries(operation="PutItem")] == ["hang"]
