"""The test bed verifies every Glue request's SigV4 signature as Glue does
(jobjanitor_testbed.sigv4 behind jobjanitor_testbed.aws): what botocore signs with the test bed's
credentials (or credentials a test admits) is served; a request signed wrongly in any part, or
not at all, is answered as a json-1.1 service answers it, logged, and never reaches moto. Other
services on moto are not verified."""

from __future__ import annotations

import hashlib
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from jobjanitor.clients import build_clients
from jobjanitor.policy import Policy
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.scenario import create_transform
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import INVALID_TOKEN, MISMATCH, sign

GOOD = Credentials("testing", "testing")
JSON = "application/x-amz-json-1.1"


def glue(bed: TestBed, **settings: str) -> Any:
    """A Glue client of the test bed, with the test bed's credentials and region unless told."""
    kwargs = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("glue", endpoint_url=bed.aws_url, **{**kwargs, **settings})


def signed(
    bed: TestBed,
    operation: str,
    body: dict[str, Any],
    *,
    credentials: Credentials = GOOD,
    service: str = "glue",
    region: str = "us-east-1",
) -> AWSRequest:
    """A Glue request signed by botocore's own signer, as a Glue client (or the janitor's lean
    path: SigV4Auth, POST / with a JSON body) signs it."""
    headers = {"X-Amz-Target": f"AWSGlue.{operation}", "Content-Type": JSON}
    request = AWSRequest(method="POST", url=bed.aws_url + "/", data=json.dumps(body).encode(), headers=headers)
    SigV4Auth(credentials, service, region).add_auth(request)
    return request


