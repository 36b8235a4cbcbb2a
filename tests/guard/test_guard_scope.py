"""Scope safety of the guard, driven as CloudFormation drives it: what it may never cancel.

Each test here failed on the code before the scope-safety work (issue 10): the guard then
cancelled jobs outside the scope its stack declared.
"""

from __future__ import annotations

from typing import Any

import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
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
    # Admitted (as a test bed would be), but it answers every call with a long, hostile body.
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
