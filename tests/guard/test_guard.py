"""The teardown guard, driven as CloudFormation (and EventBridge, for polling) would drive it.

Every test asserts the whole response contract, the final state of the jobs in the test bed,
and that no polling rule or Lambda permission is left behind.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any, NamedTuple

import boto3
import jobjanitor.guard.app as guard_app
import pytest
from jobjanitor import observability
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import LambdaContext, ResponseReceiver, contract_violations, custom_resource_event, stack_id
from jobjanitor_testbed.guard_driver import (
    FUNCTION,
    STACK_DELETING,
    deliver,
    invoke,
    lambda_permissions,
    polling_rules,
)
from jobjanitor_testbed.stacks import put_stack

PREFIX = "stack-a-"


def make_event(request_type: str, properties: dict[str, Any], receiver: ResponseReceiver, **kw: Any) -> dict[str, Any]:
    return custom_resource_event(request_type, properties, receiver=receiver, **kw)


def clients(testbed: Any) -> tuple[Any, Any]:
    neptune = boto3.client(
        "neptunedata",
        endpoint_url=testbed.neptune_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return neptune, boto3.client("glue")


def props(testbed: Any, scenario: sc.Scenario | None = None, **extra: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "NeptuneEndpoint": testbed.neptune_url,
        "JobIdPrefix": PREFIX,
        "Kinds": "all",
        "GlueTransformIds": [scenario.transform_id] if scenario else ["tfm-none"],
        "GlueRegion": "us-east-1",
        "MaxWaitSeconds": "120",
        "Clean": "true",
    }
    base.update(extra)
    return base


def assert_contract(delivery: Any) -> dict[str, Any]:
    assert delivery.response is not None, "CloudFormation got no response"
    assert len(delivery.all_responses) == 1, f"{len(delivery.all_responses)} responses to one delivery"
    assert contract_violations(delivery.response, delivery.event) == []
    assert polling_rules() == [], "a polling rule was left behind"
    assert lambda_permissions() == [], "a Lambda permission was left behind"
    return delivery.body


def create(testbed: Any, receiver: ResponseReceiver, properties: dict[str, Any], stack: str) -> dict[str, Any]:
    body = assert_contract(deliver(make_event("Create", properties, receiver, stack=stack), receiver))
    assert body["Status"] == "SUCCESS", body
    return body


class Guarded(NamedTuple):
    """A stack with jobs of every kind and a created guard over them."""

    neptune: Any
    glue: Any
    jobs: sc.Scenario
    stack: str
    properties: dict[str, Any]
    pid: str


def guarded(
    testbed: Any, receiver: ResponseReceiver, *, per_kind: int = 1, out_of_scope_per_kind: int = 0, **extra: str
) -> Guarded:
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, per_kind=per_kind, out_of_scope_per_kind=out_of_scope_per_kind)
    stack = stack_id()
    properties = props(testbed, jobs, **extra)
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    return Guarded(neptune, glue, jobs, stack, properties, pid)


def test_delete_stops_every_in_scope_job_and_leaves_the_rest(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, testbed=testbed)
    stack = stack_id()
    properties = props(testbed, jobs)
    created = create(testbed, receiver, properties, stack)
    pid = created["PhysicalResourceId"]
    assert pid.startswith("jobjanitor-guard-")
    # Create is read-only: nothing was cancelled.
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []

    delete = deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver)
    body = assert_contract(delete)
    assert body["Status"] == "SUCCESS", body
    assert body["PhysicalResourceId"] == pid
    found = sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id)
    assert sc.in_states(found, sc.STOPPED) == []
    untouched = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []
    assert (
        sc.in_states(
            sc.statuses(neptune, glue, jobs.finished, jobs.transform_id),
            {
                "neptune-ml-dataprocessing": {"Completed"},
                "neptune-ml-training": {"Completed"},
                "neptune-ml-transform": {"Completed"},
                "neptune-loader": {"LOAD_COMPLETED"},
                "glue-ml-task-run": {"SUCCEEDED"},
            },
        )
        == []
    )
    # Clean=true reached every ML cancel.
    for kind, api_kind in sc.ML_KINDS.items():
        for job_id in jobs.in_scope[kind]:
            assert testbed.neptune.job(api_kind, job_id).clean is True
    assert int(body["Data"]["Cancelled"]) == jobs.count("in_scope")


def test_create_with_bad_properties_fails_naming_the_field_and_its_delete_touches_nothing(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, per_kind=1, out_of_scope_per_kind=0)
    stack = stack_id()
    for bad, field in [
        ({"MaxWaitSeconds": "soon"}, "MaxWaitSeconds"),
        ({"Clean": "perhaps"}, "Clean"),
        ({"NeptuneEndpoint": "ftp://cluster"}, "NeptuneEndpoint"),
        ({"Kinds": "neptune-loader,spark"}, "Kinds"),
        ({"Colour": "blue"}, "Colour"),
    ]:
        properties = {**props(testbed, jobs), **bad}
        event = make_event("Create", properties, receiver, stack=stack)
        body = assert_contract(deliver(event, receiver))
        assert body["Status"] == "FAILED"
        assert body["Reason"].startswith(f"{field}:"), body["Reason"]
        # CloudFormation follows a failed Create with a Delete of the id it reported.
        testbed.neptune_log.clear()
        delete = make_event("Delete", properties, receiver, stack=stack, physical_id=body["PhysicalResourceId"])
        deleted = assert_contract(deliver(delete, receiver))
        assert deleted["Status"] == "SUCCESS"
        assert deleted["PhysicalResourceId"] == body["PhysicalResourceId"]
        assert testbed.neptune_log.entries() == [], "a Delete after a failed Create touched Neptune"
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []


def test_delete_of_a_foreign_physical_id_is_a_no_op(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, per_kind=1, out_of_scope_per_kind=0)
    event = make_event("Delete", props(testbed, jobs), receiver, physical_id="consumer_JobJanitorGuard_ABCD1234")
    body = assert_contract(deliver(event, receiver))
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "consumer_JobJanitorGuard_ABCD1234"
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []


def test_update_keeps_the_id_whatever_changes(guard_env: Any, receiver: ResponseReceiver) -> None:
    """A new id on Update is a replacement, followed by a Delete of the old id while the stack
    lives on: the guard's id depends on its stack and logical id only."""
    testbed = guard_env
    stack = stack_id()
    properties = props(testbed)
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    same = {**properties, "JobIdPrefix": "stack-z-", "MaxWaitSeconds": "300"}
    body = assert_contract(
        deliver(make_event("Update", same, receiver, stack=stack, physical_id=pid, old_properties=properties), receiver)
    )
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", pid)
    moved = {**properties, "GlueTransformIds": ["tfm-other"], "GlueRegion": "us-west-2"}
    body = assert_contract(
        deliver(
            make_event("Update", moved, receiver, stack=stack, physical_id=pid, old_properties=properties), receiver
        )
    )
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", pid)


