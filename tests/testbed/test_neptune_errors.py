"""Neptune errors on the wire, IAM mode and botocore's default retries as the request log shows them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ConnectionClosedError
from jobjanitor_testbed.neptune import error_statuses, operation_errors
from jobjanitor_testbed.pytest_plugin import make_client
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign

NO_RETRIES = Config(retries={"total_max_attempts": 1})
LOAD = {"source": "s3://b/x", "format": "csv", "s3BucketRegion": "us-east-1", "iamRoleArn": "arn:aws:iam::1:role/r"}

CALLS: dict[str, Callable[[Any], Any]] = {
    "StartLoaderJob": lambda c: c.start_loader_job(**LOAD),
    "ListLoaderJobs": lambda c: c.list_loader_jobs(),
    "GetLoaderJobStatus": lambda c: c.get_loader_job_status(loadId="x"),
    "CancelLoaderJob": lambda c: c.cancel_loader_job(loadId="x"),
    "StartMLDataProcessingJob": lambda c: c.start_ml_data_processing_job(
        inputDataS3Location="s3://a", processedDataS3Location="s3://b"
    ),
    "ListMLDataProcessingJobs": lambda c: c.list_ml_data_processing_jobs(),
    "GetMLDataProcessingJob": lambda c: c.get_ml_data_processing_job(id="x"),
    "CancelMLDataProcessingJob": lambda c: c.cancel_ml_data_processing_job(id="x"),
    "StartMLModelTrainingJob": lambda c: c.start_ml_model_training_job(
        dataProcessingJobId="d", trainModelS3Location="s3://t"
    ),
    "ListMLModelTrainingJobs": lambda c: c.list_ml_model_training_jobs(),
    "GetMLModelTrainingJob": lambda c: c.get_ml_model_training_job(id="x"),
    "CancelMLModelTrainingJob": lambda c: c.cancel_ml_model_training_job(id="x"),
    "StartMLModelTransformJob": lambda c: c.start_ml_model_transform_job(modelTransformOutputS3Location="s3://o"),
    "ListMLModelTransformJobs": lambda c: c.list_ml_model_transform_jobs(),
    "GetMLModelTransformJob": lambda c: c.get_ml_model_transform_job(id="x"),
    "CancelMLModelTransformJob": lambda c: c.cancel_ml_model_transform_job(id="x"),
    "CreateMLEndpoint": lambda c: c.create_ml_endpoint(id="ep", mlModelTrainingJobId="t"),
    "ListMLEndpoints": lambda c: c.list_ml_endpoints(),
    "GetMLEndpoint": lambda c: c.get_ml_endpoint(id="x"),
    "DeleteMLEndpoint": lambda c: c.delete_ml_endpoint(id="x"),
}


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_every_documented_error_reaches_boto3_as_its_class(testbed: TestBed, operation: str) -> None:
    client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    statuses = error_statuses()
    codes = operation_errors()[operation]
    assert codes
    for code in codes:
        testbed.faults_neptune.inject(code, operations=[operation])
        with pytest.raises(getattr(client.exceptions, code)) as info:
            CALLS[operation](client)
        assert str(info.value)
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["Error"]["Message"]
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == statuses[code]
    assert testbed.neptune_log.count(operation=operation, fault="inject") == len(codes)


def raw_request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    headers = sign(method, url) if headers is None else headers
    req = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback test server
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_error_body_shape_and_405(testbed: TestBed) -> None:
    status, body = raw_request(testbed.neptune_url + "/loader/abc")
    assert status == 404
    assert set(body) == {"code", "requestId", "detailedMessage", "message"}
    assert body["code"] == "BulkLoadIdNotFoundException"
    assert body["message"] == body["detailedMessage"] != ""
    status, body = raw_request(testbed.neptune_url + "/ml/dataprocessing", method="DELETE")
    assert (status, body["code"]) == (405, "MethodNotAllowedException")
    status, body = raw_request(testbed.neptune_url + "/sparql")
    assert (status, body["code"]) == (400, "BadRequestException")


def test_iam_mode(testbed: TestBed, neptune_client: Any) -> None:
    assert testbed.neptune.iam  # on by default: IAM DB authentication
    assert neptune_client.list_loader_jobs()["payload"]["loadIds"] == []  # signed for neptune-db

    unsigned = make_client("neptunedata", testbed.neptune_url, config=Config(signature_version=UNSIGNED))
    with pytest.raises(unsigned.exceptions.AccessDeniedException) as info:
        unsigned.list_loader_jobs()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert str(info.value)

    request = AWSRequest(method="GET", url=testbed.neptune_url + "/loader")
    SigV4Auth(Credentials("testing", "testing"), "execute-api", "us-east-1").add_auth(request)
    status, body = raw_request(request.url, headers=dict(request.headers.items()))
    assert (status, body["code"]) == (403, "AccessDeniedException")
    assert "neptune-db" in body["message"]

    request = AWSRequest(method="GET", url=testbed.neptune_url + "/loader")
    SigV4Auth(Credentials("testing", "testing"), "neptune-db", "us-east-1").add_auth(request)
    assert raw_request(request.url, headers=dict(request.headers.items()))[0] == 200

    testbed.neptune.iam = False  # switched off (testbed.reset() turns it on again): unsigned is accepted
    assert unsigned.list_loader_jobs()["payload"]["loadIds"] == []


@pytest.mark.usefixtures("no_retry_delay")
def test_default_client_cancel_of_finished_load_costs_three_requests(testbed: TestBed, neptune_client: Any) -> None:
    load_id = testbed.neptune.seed_load("done", status="LOAD_COMPLETED")
    with pytest.raises(neptune_client.exceptions.BulkLoadIdNotFoundException) as info:
        neptune_client.cancel_loader_job(loadId=load_id)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    entries = testbed.neptune_log.entries(operation="CancelLoaderJob")
    assert [e.status for e in entries] == [404, 404, 404]
    assert {e.error_code for e in entries} == {"BulkLoadIdNotFoundException"}


@pytest.mark.usefixtures("no_retry_delay")
def test_default_client_retries_throttles_and_500s_not_invalid_parameter(testbed: TestBed, neptune_client: Any) -> None:
    load_id = testbed.neptune.seed_load("l1")
    testbed.faults_neptune.inject("TooManyRequestsException", status=429, operations=["GetLoaderJobStatus"])
    out = neptune_client.get_loader_job_status(loadId=load_id)
    assert out["ResponseMetadata"]["RetryAttempts"] == 1
    assert [e.status for e in testbed.neptune_log.entries(operation="GetLoaderJobStatus")] == [429, 200]

    testbed.faults_neptune.set(error_rate=1.0)
    with pytest.raises(neptune_client.exceptions.InternalFailureException):
        neptune_client.list_loader_jobs()
    assert testbed.neptune_log.count(operation="ListLoaderJobs", status=500) == 3
    testbed.faults_neptune.clear()

    with pytest.raises(neptune_client.exceptions.InvalidParameterException):
        neptune_client.get_ml_data_processing_job(id="unknown")
    assert testbed.neptune_log.count(operation="GetMLDataProcessingJob") == 1


@pytest.mark.usefixtures("no_retry_delay")
def test_dropped_connections_are_retried(testbed: TestBed, neptune_client: Any) -> None:
    testbed.faults_neptune.set(drop_rate=1.0, operations=["ListLoaderJobs"])
    with pytest.raises(ConnectionClosedError):
        neptune_client.list_loader_jobs()
    assert [e.status for e in testbed.neptune_log.entries(operation="ListLoaderJobs")] == ["dropped"] * 3
    assert neptune_client.list_ml_model_training_jobs()["ids"] == []  # other operations unaffected
    testbed.faults_neptune.set(drop_rate=0.0)
    assert neptune_client.list_loader_jobs()["payload"]["loadIds"] == []


UNIMPLEMENTED: dict[str, Callable[[Any], Any]] = {
    "GetEngineStatus": lambda c: c.get_engine_status(),
    "GetSparqlStream": lambda c: c.get_sparql_stream(),
    "ExecuteOpenCypherQuery": lambda c: c.execute_open_cypher_query(openCypherQuery="MATCH (n) RETURN n"),
    "GetGremlinQueryStatus": lambda c: c.get_gremlin_query_status(queryId="q"),
    "CancelIndexRebuild": lambda c: c.cancel_index_rebuild(rebuildId="r"),
}


@pytest.mark.parametrize("operation", sorted(UNIMPLEMENTED))
def test_unimplemented_operations_answer_a_declared_error(testbed: TestBed, operation: str) -> None:
    client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    with pytest.raises(client.exceptions.UnsupportedOperationException) as info:
        UNIMPLEMENTED[operation](client)
    assert "UnsupportedOperationException" in operation_errors()[operation]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert operation in str(info.value)
    assert testbed.neptune_log.entries()[-1].operation == operation


def test_every_model_operation_works_or_answers_an_error_it_declares(testbed: TestBed) -> None:
    """Raw HTTP for every operation of the model: the answer is 2xx or an error it declares."""
    from botocore.loaders import Loader

    model = Loader().load_service_model("neptunedata", "service-2")
    for name, op in model["operations"].items():
        path = op["http"]["requestUri"].split("?")[0]
        for token in ("{loadId}", "{id}", "{queryId}", "{rebuildId}"):
            path = path.replace(token, "x")
        status, body = raw_request(testbed.neptune_url + path, method=op["http"]["method"])
        if status >= 400:
            assert body["code"] in operation_errors()[name], (name, status, body)


def test_random_errors_use_codes_each_operation_declares(testbed: TestBed) -> None:
    client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    testbed.faults_neptune.set(error_rate=1.0)
    with pytest.raises(client.exceptions.InternalFailureException):
        client.list_loader_jobs()
    with pytest.raises(client.exceptions.ClientTimeoutException) as info:
        client.list_ml_model_training_jobs()  # the ML operations declare no 500
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    testbed.faults_neptune.set(error_rate=0.0, throttle_rate=1.0)
    for call in (client.list_loader_jobs, client.list_ml_data_processing_jobs):
        with pytest.raises(client.exceptions.TooManyRequestsException):
            call()
    for entry in testbed.neptune_log.entries():
        assert entry.error_code in operation_errors()[entry.operation]


def test_injecting_an_undeclared_error_is_refused(testbed: TestBed) -> None:
    neptune_client = make_client("neptunedata", testbed.neptune_url, config=NO_RETRIES)
    with pytest.raises(ValueError, match="CancelMLModelTrainingJob does not declare InternalFailureException"):
        testbed.faults_neptune.inject("InternalFailureException", operations=["CancelMLModelTrainingJob"])
    # Without named operations, an injection only hits operations that declare the code.
    testbed.faults_neptune.inject("BulkLoadIdNotFoundException")
    assert neptune_client.list_ml_model_training_jobs()["ids"] == []
    with pytest.raises(neptune_client.exceptions.BulkLoadIdNotFoundException):
        neptune_client.list_loader_jobs()
    testbed.faults_neptune.inject("AccessDeniedException", operations=["ListLoaderJobs"])  # IAM: sent though undeclared