def send(bed: TestBed, request: AWSRequest, *, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """Send ``request`` to the test bed's moto server as signed, or with another ``body``."""
    where = urlsplit(bed.aws_url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    try:
        headers = dict(request.headers.items())
        headers.setdefault("Host", where.netloc)
        conn.request("POST", "/", body=request.body if body is None else body, headers=headers)
        response = conn.getresponse()
        assert response.getheader("Content-Type") == JSON
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def refused(bed: TestBed, answer: tuple[int, dict[str, Any]], operation: str, status: int, code: str) -> str:
    """The refusal is Glue's (status, ``__type``, ``Message``), logged with its code; nothing
    was verified. Returns the message."""
    assert answer[0] == status, answer
    assert set(answer[1]) == {"__type", "Message"}, answer
    assert answer[1]["__type"] == code
    entries = bed.aws_log.entries(operation=operation)
    assert [(e.status, e.error_code, e.fault) for e in entries] == [(status, code, None)]  # moto never logged it
    assert bed.aws.sigv4.verified == 0
    return str(answer[1]["Message"])


@pytest.fixture
def run(testbed: TestBed, glue_client: Any) -> tuple[str, str]:
    """(transform id, id of a run pinned RUNNING until cancelled); the log and counter cleared."""
    transform = create_transform(glue_client, "dedupe")
    run_id = moto_glue.seed_task_run(transform, status="RUNNING")
    testbed.aws_log.clear()
    testbed.aws.sigv4.verified = 0
    return transform, run_id


def status_of(glue_client: Any, run: tuple[str, str]) -> str:
    return str(glue_client.get_ml_task_run(TransformId=run[0], TaskRunId=run[1])["Status"])


def test_a_glue_client_botocore_signs_is_served_and_verified(
    testbed: TestBed, glue_client: Any, run: tuple[str, str]
) -> None:
    transform, run_id = run
    listed = glue_client.get_ml_task_runs(TransformId=transform)["TaskRuns"]
    assert [r["TaskRunId"] for r in listed] == [run_id]
    assert status_of(glue_client, run) == "RUNNING"
    assert glue_client.cancel_ml_task_run(TransformId=transform, TaskRunId=run_id)["Status"] == "STOPPING"
    assert testbed.aws.sigv4.verified == 3  # each of the three checked, and signed right
    # The janitor's lean path: botocore's SigV4Auth on POST / with a JSON body, sent raw.
    answer = send(testbed, signed(testbed, "GetMLTaskRun", {"TransformId": transform, "TaskRunId": run_id}))
    assert (answer[0], answer[1]["Status"]) == (200, "STOPPING")
    assert testbed.aws.sigv4.verified == 4


def test_a_cancel_signed_with_a_wrong_secret_is_refused_and_the_run_keeps_running(
    testbed: TestBed, glue_client: Any, run: tuple[str, str]
) -> None:
    wrong = glue(testbed, aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as caught:
        wrong.cancel_ml_task_run(TransformId=run[0], TaskRunId=run[1])
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, "InvalidSignatureException")
    assert error["Error"]["Message"] == MISMATCH
    entries = testbed.aws_log.entries(operation="CancelMLTaskRun")
    assert [(e.status, e.error_code) for e in entries] == [(403, "InvalidSignatureException")]  # not retried, logged
    assert testbed.aws.sigv4.verified == 0
    assert status_of(glue_client, run) == "RUNNING"  # moto never saw the cancel


WRONGLY = {
    "wrong secret": ({"credentials": Credentials("testing", "wrong")}, 403, "InvalidSignatureException", MISMATCH),
    "unknown key": ({"credentials": Credentials("AKIDSOMEONE", "testing")}, 400, "UnrecognizedClientException",
                    INVALID_TOKEN),
    "Neptune's service": ({"service": "neptune-db"}, 403, "InvalidSignatureException", "'glue', not 'neptune-db'"),
    "SageMaker's service": ({"service": "sagemaker"}, 403, "InvalidSignatureException", "'glue', not 'sagemaker'"),
    "no such region": ({"region": "xx-nowhere-1"}, 403, "InvalidSignatureException", "'xx-nowhere-1'"),
}  # fmt: skip


@pytest.mark.parametrize("label", sorted(WRONGLY))
def test_a_request_signed_wrongly_is_refused_as_glue_refuses_it(
    testbed: TestBed, glue_client: Any, run: tuple[str, str], label: str
) -> None:
    how, status, code, message = WRONGLY[label]
    request = signed(testbed, "CancelMLTaskRun", {"TransformId": run[0], "TaskRunId": run[1]}, **how)
    assert message in refused(testbed, send(testbed, request), "CancelMLTaskRun", status, code), label
    assert status_of(glue_client, run) == "RUNNING"


def test_a_body_other_than_the_one_signed_is_refused(testbed: TestBed, glue_client: Any, run: tuple[str, str]) -> None:
    """A valid signature of one body (the test bed's own signer, sigv4.sign) sent with another:
    the body received is what is hashed, and an x-amz-content-sha256 naming the signed body's
    hash is not taken in its place."""
    transform, run_id = run
    other = moto_glue.seed_task_run(transform, status="RUNNING")
    testbed.aws_log.clear()
    harmless = json.dumps({"TransformId": transform, "TaskRunId": run_id}).encode()
    target = json.dumps({"TransformId": transform, "TaskRunId": other}).encode()
    headers = {
        "X-Amz-Target": "AWSGlue.CancelMLTaskRun",
        "Content-Type": JSON,
        **sign("POST", testbed.aws_url + "/", harmless, service="glue"),
    }
    request = AWSRequest(method="POST", url=testbed.aws_url + "/", data=harmless, headers=headers)
    assert send(testbed, request, body=target)[0] == 403
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(harmless).hexdigest()
    assert send(testbed, request, body=target)[0] == 403
    entries = testbed.aws_log.entries(operation="CancelMLTaskRun")
    assert [(e.status, e.error_code) for e in entries] == [(403, "InvalidSignatureException")] * 2
    assert {status_of(glue_client, (transform, r)) for r in (run_id, other)} == {"RUNNING"}
    assert send(testbed, request)[0] == 200  # the body signed, as signed: served
    assert status_of(glue_client, run) == "STOPPING"


def test_an_unsigned_or_malformed_request_is_refused(testbed: TestBed, run: tuple[str, str]) -> None:
    body = {"TransformId": run[0]}
    unsigned = AWSRequest(
        method="POST",
        url=testbed.aws_url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": "AWSGlue.GetMLTaskRuns", "Content-Type": JSON},
    )
    answer = send(testbed, unsigned)
    assert refused(testbed, answer, "GetMLTaskRuns", 403, "MissingAuthenticationTokenException")
    testbed.aws_log.clear()
    request = signed(testbed, "GetMLTaskRuns", body)
    request.headers.replace_header(
        "Authorization", request.headers["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    )
    assert refused(testbed, send(testbed, request), "GetMLTaskRuns", 403, "IncompleteSignatureException")


def test_credentials_a_test_admits_are_accepted_with_their_session_token(
    testbed: TestBed, run: tuple[str, str]
) -> None:
    """One place to register: the Neptune verifier's allow admits the key for Glue too."""
    testbed.neptune.sigv4.allow("ASIATEMPORARY", "temporary-secret", "the-session-token")
    right = glue(
        testbed,
        aws_access_key_id="ASIATEMPORARY",
        aws_secret_access_key="temporary-secret",
        aws_session_token="the-session-token",
    )
    assert [r["TaskRunId"] for r in right.get_ml_task_runs(TransformId=run[0])["TaskRuns"]] == [run[1]]
    assert testbed.aws.sigv4.verified == 1
    testbed.aws.sigv4.verified = 0
    testbed.aws_log.clear()
    stale = Credentials("ASIATEMPORARY", "temporary-secret", "another-token")
    answer = send(testbed, signed(testbed, "GetMLTaskRuns", {"TransformId": run[0]}, credentials=stale))
    assert refused(testbed, answer, "GetMLTaskRuns", 400, "UnrecognizedClientException") == INVALID_TOKEN


def test_glue_in_another_region_moto_serves_is_served(testbed: TestBed) -> None:
    """A janitor's GlueRegion: moto serves Glue there, the signature names it."""
    west = glue(testbed, region_name="us-west-2")
    assert west.get_ml_transforms()["Transforms"] == []
    assert testbed.aws.sigv4.verified == 1


def test_other_services_on_moto_are_not_verified(testbed: TestBed) -> None:
    """moto checks no signature, and the test bed verifies only Glue's."""
    wrong = {"aws_access_key_id": "AKIDSOMEONE", "aws_secret_access_key": "wrong", "region_name": "us-east-1"}
    sts = boto3.client("sts", endpoint_url=testbed.aws_url, **wrong)
    assert sts.get_caller_identity()["Account"]
    sagemaker = boto3.client("sagemaker", endpoint_url=testbed.aws_url, **wrong)
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
    assert [e.status for e in testbed.aws_log.entries()] == [200, 200]
    assert testbed.aws.sigv4.verified == 0


def test_the_switch_off_serves_a_badly_signed_request_and_a_reset_turns_it_back_on(
    testbed: TestBed, run: tuple[str, str]
) -> None:
    bad = signed(testbed, "GetMLTaskRuns", {"TransformId": run[0]}, credentials=Credentials("testing", "wrong"))
    assert send(testbed, bad)[0] == 403
    testbed.aws.iam = False
    status, body = send(testbed, bad)
    assert (status, [r["TaskRunId"] for r in body["TaskRuns"]]) == (200, [run[1]])
    testbed.reset()
    assert testbed.aws.iam
    assert send(testbed, bad)[0] == 403


def test_no_iam_turns_off_both_checks() -> None:
    """``TestBed(iam=False)`` (the CLI's ``--no-iam``): neither Neptune nor Glue verifies."""
    bed = TestBed(iam=False)
    assert (bed.neptune.iam, bed.aws.iam) == (False, False)
    assert bed.aws.sigv4.keyring is bed.neptune.sigv4.keyring  # one place to register credentials


def test_a_request_signed_for_glue_under_another_target_is_verified_too(
    testbed: TestBed, glue_client: Any, run: tuple[str, str]
) -> None:
    """moto routes a request to its Glue backend by the scope's service, whatever the target."""
    wrong = Credentials("testing", "wrong")
    request = signed(testbed, "CancelMLTaskRun", {"TransformId": run[0], "TaskRunId": run[1]}, credentials=wrong)
    request.headers.replace_header("X-Amz-Target", "Elsewhere.CancelMLTaskRun")
    status, body = send(testbed, request)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert status_of(glue_client, run) == "RUNNING"
    testbed.aws.iam = False  # unverified, moto's Glue would have cancelled it
    assert send(testbed, request)[0] == 200
    assert status_of(glue_client, run) == "STOPPING"


@pytest.mark.parametrize("signing_name", ["neptune-db", "sagemaker"])
def test_the_janitors_lean_glue_path_is_verified_and_a_wrong_signing_name_refused(
    aws_env: TestBed, monkeypatch: pytest.MonkeyPatch, run: tuple[str, str], signing_name: str
) -> None:
    """jobjanitor.lean_http signs Glue's task-run calls with botocore's SigV4Auth: each is
    verified here, and one signed for another service is refused in one request and raised as
    botocore raises it, cancelling nothing."""
    lean = build_clients(Policy.build(glue_transform_ids=run[0])).glue
    assert [r["TaskRunId"] for r in lean.get_ml_task_runs(TransformId=run[0])["TaskRuns"]] == [run[1]]
    assert (lean.lean_calls, aws_env.aws.sigv4.verified) == (1, 1)
    monkeypatch.setattr(lean, "_signing_name", signing_name)
    with pytest.raises(ClientError) as caught:
        lean.cancel_ml_task_run(TransformId=run[0], TaskRunId=run[1])
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, "InvalidSignatureException")
    assert [e.status for e in aws_env.aws_log.entries(operation="CancelMLTaskRun")] == [403]
    monkeypatch.undo()
    assert lean.get_ml_task_run(TransformId=run[0], TaskRunId=run[1])["Status"] == "RUNNING"