def test_preflight_fails_create_when_neptune_does_not_answer(
    guard_env: Any, receiver: ResponseReceiver, dead_neptune: str
) -> None:
    testbed = guard_env
    dead = dead_neptune  # a configured cluster whose endpoint does not answer
    body = assert_contract(deliver(make_event("Create", props(testbed, NeptuneEndpoint=dead), receiver), receiver))
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("Preflight failed"), body["Reason"]
    skipped = assert_contract(
        deliver(make_event("Create", props(testbed, NeptuneEndpoint=dead, Preflight="false"), receiver), receiver)
    )
    assert skipped["Status"] == "SUCCESS"


@pytest.mark.usefixtures("deadlines_on_testbed_clock")  # the guard waits on the test bed's time
def test_long_wait_hands_over_to_polling_and_cleans_up(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    testbed.lifecycle.stop_delay = 4.0
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    # A 14 s Lambda leaves ~2 s of work per invocation: the wait must continue in ticks.
    delete = deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver, timeout=14)
    body = assert_contract(delete)
    assert delete.ticks >= 1, "the wait should have continued through polling"
    # Named so the template can scope events:* to rule/jobjanitor-poll-*.
    assert delete.rules_seen
    assert all(name.startswith("jobjanitor-poll-") for name in delete.rules_seen)
    assert body["Status"] == "SUCCESS", body
    assert "DeadlineEpoch" not in body["Data"]
    assert not any(k.startswith("CrHelper") for k in body["Data"])
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []


@pytest.mark.parametrize("fail_on_error", ["false", "true"])
def test_deadline_with_jobs_still_stopping(guard_env: Any, receiver: ResponseReceiver, fail_on_error: str) -> None:
    testbed = guard_env
    testbed.lifecycle.stop_delay = 600.0
    neptune, glue, jobs, stack, properties, pid = guarded(
        testbed, receiver, per_kind=1, out_of_scope_per_kind=0, MaxWaitSeconds="2", FailOnError=fail_on_error
    )
    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    assert "still running" in body["Reason"], body["Reason"]
    # Everything was cancelled even though not everything stopped in time.
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPING_OR_STOPPED) == []


def test_delete_under_a_throttling_storm_still_stops_everything(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver, per_kind=2, out_of_scope_per_kind=1)
    testbed.faults_neptune.set(throttle_rate=0.4, error_rate=0.1, seed=7)
    testbed.faults_aws.set(throttle_rate=0.3, seed=8)
    delivery = deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver)
    testbed.faults_neptune.clear()
    testbed.faults_aws.clear()
    body = assert_contract(delivery)
    assert body["Status"] == "SUCCESS", body
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
    untouched = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []
    assert any(e.status == 429 for e in testbed.neptune_log.entries()), "the storm never reached the guard"


@pytest.mark.parametrize("fail_on_error", ["false", "true"])
def test_delete_with_neptune_down(
    guard_env: Any, receiver: ResponseReceiver, dead_neptune: str, fail_on_error: str
) -> None:
    testbed = guard_env
    stack = stack_id()
    properties = props(
        testbed,
        Preflight="false",
        FailOnError=fail_on_error,
        Kinds="neptune-loader",
        NeptuneEndpoint=dead_neptune,
    )
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    assert body["Reason"], "the failure must be reported in Reason"


