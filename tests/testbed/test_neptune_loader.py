"""Neptune bulk-loader operations of the emulator, through a real boto3 neptunedata client."""

from __future__ import annotations

from typing import Any

import pytest
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign

LOAD = {
    "source": "s3://bucket/graph/",
    "format": "csv",
    "s3BucketRegion": "us-east-1",
    "iamRoleArn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
}


def start(client: Any, **extra: Any) -> str:
    out = client.start_loader_job(**LOAD, **extra)
    assert out["status"] == "200 OK"
    return str(out["payload"]["loadId"])


def overall(client: Any, load_id: str) -> dict[str, Any]:
    return dict(client.get_loader_job_status(loadId=load_id)["payload"]["overallStatus"])


def test_start_get_list_cancel(testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock) -> None:
    load_id = start(neptune_client)
    assert neptune_client.list_loader_jobs()["payload"] == {"loadIds": [load_id]}

    testbed_clock.advance(42.7)
    payload = neptune_client.get_loader_job_status(loadId=load_id)["payload"]
    status = payload["overallStatus"]
    assert status["status"] == "LOAD_IN_PROGRESS"
    assert status["startTime"] == int(testbed_clock.now - 42.7)
    assert isinstance(status["startTime"], int)
    assert status["fullUri"] == LOAD["source"]
    assert status["totalTimeSpent"] == 42
    assert {"runNumber", "retryNumber", "totalRecords"} <= status.keys()
    assert "retryCount" not in status
    assert payload["feedCount"] == [{"LOAD_IN_PROGRESS": 1}]

    assert neptune_client.cancel_loader_job(loadId=load_id)["status"] == "200 OK"
    assert overall(neptune_client, load_id)["status"] == "LOAD_CANCELLED_BY_USER"
    view = testbed.neptune.job("loader", load_id)
    assert view.status == "LOAD_CANCELLED_BY_USER"
    assert view.cancelled_at == testbed_clock.now
    assert view.cancel_count == 1
    assert view.params["source"] == LOAD["source"]


def test_load_completes_after_job_duration(testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock) -> None:
    testbed.lifecycle.job_duration = 10
    load_id = start(neptune_client)
    testbed_clock.advance(9.9)
    assert overall(neptune_client, load_id)["status"] == "LOAD_IN_PROGRESS"
    testbed_clock.advance(0.1)
    assert overall(neptune_client, load_id)["status"] == "LOAD_COMPLETED"
    assert overall(neptune_client, load_id)["totalTimeSpent"] == 10


def test_details_and_errors_flags(neptune_client: Any) -> None:
    load_id = start(neptune_client)
    payload = neptune_client.get_loader_job_status(loadId=load_id, details=True, errors=True, page=2, errorsPerPage=5)[
        "payload"
    ]
    assert payload["failedFeeds"] == []
    assert payload["errors"]["loadId"] == load_id
    assert payload["errors"]["startIndex"] == 6
    assert payload["errors"]["errorLogs"] == []


def test_queue_request_queues_and_runs_in_order(
    testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock
) -> None:
    testbed.lifecycle.job_duration = 10
    first = start(neptune_client)
    second = start(neptune_client, queueRequest=True)
    third = start(neptune_client, queueRequest=True)
    assert overall(neptune_client, second)["status"] == "LOAD_IN_QUEUE"
    # queued loads first, then the others, each group most recent first
    assert neptune_client.list_loader_jobs()["payload"]["loadIds"] == [third, second, first]
    assert neptune_client.list_loader_jobs(includeQueuedLoads=False)["payload"]["loadIds"] == [first]
    assert neptune_client.list_loader_jobs(limit=1)["payload"]["loadIds"] == [third]

    neptune_client.cancel_loader_job(loadId=first)
    assert overall(neptune_client, second)["status"] == "LOAD_IN_PROGRESS"
    assert overall(neptune_client, second)["startTime"] == int(testbed_clock.now)
    assert overall(neptune_client, third)["status"] == "LOAD_IN_QUEUE"

    testbed_clock.advance(10)  # second completes, third starts right then
    assert overall(neptune_client, second)["status"] == "LOAD_COMPLETED"
    assert overall(neptune_client, third)["status"] == "LOAD_IN_PROGRESS"
    testbed_clock.advance(10)
    assert overall(neptune_client, third)["status"] == "LOAD_COMPLETED"


def test_cancel_queued_load(neptune_client: Any) -> None:
    start(neptune_client)
    queued = start(neptune_client, queueRequest=True)
    neptune_client.cancel_loader_job(loadId=queued)
    assert overall(neptune_client, queued)["status"] == "LOAD_CANCELLED_BY_USER"


def test_second_load_without_queue_request_is_rejected(neptune_client: Any) -> None:
    start(neptune_client)
    with pytest.raises(neptune_client.exceptions.BadRequestException, match="Max concurrent load limit"):
        start(neptune_client)


