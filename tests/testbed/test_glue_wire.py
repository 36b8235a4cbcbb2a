"""Glue through the test bed's moto server as Glue answers: every task-run start works, errors
carry ``__type`` and ``Message`` with Glue's content type, and faults use declared codes."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from jobjanitor_testbed.pytest_plugin import make_client
from jobjanitor_testbed.scenario import create_transform
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign


def raw_glue(bed: TestBed, operation: str, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """One json-1.1 request as any SDK sends it, signed (the test bed verifies Glue's
    signatures): (status, Content-Type, parsed body)."""
    url = urlsplit(bed.aws_url)
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
    try:
        headers = {
            "X-Amz-Target": f"AWSGlue.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            **sign("POST", bed.aws_url + "/", data, service="glue"),
        }
        conn.request("POST", "/", data, headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", json.loads(resp.read())
    finally:
        conn.close()


STARTS = {
    "EVALUATION": ("start_ml_evaluation_task_run", {}, None),
    "LABELING_SET_GENERATION": (
        "start_ml_labeling_set_generation_task_run",
        {"OutputS3Path": "s3://labels/out/"},
        ("LabelingSetGenerationTaskRunProperties", {"OutputS3Path": "s3://labels/out/"}),
    ),
    "IMPORT_LABELS": (
        "start_import_labels_task_run",
        {"InputS3Path": "s3://labels/in/", "ReplaceAllLabels": True},
        ("ImportLabelsTaskRunProperties", {"InputS3Path": "s3://labels/in/", "Replace": True}),
    ),
    "EXPORT_LABELS": (
        "start_export_labels_task_run",
        {"OutputS3Path": "s3://labels/export/"},
        ("ExportLabelsTaskRunProperties", {"OutputS3Path": "s3://labels/export/"}),
    ),
}


@pytest.mark.parametrize("task_type", sorted(STARTS))
def test_every_task_run_start_runs_lists_and_cancels(testbed: TestBed, glue_client: Any, task_type: str) -> None:
    transform = create_transform(glue_client, "labels")
    method, args, properties = STARTS[task_type]
    run_id = getattr(glue_client, method)(TransformId=transform, **args)["TaskRunId"]
    listed = glue_client.get_ml_task_runs(TransformId=transform, Filter={"TaskRunType": task_type})["TaskRuns"]
    assert [r["TaskRunId"] for r in listed] == [run_id]
    run = glue_client.get_ml_task_run(TransformId=transform, TaskRunId=run_id)
    assert run["Properties"]["TaskType"] == task_type
    if properties is not None:
        assert run["Properties"][properties[0]] == properties[1]
    assert glue_client.cancel_ml_task_run(TransformId=transform, TaskRunId=run_id)["Status"] == "STOPPING"
    assert [e.status for e in testbed.aws_log.entries(operation=method_name(method))] == [200]


def method_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_")).replace("Ml", "ML")


@pytest.mark.parametrize("task_type", ["LABELING_SET_GENERATION", "IMPORT_LABELS", "EXPORT_LABELS"])
def test_task_run_starts_answer_json_another_sdk_can_parse(testbed: TestBed, glue_client: Any, task_type: str) -> None:
    transform = create_transform(glue_client, "raw")
    method, args, _ = STARTS[task_type]
    status, ctype, body = raw_glue(testbed, method_name(method), {"TransformId": transform, **args})
    assert (status, ctype) == (200, "application/x-amz-json-1.1")
    assert body["TaskRunId"].startswith("tsk-")
    status, ctype, body = raw_glue(testbed, method_name(method), {"TransformId": transform})  # no S3 path
    assert (status, ctype, body["__type"]) == (400, "application/x-amz-json-1.1", "InvalidInputException")
    assert set(body) == {"__type", "Message"}


def test_errors_carry_type_and_message(testbed: TestBed, glue_client: Any) -> None:
    status, ctype, body = raw_glue(testbed, "GetMLTaskRuns", {"TransformId": "tfm-missing"})
    assert (status, ctype) == (400, "application/x-amz-json-1.1")
    assert body["__type"] == "EntityNotFoundException"
    assert body["Message"]
    with pytest.raises(glue_client.exceptions.EntityNotFoundException) as info:
        glue_client.get_ml_task_runs(TransformId="tfm-missing")
    assert info.value.response["Error"]["Message"] == body["Message"]


def test_an_operation_moto_lacks_answers_json_not_html(testbed: TestBed) -> None:
    status, ctype, body = raw_glue(testbed, "StartMLTaskRunThatDoesNotExist", {})
    assert ctype == "application/x-amz-json-1.1"
    assert status >= 400
    assert set(body) == {"__type", "Message"}


def test_faults_use_declared_glue_errors(testbed: TestBed, glue_client: Any) -> None:
    transform = create_transform(glue_client, "faulty")
    with pytest.raises(ValueError, match="GetMLTaskRuns does not declare BulkLoadIdNotFoundException"):
        testbed.faults_aws.inject("BulkLoadIdNotFoundException", operations=["GetMLTaskRuns"])
    testbed.faults_aws.inject("InternalServiceException", status=500, operations=["GetMLTaskRuns"])
    status, ctype, body = raw_glue(testbed, "GetMLTaskRuns", {"TransformId": transform})
    assert (status, ctype, set(body)) == (500, "application/x-amz-json-1.1", {"__type", "Message"})
    client = make_client("glue", testbed.aws_url)
    testbed.faults_aws.inject("OperationTimeoutException", operations=["CancelMLTaskRun"])
    with pytest.raises(client.exceptions.OperationTimeoutException):
        client.cancel_ml_task_run(TransformId=transform, TaskRunId="tsk-x")
