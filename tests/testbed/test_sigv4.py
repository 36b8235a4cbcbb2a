"""The Neptune emulator verifies every request's SigV4 signature as a cluster with IAM DB
authentication does (jobjanitor_testbed.sigv4): requests botocore signs with the test bed's
credentials are served; one signed wrongly in any part, or not at all, is refused 403
AccessDeniedException and does nothing."""

from __future__ import annotations

import datetime
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import MISMATCH

GOOD = Credentials("testing", "testing")
CLUSTER_HOST = "db.cluster-abc123.us-east-1.neptune.amazonaws.com:8182"


def signed(
    bed: TestBed,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    credentials: Credentials = GOOD,
    service: str = "neptune-db",
    region: str = "us-east-1",
    host: str | None = None,
) -> AWSRequest:
    """``target`` signed by botocore's own signer, as a botocore client signs it (for ``host``
    when given: a client reaching the cluster through a tunnel)."""
    base = f"http://{host}" if host else bed.neptune_url
    request = AWSRequest(method=method, url=base + target, data=body)
    SigV4Auth(credentials, service, region).add_auth(request)
    return request


def send(bed: TestBed, request: AWSRequest, *, target: str | None = None, body: bytes | None = None) -> tuple[int, Any]:
    """Send ``request`` to the emulator as signed, or with another ``target`` or ``body``."""
    url = urlsplit(request.url)
    where = urlsplit(bed.neptune_url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    try:
        headers = dict(request.headers.items())
        headers.setdefault("Host", url.netloc)  # as botocore's signer took it from the URL
        data = request.body if body is None else body
        path = target or (url.path + (f"?{url.query}" if url.query else ""))
        conn.request(request.method, path, body=data or None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def refused(bed: TestBed, answer: tuple[int, Any], operation: str) -> str:
    status, body = answer
    assert status == 403, body
    assert set(body) == {"code", "requestId", "detailedMessage", "message"}
    assert body["code"] == "AccessDeniedException"
    entry = bed.neptune_log.entries(operation=operation)[-1]
    assert (entry.status, entry.error_code) == (403, "AccessDeniedException")
    assert bed.neptune.sigv4.verified == 0
    return str(body["detailedMessage"])


def test_a_request_botocore_signs_with_the_test_beds_credentials_is_served(testbed: TestBed) -> None:
    assert send(testbed, signed(testbed, "GET", "/loader?limit=5&includeQueuedLoads=true"))[0] == 200
    body = json.dumps({"id": "j-1", "dataProcessingJobId": "d", "trainModelS3Location": "s3://b/t"}).encode()
    testbed.neptune.seed_ml_job("dataprocessing", "d", status="Completed")
    assert send(testbed, signed(testbed, "POST", "/ml/modeltraining", body=body))[0] == 200
    assert send(testbed, signed(testbed, "DELETE", "/ml/modeltraining/j-1?clean=true"))[0] == 200
    assert testbed.neptune.sigv4.verified == 3


@pytest.mark.parametrize(
    ("label", "how", "message"),
    [
        ("wrong secret", {"credentials": Credentials("testing", "not-the-secret")}, MISMATCH),
        ("unknown access key", {"credentials": Credentials("AKIDSOMEONEELSE", "testing")}, "security token"),
        ("wrong service", {"service": "neptune"}, "'neptune-db', not 'neptune'"),
        ("wrong region", {"region": "us-west-2"}, "'us-west-2'"),
        ("another host", {"host": CLUSTER_HOST}, MISMATCH),  # sent with the emulator's own Host
    ],
)
def test_a_request_signed_wrongly_is_refused_and_does_nothing(
    testbed: TestBed, label: str, how: dict[str, Any], message: str
) -> None:
    testbed.neptune.seed_ml_job("modeltraining", "j-1", status="InProgress")
    request = signed(testbed, "DELETE", "/ml/modeltraining/j-1", **how)
    target = "/ml/modeltraining/j-1"
    if "host" in how:
        request.headers["Host"] = urlsplit(testbed.neptune_url).netloc
    assert message in refused(testbed, send(testbed, request, target=target), "CancelMLModelTrainingJob"), label
    assert testbed.neptune.job("modeltraining", "j-1").status == "InProgress"


def test_a_request_signed_for_the_cluster_host_is_served_through_a_tunnel(testbed: TestBed) -> None:
    """A client reaching the cluster through a tunnel signs for the cluster's name and sends it
    as Host: the emulator verifies the Host received, not its own address."""
    assert send(testbed, signed(testbed, "GET", "/loader", host=CLUSTER_HOST))[0] == 200


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_signature_dated_more_than_five_minutes_off_is_refused(
    testbed: TestBed, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    then = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then)
    message = refused(testbed, send(testbed, signed(testbed, "GET", "/loader")), "ListLoaderJobs")
    assert "Signature expired" in message
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: then - datetime.timedelta(minutes=minutes - 4))
    assert send(testbed, signed(testbed, "GET", "/loader"))[0] == 200  # four minutes off: accepted


def test_the_skew_is_measured_on_the_wall_clock_not_the_test_beds(testbed: TestBed, testbed_clock: Any) -> None:
    testbed_clock.advance(86400)  # jobs age a day; signers still sign with the wall clock
    assert send(testbed, signed(testbed, "GET", "/loader"))[0] == 200


def test_a_tampered_query_path_or_body_is_refused(testbed: TestBed) -> None:
    testbed.neptune.seed_ml_job("modeltraining", "a", status="InProgress")
    testbed.neptune.seed_ml_job("modeltraining", "b", status="InProgress")
    request = signed(testbed, "GET", "/loader?limit=5")
    assert refused(testbed, send(testbed, request, target="/loader?limit=6"), "ListLoaderJobs") == MISMATCH
    request = signed(testbed, "DELETE", "/ml/modeltraining/a?clean=false")
    answer = send(testbed, request, target="/ml/modeltraining/a?clean=true")
    assert refused(testbed, answer, "CancelMLModelTrainingJob") == MISMATCH
    answer = send(testbed, signed(testbed, "DELETE", "/ml/modeltraining/a"), target="/ml/modeltraining/b")
    assert refused(testbed, answer, "CancelMLModelTrainingJob") == MISMATCH
    assert {testbed.neptune.job("modeltraining", j).status for j in "ab"} == {"InProgress"}
    load = json.dumps({"source": "s3://b/x", "format": "csv", "region": "us-east-1", "iamRoleArn": "r"}).encode()
    answer = send(testbed, signed(testbed, "POST", "/loader", body=load), body=load.replace(b"csv", b"ntriples"))
    assert refused(testbed, answer, "StartLoaderJob") == MISMATCH
    assert testbed.neptune.jobs("loader") == []


def test_an_unsigned_or_malformed_request_is_refused(testbed: TestBed) -> None:
    request = AWSRequest(method="GET", url=testbed.neptune_url + "/loader")
    assert refused(testbed, send(testbed, request), "ListLoaderJobs") == "Missing Authentication Token"
    good = signed(testbed, "GET", "/loader")
    authorization = good.headers["Authorization"]
    for broken in (
        authorization.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        authorization.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date"),
        authorization.replace("/aws4_request", "/aws3_request"),
        authorization.split(", Signature=")[0],
    ):
        good.headers.replace_header("Authorization", broken)
        assert refused(testbed, send(testbed, good), "ListLoaderJobs")
    good = signed(testbed, "GET", "/loader")
    del good.headers["X-Amz-Date"]
    assert "X-Amz-Date" in refused(testbed, send(testbed, good), "ListLoaderJobs")


def test_temporary_credentials_need_their_session_token(testbed: TestBed) -> None:
    testbed.neptune.sigv4.allow("ASIATEMPORARY", "temporary-secret", "the-session-token")
    right = Credentials("ASIATEMPORARY", "temporary-secret", "the-session-token")
    assert send(testbed, signed(testbed, "GET", "/loader", credentials=right))[0] == 200
    testbed.neptune.sigv4.verified = 0
    for wrong in (Credentials("ASIATEMPORARY", "temporary-secret", "another-token"),
                  Credentials("ASIATEMPORARY", "temporary-secret")):  # fmt: skip
        answer = send(testbed, signed(testbed, "GET", "/loader", credentials=wrong))
        assert "security token" in refused(testbed, answer, "ListLoaderJobs")
    # Long-term credentials sent with a token: refused too.
    answer = send(testbed, signed(testbed, "GET", "/loader", credentials=Credentials("testing", "testing", "t")))
    assert "security token" in refused(testbed, answer, "ListLoaderJobs")