def test_duplicate_delivery_does_not_sweep_twice_and_is_answered(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    _neptune, _glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    first = assert_contract(deliver(event, receiver))
    cancels = [e for e in testbed.neptune_log.entries() if e.method == "DELETE"]
    assert cancels, "the first delivery cancelled nothing"
    testbed.neptune_log.clear()
    # Lambda delivers the same event again (same StackId + RequestId).
    invoke(json.loads(json.dumps(event)))
    responses = receiver.responses(event["RequestId"])
    assert len(responses) == 2, "the duplicate delivery was not answered"
    second = responses[1].body
    assert contract_violations(responses[1], event) == []
    assert (second["Status"], second["PhysicalResourceId"]) == (first["Status"], first["PhysicalResourceId"])
    assert [e for e in testbed.neptune_log.entries() if e.method == "DELETE"] == [], "the duplicate cancelled again"
    for kind, api_kind in sc.ML_KINDS.items():
        assert testbed.neptune.job(api_kind, jobs.in_scope[kind][0]).cancel_count == 1


def test_response_put_is_retried_and_the_url_never_logged(
    guard_env: Any, receiver: ResponseReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    testbed = guard_env
    receiver.fail_next(500, 503)
    body = assert_contract(deliver(make_event("Create", props(testbed), receiver), receiver))
    assert body["Status"] == "SUCCESS"
    assert len(receiver.rejected) == 2
    out = capsys.readouterr()
    assert "X-Amz-Signature" not in out.out + out.err
    assert "cloudformation-custom-resource-response" not in out.out + out.err


def test_malformed_requests_get_one_failed_answer(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    event = make_event("Create", props(testbed), receiver)
    event["RequestType"] = "Destroy"
    body = assert_contract(deliver(event, receiver))
    assert body["Status"] == "FAILED"
    assert "RequestType" in body["Reason"]
    event = make_event("Create", props(testbed), receiver)
    event["ResourceProperties"] = "not-a-map"
    body = assert_contract(deliver(event, receiver))
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("ResourceProperties")


def test_delete_reports_in_metrics_and_logs(
    guard_env: Any, receiver: ResponseReceiver, capfd: pytest.CaptureFixture[str]
) -> None:
    testbed = guard_env
    _neptune, _glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    capfd.readouterr()
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    # Powertools' handler holds the stdout of import time; read what it writes now.
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    try:
        assert_contract(deliver(event, receiver))
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    cancelled = {line["kind"]: line["JobsCancelled"] for line in emf if "JobsCancelled" in line}
    assert cancelled == {kind: [1.0] for kind in jobs.in_scope}
    assert any(line.get("GuardDeleteRequests") == [1.0] for line in emf)
    actions = [line for line in lines if line.get("action") == "cancel"]
    assert len(actions) == jobs.count("in_scope")
    assert {line["correlation_id"] for line in actions} == {event["RequestId"]}
    assert all(line["outcome"] == "cancelled" for line in actions)


@pytest.mark.usefixtures("deadlines_on_testbed_clock")  # the guard waits on the test bed's time
def test_polling_setup_failing_half_way_leaves_nothing_behind(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    testbed = guard_env
    testbed.lifecycle.stop_delay = 600.0
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    # The polling rule is created (Events works), then AddPermission fails (Lambda unreachable).
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    monkeypatch.setattr(guard_app, "_app", None)
    delivery = deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver, timeout=14)
    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA")
    body = assert_contract(delivery)
    assert delivery.ticks == 0
    assert body["Status"] == "SUCCESS"
    assert "polling unavailable" in body["Reason"], body["Reason"]
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPING_OR_STOPPED) == []


def test_concurrent_duplicate_neither_cancels_twice_nor_goes_unanswered(
    guard_env: Any, receiver: ResponseReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    put_stack(stack, STACK_DELETING)  # the stack is being deleted (the guard reads its status)
    testbed.faults_neptune.set(latency=0.3)  # the first delivery is still cancelling when the second arrives
    # Two execution environments, as Lambda would run two deliveries at once.
    first, second = guard_app.GuardApp(), guard_app.GuardApp()
    threads = [
        threading.Thread(target=app.handle, args=(json.loads(json.dumps(event)), LambdaContext(function_name=FUNCTION)))
        for app in (first, second)
    ]
    threads[0].start()
    time.sleep(0.5)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=120)
    testbed.faults_neptune.clear()
    assert any("waiting without cancelling" in r.getMessage() for r in caplog.records), "no in-progress duplicate"
    responses = receiver.responses(event["RequestId"])
    assert len(responses) == 2
    for response in responses:
        assert contract_violations(response, event) == []
        assert response.body["Status"] == "SUCCESS"
    for kind, api_kind in sc.ML_KINDS.items():
        assert testbed.neptune.job(api_kind, jobs.in_scope[kind][0]).cancel_count == 1
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
