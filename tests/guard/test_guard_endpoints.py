"""The guard and Neptune ML inference endpoints (kind neptune-ml-endpoint), driven as
CloudFormation drives it: a teardown deletes the stack's endpoints only when its Kinds name the
kind, only under its JobIdPrefix (or JobIds), and never without one of them."""

from __future__ import annotations

from typing import Any

from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import PREFIX, assert_contract, clients, create, make_event, props

ENDPOINTS = "neptune-ml-training,neptune-ml-endpoint"


def _endpoints(testbed: Any) -> tuple[str, str]:
    """One endpoint of this stack (under its prefix) and one of another stack, both InService."""
    mine = testbed.neptune.seed_ml_endpoint(f"{PREFIX}endpoint", status="InService")
    theirs = testbed.neptune.seed_ml_endpoint("stack-b-endpoint", status="InService")
    return mine, theirs


def _teardown(testbed: Any, receiver: ResponseReceiver, properties: dict[str, Any]) -> dict[str, Any]:
    stack = stack_id()
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    return assert_contract(deliver(event, receiver))


def test_a_teardown_deletes_the_stacks_endpoints_when_the_kind_is_chosen(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    neptune, _glue = clients(testbed)
    mine, theirs = _endpoints(testbed)
    training = testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}training", status="InProgress")
    body = _teardown(testbed, receiver, props(testbed, Kinds=ENDPOINTS))
    assert body["Status"] == "SUCCESS", body
    assert testbed.neptune.ml_endpoint(mine).status == "Deleted"  # waited for until gone
    assert testbed.neptune.ml_endpoint(mine).clean is True  # Clean reaches DeleteMLEndpoint too
    assert testbed.neptune.ml_endpoint(theirs).status == "InService"
    assert testbed.neptune.job("modeltraining", training).status == "Stopped"
    assert neptune.list_ml_endpoints()["ids"] == [theirs]
    assert int(body["Data"]["Cancelled"]) == 2
    assert testbed.neptune_log.count(operation="DeleteMLEndpoint") == 1


def test_explicit_job_ids_scope_endpoints(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    mine, theirs = _endpoints(testbed)
    properties = {**props(testbed, Kinds="neptune-ml-endpoint"), "JobIds": [theirs]}
    del properties["JobIdPrefix"]
    body = _teardown(testbed, receiver, properties)
    assert body["Status"] == "SUCCESS", body
    assert testbed.neptune.ml_endpoint(theirs).status == "Deleted"
    assert testbed.neptune.ml_endpoint(mine).status == "InService"


def test_an_endpoint_is_never_deleted_when_the_kind_was_not_chosen(guard_env: Any, receiver: ResponseReceiver) -> None:
    """Kinds "all" and an unset Kinds both mean the job kinds: a teardown under a prefix that
    matches the endpoint sends no DeleteMLEndpoint, and does not even list endpoints."""
    testbed = guard_env
    mine, theirs = _endpoints(testbed)
    for kinds in ("all", None):
        properties = props(testbed, Kinds=kinds) if kinds else {k: v for k, v in props(testbed).items() if k != "Kinds"}
        body = _teardown(testbed, receiver, properties)
        assert body["Status"] == "SUCCESS", body
    assert testbed.neptune.ml_endpoint(mine).status == "InService"
    assert testbed.neptune.ml_endpoint(theirs).status == "InService"
    assert testbed.neptune_log.count(operation="DeleteMLEndpoint") == 0
    assert testbed.neptune_log.count(operation="ListMLEndpoints") == 0


def test_the_kind_without_a_prefix_or_ids_fails_create_and_its_delete_touches_nothing(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    mine, theirs = _endpoints(testbed)
    properties = {k: v for k, v in props(testbed, Kinds=ENDPOINTS).items() if k != "JobIdPrefix"}
    stack = stack_id()
    body = assert_contract(deliver(make_event("Create", properties, receiver, stack=stack), receiver))
    assert body["Status"] == "FAILED", body
    assert body["Reason"].startswith("JobIdPrefix:"), body["Reason"]
    assert "deletes inference endpoints" in body["Reason"]
    delete = make_event("Delete", properties, receiver, stack=stack, physical_id=body["PhysicalResourceId"])
    assert assert_contract(deliver(delete, receiver))["Status"] == "SUCCESS"
    assert testbed.neptune_log.count(operation="DeleteMLEndpoint") == 0
    assert {testbed.neptune.ml_endpoint(i).status for i in (mine, theirs)} == {"InService"}


def test_every_endpoint_only_with_an_explicit_star(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    mine, theirs = _endpoints(testbed)
    body = _teardown(testbed, receiver, props(testbed, Kinds="neptune-ml-endpoint", JobIdPrefix="*"))
    assert body["Status"] == "SUCCESS", body
    assert {testbed.neptune.ml_endpoint(i).status for i in (mine, theirs)} == {"Deleted"}


def test_dry_run_names_the_endpoint_and_deletes_nothing(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    mine, _theirs = _endpoints(testbed)
    body = _teardown(testbed, receiver, props(testbed, Kinds="neptune-ml-endpoint", DryRun="true"))
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["WouldCancel"] == "1"
    assert mine in body["Reason"]
    assert testbed.neptune_log.count(operation="DeleteMLEndpoint") == 0
    assert testbed.neptune.ml_endpoint(mine).status == "InService"
