"""Scope safety of the guard, driven as CloudFormation drives it: what it may never cancel.

Each test here failed on the code before the scope-safety work (issue 10): the guard then
cancelled jobs outside the scope its stack declared.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.clusters import STAND_IN, create_stand_in_cluster
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, clients, create, make_event, props


def _untouched(testbed: Any, neptune: Any, glue: Any, jobs: sc.Scenario) -> None:
    """Nothing was cancelled: every outstanding job still runs, no cancel reached a service."""
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.RUNNING) == []
    untouched = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0


# -- 2. blank never means "everything" ----------------------------------------------------
@pytest.mark.parametrize(
    ("blank", "field"),
    [
        ({"JobIdPrefix": ""}, "JobIdPrefix"),
        ({"JobIdPrefix": "   "}, "JobIdPrefix"),
        ({"JobIds": ""}, "JobIds"),
        ({"JobIds": ","}, "JobIds"),
        ({"JobIds": []}, "JobIds"),
        ({"Kinds": ","}, "Kinds"),
        ({"Kinds": ""}, "Kinds"),
        ({"GlueTransformIds": []}, "GlueTransformIds"),
        ({"NeptuneEndpoint": " "}, "NeptuneEndpoint"),
    ],
)
def test_a_blank_scope_property_fails_create_and_its_delete_cancels_nothing(
    guard_env: Any, receiver: ResponseReceiver, blank: dict[str, Any], field: str
) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=1)
    stack = stack_id()
    good = props(testbed, jobs)
    properties = {**good, **blank}
    body = assert_contract(deliver(make_event("Create", properties, receiver, stack=stack), receiver))
    assert body["Status"] == "FAILED", body
    assert body["Reason"].startswith(f"{field}:"), body["Reason"]
    assert "blank" in body["Reason"]
    testbed.neptune_log.clear()
    testbed.aws_log.clear()
    # The Delete CloudFormation sends after the failed Create cancels nothing...
    failed_delete = make_event("Delete", properties, receiver, stack=stack, physical_id=body["PhysicalResourceId"])
    assert assert_contract(deliver(failed_delete, receiver))["Status"] == "SUCCESS"
    # ...and so does the Delete of a guard created when blank still meant "no filter".
    pid = create(testbed, receiver, good, stack)["PhysicalResourceId"]
    testbed.neptune_log.clear()
    testbed.aws_log.clear()
    legacy = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    answered = assert_contract(deliver(legacy, receiver))
    assert answered["Status"] == "SUCCESS"
    _untouched(testbed, neptune, glue, jobs)


# -- 6. an endpoint is an https Neptune endpoint ------------------------------------------
@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",
        "http://10.0.0.5:80",
        "https://example.com:8182",
        "https://db.cluster-abc.us-east-1.neptune.amazonaws.com.evil.example:8182",
        "http://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182",
        "https://user:pw@db.cluster-abc.us-east-1.neptune.amazonaws.com:8182",
    ],
)
def test_an_endpoint_that_is_not_https_neptune_is_refused_naming_the_property(
    guard_env: Any, receiver: ResponseReceiver, endpoint: str
) -> None:
    body = assert_contract(
        deliver(make_event("Create", props(guard_env, NeptuneEndpoint=endpoint), receiver), receiver)
    )
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("NeptuneEndpoint:"), body["Reason"]


def test_the_guard_sends_nothing_to_a_host_that_is_not_neptune(
    guard_env: Any, receiver: ResponseReceiver, hostile: Any
) -> None:
    """A loopback stand-in for 169.254.169.254 (not admitted by JOBJANITOR_ALLOWED_ENDPOINTS):
    neither Create's preflight nor a Delete sends it a single (signed) request."""
    stack = stack_id()
    properties = props(guard_env, NeptuneEndpoint=hostile.url, Kinds="neptune-ml-training")
    body = assert_contract(deliver(make_event("Create", properties, receiver, stack=stack), receiver))
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("NeptuneEndpoint:")
    good = props(guard_env, Kinds="neptune-ml-training")
    pid = create(guard_env, receiver, good, stack)["PhysicalResourceId"]
    deleted = assert_contract(
        deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver)
    )
    assert deleted["Status"] == "SUCCESS"
    assert hostile.requests == []