def test_only_the_last_1024_loads_are_kept(testbed: TestBed, neptune_client: Any) -> None:
    ids = [testbed.neptune.seed_load(f"load-{i:04d}", status="LOAD_COMPLETED") for i in range(1030)]
    listed = neptune_client.list_loader_jobs()["payload"]["loadIds"]
    assert listed == list(reversed(ids))[:100]
    assert len(testbed.neptune.jobs("loader")) == 1024
    with pytest.raises(neptune_client.exceptions.BulkLoadIdNotFoundException):
        neptune_client.get_loader_job_status(loadId="load-0005")
    assert overall(neptune_client, "load-0006")["status"] == "LOAD_COMPLETED"


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_out_of_range(neptune_client: Any, limit: int) -> None:
    if limit < 1:  # botocore checks the minimum itself
        from botocore.exceptions import ParamValidationError

        with pytest.raises(ParamValidationError):
            neptune_client.list_loader_jobs(limit=limit)
        return
    with pytest.raises(neptune_client.exceptions.InvalidParameterException, match="between 1 and 100") as exc:
        neptune_client.list_loader_jobs(limit=limit)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_seeded_old_load_stays_in_progress_until_cancelled(
    testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock
) -> None:
    old = testbed.neptune.seed_load("old", started_at=testbed_clock.now - 86_400, status="LOAD_IN_PROGRESS")
    status = overall(neptune_client, old)
    assert status["status"] == "LOAD_IN_PROGRESS"
    assert status["startTime"] == int(testbed_clock.now - 86_400)
    neptune_client.cancel_loader_job(loadId=old)
    assert overall(neptune_client, old)["status"] == "LOAD_CANCELLED_BY_USER"


def test_missing_required_body_member(testbed: TestBed) -> None:
    import json
    import urllib.error
    import urllib.request

    body = json.dumps({"source": "s3://x"}).encode()
    url = testbed.neptune_url + "/loader"
    req = urllib.request.Request(url, data=body, method="POST", headers=sign("POST", url, body))  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)  # noqa: S310 - loopback test server
    body = json.loads(exc.value.read())
    assert exc.value.code == 400
    assert body["code"] == "MissingParameterException"
    assert set(body) == {"code", "requestId", "detailedMessage", "message"}


def test_list_order_queued_first_each_group_most_recent_first(
    testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock
) -> None:
    old_done = testbed.neptune.seed_load("old-done", started_at=testbed_clock.now - 7200, status="LOAD_COMPLETED")
    testbed_clock.advance(1)
    done = testbed.neptune.seed_load("done", started_at=testbed_clock.now - 3600, status="LOAD_FAILED")
    testbed_clock.advance(1)
    running = start(neptune_client)
    queued = []
    for _ in range(3):
        testbed_clock.advance(1)
        queued.append(start(neptune_client, queueRequest=True))
    ids = neptune_client.list_loader_jobs()["payload"]["loadIds"]
    assert ids == [*reversed(queued), running, done, old_done]
    assert neptune_client.list_loader_jobs(includeQueuedLoads=False)["payload"]["loadIds"] == [running, done, old_done]
    assert neptune_client.list_loader_jobs(limit=2)["payload"]["loadIds"] == [queued[2], queued[1]]


def _raw(url: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method, headers=sign(method, url))  # noqa: S310 - loopback test server
    try:
        with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback test server
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_query_string_get_returns_that_load(testbed: TestBed, neptune_client: Any) -> None:
    """``GET /loader?loadId=ID`` (botocore cannot send it) is GetLoaderJobStatus, not the list."""
    first = start(neptune_client)
    second = start(neptune_client, queueRequest=True)
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId={second}")
    assert status == 200
    assert body["payload"]["overallStatus"]["status"] == "LOAD_IN_QUEUE"
    assert "loadIds" not in body["payload"]
    via_boto3 = neptune_client.get_loader_job_status(loadId=second)["payload"]
    assert body == {"status": "200 OK", "payload": via_boto3}
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId={first}&details=true&errors=TRUE&page=2&errorsPerPage=5")
    assert status == 200
    assert body["payload"]["failedFeeds"] == []
    assert body["payload"]["errors"]["startIndex"] == 6
    assert body["payload"]["errors"]["loadId"] == first
    assert testbed.neptune_log.count(operation="GetLoaderJobStatus") == 3
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId=no-such-load")
    assert (status, body["code"]) == (404, "BulkLoadIdNotFoundException")
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId=")
    assert (status, body["code"]) == (400, "MissingParameterException")


def test_query_string_delete_cancels_that_load(testbed: TestBed, neptune_client: Any) -> None:
    """``DELETE /loader?loadId=ID`` is CancelLoaderJob (it answered 405 and the load kept running)."""
    load_id = start(neptune_client)
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId={load_id}", method="DELETE")
    assert (status, body) == (200, {"status": "200 OK"})
    assert overall(neptune_client, load_id)["status"] == "LOAD_CANCELLED_BY_USER"
    assert testbed.neptune.job("loader", load_id).cancel_count == 1
    assert testbed.neptune_log.count(operation="CancelLoaderJob") == 1
    status, body = _raw(f"{testbed.neptune_url}/loader?loadId={load_id}", method="DELETE")
    assert (status, body["code"]) == (404, "BulkLoadIdNotFoundException")
    status, body = _raw(f"{testbed.neptune_url}/loader", method="DELETE")
    assert (status, body["code"]) == (405, "MethodNotAllowedException")


def test_status_payload_carries_retry_number(neptune_client: Any) -> None:
    status = overall(neptune_client, start(neptune_client))
    assert status["retryNumber"] == 0
    assert "retryCount" not in status