def test_error_text_from_a_failing_endpoint_reaches_reason_only_as_a_short_safe_summary(
    guard_env: Any, receiver: ResponseReceiver, hostile: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Admitted (as a test bed would be) and a configured cluster, but it answers every call with
    # a long, hostile body.
    create_stand_in_cluster(hostile.url, "hostile-graph")
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", f"{STAND_IN},hostile-graph")
    monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", f"{guard_env.allowed_endpoints},{hostile.url}")
    properties = props(guard_env, NeptuneEndpoint=hostile.url, Kinds="neptune-ml-training")
    body = assert_contract(deliver(make_event("Create", properties, receiver), receiver))
    assert body["Status"] == "FAILED"
    reason = body["Reason"]
    assert reason.startswith("Preflight failed"), reason
    assert "BadRequestException" in reason  # the summary still says what failed
    assert len(reason) <= 200
    assert hostile.marker not in reason
    assert not any(c in reason for c in "<>\n\r"), reason
    assert hostile.requests, "the admitted endpoint was asked"


# -- 1. an Update never sweeps the live stack ---------------------------------------------
def _guarded(testbed: Any, receiver: ResponseReceiver) -> tuple[Any, Any, sc.Scenario, str, dict[str, Any], str]:
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=1)
    stack = stack_id()
    properties = props(testbed, jobs)
    properties.pop("GlueRegion")
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    testbed.neptune_log.clear()
    testbed.aws_log.clear()
    return neptune, glue, jobs, stack, properties, pid


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p, t: {**p, "GlueTransformIds": [*p["GlueTransformIds"], t]}, id="adds-a-transform"),
        pytest.param(lambda p, t: {**p, "GlueRegion": "us-east-1"}, id="spells-out-glue-region"),
        pytest.param(lambda p, t: {**p, "Kinds": "neptune-ml-training"}, id="narrows-kinds"),
    ],
)
def test_an_update_keeps_the_id_and_its_cleanup_cancels_nothing(
    guard_env: Any, receiver: ResponseReceiver, change: Any
) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = _guarded(testbed, receiver)
    new = change(properties, jobs.other_transform_id)
    update = make_event("Update", new, receiver, stack=stack, physical_id=pid, old_properties=properties)
    body = assert_contract(deliver(update, receiver))
    assert body["Status"] == "SUCCESS", body
    assert body["PhysicalResourceId"] == pid, "a new id is a replacement: CloudFormation would Delete the old one"
    # Had the id changed, this is the Delete CloudFormation sends for the old one, with the old
    # properties, while the stack is cleaning up after the Update.
    cleanup = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    answered = assert_contract(deliver(cleanup, receiver, stack_status="UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
    assert answered["Status"] == "SUCCESS"
    assert "not being deleted" in answered["Data"]["Skipped"]
    _untouched(testbed, neptune, glue, jobs)


@pytest.mark.parametrize(
    "status",
    [
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",  # the guard was removed from the template
        "UPDATE_ROLLBACK_IN_PROGRESS",  # an Update that added the guard is rolling back
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_IN_PROGRESS",
    ],
)
def test_a_delete_while_the_stack_lives_on_cancels_nothing(
    guard_env: Any, receiver: ResponseReceiver, status: str
) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = _guarded(testbed, receiver)
    delete = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    body = assert_contract(deliver(delete, receiver, stack_status=status))
    assert body["Status"] == "SUCCESS"
    assert body["Data"]["Skipped"] == f"stack is {status}, not being deleted"
    _untouched(testbed, neptune, glue, jobs)


@pytest.mark.parametrize("status", ["DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"])
def test_a_stack_going_away_is_swept(guard_env: Any, receiver: ResponseReceiver, status: str) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = _guarded(testbed, receiver)
    delete = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    body = assert_contract(deliver(delete, receiver, stack_status=status))
    assert body["Status"] == "SUCCESS", body
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
    untouched = sc.statuses(neptune, glue, jobs.out_of_scope, jobs.transform_id, jobs.other_transform_id)
    assert sc.in_states(untouched, sc.RUNNING) == []


@pytest.mark.parametrize("fail_on_error", ["false", "true"])
def test_a_delete_whose_stack_cannot_be_read_cancels_nothing_and_says_so(
    guard_env: Any, receiver: ResponseReceiver, fail_on_error: str
) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=0)
    stack = stack_id()  # never put into moto: DescribeStacks answers "does not exist"
    properties = props(testbed, jobs, FailOnError=fail_on_error)
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    delete = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    body = assert_contract(deliver(delete, receiver, stack_status=None))
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    assert "could not read the stack's status" in body["Reason"], body["Reason"]
    _untouched(testbed, neptune, glue, jobs)


def test_a_guard_created_with_a_target_hashed_id_is_still_swept_when_its_stack_is_deleted(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    from jobjanitor.guard.config import GuardConfig, legacy_physical_id

    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=1)
    stack = stack_id()
    properties = props(testbed, jobs)
    delete = make_event("Delete", properties, receiver, stack=stack, physical_id="placeholder")
    delete["PhysicalResourceId"] = legacy_physical_id(delete, GuardConfig.from_properties(properties))
    body = assert_contract(deliver(delete, receiver))
    assert body["Status"] == "SUCCESS", body
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []


# -- 5. discovery that could not see everything is a failure ------------------------------
def _bury(testbed: Any, newer: int = 1030) -> str:
    """The stack's training job, then ``newer`` jobs of another team started after it: the
    list (newest first, at most 1,024 ids, no paging) never reaches the stack's job."""
    own = testbed.neptune.seed_ml_job("modeltraining", "stack-a-train", status="InProgress")
    for i in range(newer):
        testbed.neptune.seed_ml_job("modeltraining", f"other-{i}", status="Completed")
    return str(own)


@pytest.mark.parametrize("fail_on_error", ["true", "false"])
def test_a_capped_listing_is_not_a_success(guard_env: Any, receiver: ResponseReceiver, fail_on_error: str) -> None:
    testbed = guard_env
    own = _bury(testbed)
    stack = stack_id()
    properties = props(testbed, Kinds="neptune-ml-training", FailOnError=fail_on_error)
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    reason = body["Reason"]
    assert "discovery incomplete" in reason, reason
    assert "neptune-ml-training" in reason
    assert "1024" in reason
    assert testbed.neptune.job("modeltraining", own).status == "InProgress"  # truly never seen


# -- 3. a prefix does not reach a sibling stack -------------------------------------------
def test_create_warns_when_its_prefix_overlaps_another_guards(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    base = {"NeptuneEndpoint": testbed.neptune_url, "Kinds": "neptune-ml-training", "MaxWaitSeconds": "60"}
    ml = create(testbed, receiver, {**base, "JobIdPrefix": "ml-"}, stack_id("ml"))
    assert "Warning" not in ml["Data"]
    # Stack ml-staging: "ml-" (stack ml's prefix) is a prefix of its "ml-staging-".
    staging_stack = stack_id("ml-staging")
    staging = create(testbed, receiver, {**base, "JobIdPrefix": "ml-staging-"}, staging_stack)
    warning = staging["Data"]["Warning"]
    assert "'ml-' (ml)" in warning, warning
    assert staging["Reason"] == warning[: len(staging["Reason"])]
    # A prefix from the stack id's UUID part overlaps no one.
    unique_stack = stack_id("ml-prod")
    uuid_part = unique_stack.rsplit("/", 1)[1].split("-")[0]
    unique = create(testbed, receiver, {**base, "JobIdPrefix": f"{uuid_part}-"}, unique_stack)
    assert "Warning" not in unique["Data"], unique["Data"]
    # A guard with no prefix reaches every ML job on the endpoint: it overlaps everyone.
    everything = create(testbed, receiver, base, stack_id("ops"))
    assert "every Neptune ML job on the cluster" in everything["Data"]["Warning"]
    # Once stack ml-staging is deleted, its prefix is no longer in use.
    delete = make_event(
        "Delete", {**base, "JobIdPrefix": "ml-staging-"}, receiver, stack=staging_stack,
        physical_id=staging["PhysicalResourceId"],
    )  # fmt: skip
    assert assert_contract(deliver(delete, receiver))["Status"] == "SUCCESS"
    again = create(testbed, receiver, {**base, "JobIdPrefix": "ml-staging-x-"}, stack_id("ml-staging-x"))
    assert "ml-staging-'" not in again["Data"]["Warning"]
