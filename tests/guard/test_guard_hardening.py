"""Guard hardening (issue 11): an adversarial reviewer's cases, each through the real path
(CloudFormation-shaped events into the Lambda handler, moto's EventBridge, Lambda and
DynamoDB, the test bed's Neptune and Glue, the loopback ResponseURL receiver)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import jobjanitor.guard.app as guard_app
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobjanitor import observability
from jobjanitor.deadline import use_clock
from jobjanitor.handlers.guard import lambda_handler
from jobjanitor.protocol.custom_resource import TIMER_RESERVE_SECONDS
from jobjanitor.protocol.polling import poll_rule_name
from jobjanitor.protocol.response import MAX_BODY_BYTES, encode_body
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import (
    LambdaContext,
    ResponseReceiver,
    contract_violations,
    custom_resource_event,
    stack_id,
)
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.guard_driver import (
    FUNCTION,
    STACK_DELETING,
    TABLE,
    deliver,
    invoke,
    lambda_permissions,
    polling_rules,
)
from jobjanitor_testbed.stacks import put_stack

from tests.guard.test_guard import clients, create, make_event, props
from tests.template.conftest import TEMPLATE, load_cfn

EVENTBRIDGE_INPUT_LIMIT = 8192
ML_ONLY = "neptune-ml-dataprocessing,neptune-ml-training,neptune-ml-transform"


def invoke_bounded(event: dict[str, Any], *, timeout: float = 900.0, join: float = 120.0) -> bool:
    """Invoke the handler in a thread; True when it returned (False: it hangs)."""
    worker = threading.Thread(target=invoke, args=(event,), kwargs={"timeout": timeout}, daemon=True)
    worker.start()
    worker.join(join)
    return not worker.is_alive()


def rule_targets() -> list[dict[str, Any]]:
    """Every polling rule's targets, as anyone allowed events:ListTargetsByRule sees them."""
    events = boto3.client("events")
    return [t for rule in polling_rules() for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]


def stored_request(target: dict[str, Any]) -> dict[str, Any]:
    """The guard's record behind a polling rule (the rule's Input names its key)."""
    (key,) = json.loads(target["Input"]).values()
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": key}}, ConsistentRead=True)["Item"]
    return {name: next(iter(value.values())) for name, value in item.items()}


def tick_until_answered(
    request_id: str, receiver: ResponseReceiver, *, timeout: float = 14, max_ticks: int = 40
) -> int:
    """Fire the polling rule's target as EventBridge would until CloudFormation has an answer."""
    ticks = 0
    while not receiver.responses(request_id) and ticks < max_ticks:
        targets = rule_targets()
        assert len(targets) == 1, f"{len(targets)} polling targets for one request"
        invoke(json.loads(targets[0]["Input"]), timeout=timeout)
        ticks += 1
    return ticks


def ml_only_guard(
    testbed: Any, receiver: ResponseReceiver, *, prefix: str = "stack-a-", **extra: Any
) -> tuple[Any, Any, sc.Scenario, str, dict[str, Any], str]:
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=prefix, per_kind=1, out_of_scope_per_kind=0)
    properties = {**props(testbed, jobs), "Kinds": ML_ONLY, "JobIdPrefix": prefix, **extra}
    stack = stack_id()
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    return neptune, glue, jobs, stack, properties, pid


# ------------------------------------------------------------------ 1. the ResponseURL stays put
@pytest.mark.usefixtures("deadlines_on_testbed_clock")  # the guard waits on the test bed's time
def test_polling_rule_input_is_a_key_never_the_response_url_and_fits_eventbridge(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    testbed.lifecycle.stop_delay = 6.0
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix="stack-a-", per_kind=1, out_of_scope_per_kind=0)
    job_ids = [ids[0] for kind, ids in jobs.in_scope.items() if kind in sc.ML_KINDS]
    job_ids += [f"stack-a-planned-job-{i:04d}" for i in range(320)]  # 300+ ids: 13 KB of Input on main
    properties = {**props(testbed, jobs), "Kinds": ML_ONLY, "JobIds": job_ids}
    properties.pop("JobIdPrefix")
    stack = stack_id()
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)

    handed_over = deliver(event, receiver, timeout=14, max_ticks=0)
    assert handed_over.response is None, "the jobs take longer than one invocation: it should hand over"
    (target,) = rule_targets()
    text = target["Input"]
    assert len(text) < EVENTBRIDGE_INPUT_LIMIT, f"Input of {len(text)} characters"
    for secret in ("ResponseURL", "X-Amz-Signature", receiver.base_url, "cloudformation-custom-resource-response"):
        assert secret not in text, f"{secret!r} is readable through events:ListTargetsByRule"
    assert stored_request(target)["request"], "the request must be kept where the ticks can find it"

    tick_until_answered(event["RequestId"], receiver)
    (response,) = receiver.responses(event["RequestId"])
    assert contract_violations(response, event) == []
    assert response.body["Status"] == "SUCCESS", response.body
    assert int(response.body["Data"]["Cancelled"]) == len(sc.ML_KINDS)
    assert polling_rules() == []
    assert lambda_permissions() == []


@pytest.mark.parametrize(("field", "value"), [("JobIds", 1001), ("GlueTransformIds", 101)])
def test_create_refuses_a_list_property_past_its_bound_naming_it(
    guard_env: Any, receiver: ResponseReceiver, field: str, value: int
) -> None:
    testbed = guard_env
    properties = {**props(testbed, Preflight="false"), field: [f"stack-a-{i}" for i in range(value)]}
    body = deliver(make_event("Create", properties, receiver), receiver).body
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"{field}: at most"), body["Reason"]


# ------------------------------------------------------------------ 2. one deadline, one rule
@pytest.mark.usefixtures("deadlines_on_testbed_clock")  # the guard waits on the test bed's time
def test_a_redelivered_delete_keeps_the_first_deadline_and_the_one_polling_rule(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    testbed.lifecycle.stop_delay = 8.0
    _neptune, _glue, jobs, stack, properties, pid = ml_only_guard(testbed, receiver)
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)

    assert deliver(event, receiver, timeout=14, max_ticks=0).response is None
    (first,) = rule_targets()
    first_deadline = stored_request(first)["deadline"]
    time.sleep(1.5)  # the redelivery arrives later: a restarted deadline would differ
    # Lambda's retry, or CloudFormation's resend: the same StackId + RequestId.
    assert deliver(json.loads(json.dumps(event)), receiver, timeout=14, max_ticks=0).response is None
    targets = rule_targets()
    assert len(polling_rules()) == 1, "a redelivery started a second polling rule"
    assert len(targets) == 1
    assert len(lambda_permissions()) == 1
    again = stored_request(targets[0])
    assert again["deadline"] == first_deadline, "the redelivery restarted MaxWaitSeconds"
    assert json.loads(again["request"])["CrHelperData"]["DeadlineEpoch"] == str(int(float(first_deadline)))

    tick_until_answered(event["RequestId"], receiver)
    (response,) = receiver.responses(event["RequestId"])
    assert contract_violations(response, event) == []
    assert response.body["Status"] == "SUCCESS", response.body
    assert polling_rules() == []
    assert lambda_permissions() == []
    for kind, api_kind in sc.ML_KINDS.items():
        assert testbed.neptune.job(api_kind, jobs.in_scope[kind][0]).cancel_count == 1


# ------------------------------------------------------------------ 5. the body encoder ends
@pytest.mark.parametrize("oversized", ["StackId", "PhysicalResourceId"])
def test_an_oversized_envelope_gets_an_answer_or_a_logged_error_never_a_hang(
    guard_env: Any, receiver: ResponseReceiver, caplog: pytest.LogCaptureFixture, oversized: str
) -> None:
    testbed = guard_env
    huge = "x" * 5000
    stack = stack_id() if oversized != "StackId" else f"arn:aws:cloudformation:us-east-1:123456789012:stack/{huge}/1"
    request = "Delete" if oversized == "PhysicalResourceId" else "Create"
    event = custom_resource_event(
        request,
        props(testbed, MaxWaitSeconds="soon"),  # invalid: the answer carries a Reason and Data
        receiver=receiver,
        stack=stack,
        physical_id=huge if request == "Delete" else None,
    )
    with caplog.at_level(logging.ERROR):
        assert invoke_bounded(event), "the guard hangs encoding its answer"
    responses = receiver.responses(event["RequestId"])
    assert len(responses) == 1, "exactly one answer goes out, even one CloudFormation will reject"
    assert any("cannot fit" in r.getMessage() for r in caplog.records), "the impossible answer was not logged"


envelope_text = st.text(max_size=2500)
values = st.one_of(st.text(max_size=3000), st.integers(), st.lists(st.text(max_size=200), max_size=30))


@settings(max_examples=300, deadline=None)
@given(
    stack=envelope_text,
    physical=envelope_text,
    reason=st.text(max_size=6000),
    data=st.dictionaries(st.text(max_size=40), values, max_size=12),
)
def test_encode_body_always_ends_and_fits_unless_the_envelope_alone_is_too_big(
    stack: str, physical: str, reason: str, data: dict[str, Any]
) -> None:
    body = {
        "Status": "FAILED",
        "Reason": reason,
        "PhysicalResourceId": physical,
        "StackId": stack,
        "RequestId": "r",
        "LogicalResourceId": "Guard",
        "NoEcho": False,
        "Data": data,
    }
    raw = encode_body(body)
    decoded = json.loads(raw)
    assert (decoded["StackId"], decoded["PhysicalResourceId"]) == (stack, physical)
    envelope = json.dumps({**body, "Reason": "x" * 20, "Data": {}}, separators=(",", ":")).encode()
    if len(envelope) <= MAX_BODY_BYTES:
        assert len(raw) <= MAX_BODY_BYTES


# ------------------------------------------------------------------ 3. no call outlives the time left
def test_a_slow_endpoint_near_the_deadline_gets_the_guards_own_single_answer(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    _neptune, _glue, _jobs, stack, properties, pid = ml_only_guard(testbed, receiver)
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    # Every Neptune answer now takes longer than the whole invocation.
    testbed.faults_neptune.set(latency=60.0)
    context = LambdaContext(function_name=FUNCTION, timeout_seconds=20)
    put_stack(stack, STACK_DELETING)  # the stack is being deleted (the guard reads its status)
    lambda_handler(event, context)
    left = context.get_remaining_time_in_millis() / 1000.0
    testbed.faults_neptune.clear()
    # Lambda would have cut the invocation off (and retried it, answering again) had the guard
    # not returned before its last-resort timer.
    assert left > TIMER_RESERVE_SECONDS, f"the guard returned with {left:.1f} s left: its timer answered"
    (response,) = receiver.responses(event["RequestId"])
    assert contract_violations(response, event) == []
    body = response.body
    assert "Lambda deadline was reached" not in body["Reason"], body["Reason"]
    assert "Execution timed out" not in body["Reason"], body["Reason"]  # crhelper's own timer
    assert body["Status"] == "SUCCESS", body  # FailOnError false: reported, not blocking
    assert "discovery error" in body["Reason"], body["Reason"]


# ------------------------------------------------------------------ 4. busy clusters keep idempotency
def test_a_busy_cluster_keeps_the_idempotency_record_and_a_resend_reports_the_same_cancels(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    _neptune, _glue, jobs, stack, properties, pid = ml_only_guard(testbed, receiver)
    others = 0
    for api_kind in sc.ML_KINDS.values():
        for i in range(700):  # 2,100 jobs of other stacks, under one listing page per kind
            testbed.neptune.seed_ml_job(api_kind, f"stack-b-{api_kind}-{i:04d}")
            others += 1
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    first = deliver(event, receiver)
    assert first.response is not None
    assert first.body["Status"] == "SUCCESS", first.body
    assert int(first.body["Data"]["Cancelled"]) == len(sc.ML_KINDS)
    assert int(first.body["Data"]["Skipped"]) == others

    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    records = [i for i in items if "status" in i]
    assert len(records) == 1, "the cancel step's idempotency record was not saved"
    assert records[0]["status"]["S"] == "COMPLETED"
    size = len(json.dumps(records[0]))
    assert size < 40_000, f"the record is {size} bytes: it holds more than a resend needs"

    # CloudFormation resends the same request.
    invoke(json.loads(json.dumps(event)))
    responses = receiver.responses(event["RequestId"])
    assert len(responses) == 2
    second = responses[1].body
    assert contract_violations(responses[1], event) == []
    assert second["Data"]["Cancelled"] == first.body["Data"]["Cancelled"], second["Data"]
    assert second["Data"]["Skipped"] == first.body["Data"]["Skipped"]
    for kind, api_kind in sc.ML_KINDS.items():
        assert testbed.neptune.job(api_kind, jobs.in_scope[kind][0]).cancel_count == 1


# ------------------------------------------------------------------ 6. alarms on what matters
def emf_of(capfd: pytest.CaptureFixture[str], run: Callable[[], object]) -> list[dict[str, Any]]:
    """The EMF lines the guard writes while ``run`` runs."""
    capfd.readouterr()
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)  # Powertools' handler holds the stdout of import time
    try:
        run()
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def alarmed_metrics() -> set[str]:
    resources = load_cfn(TEMPLATE)["Resources"]
    return {
        r["Properties"]["MetricName"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "JobJanitor"
    }


def values_of(lines: list[dict[str, Any]], metric: str) -> list[float]:
    """Values of ``metric`` in lines whose only dimension is the service (what the alarms watch)."""
    found: list[float] = []
    for line in lines:
        if metric in line and line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]:
            value = line[metric]
            found.extend(value if isinstance(value, list) else [value])
    return found


def test_alarmed_totals_fire_at_the_verdict_not_at_the_hand_over(
    guard_env: Any, receiver: ResponseReceiver, capfd: pytest.CaptureFixture[str], testbed_clock: FakeClock
) -> None:
    testbed = guard_env
    assert {"SweepStillStopping", "SweepFailures"} <= alarmed_metrics()
    testbed.lifecycle.stop_delay = 6.0
    _neptune, _glue, _jobs, stack, properties, pid = ml_only_guard(testbed, receiver)
    event = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    with use_clock(testbed_clock):  # the guard's waits pass on the test bed's time
        handing_over = emf_of(capfd, lambda: deliver(event, receiver, timeout=14, max_ticks=0))
        # Jobs still stopping when the guard hands over to polling are not "still stopping at the
        # deadline": the alarm must stay quiet while the teardown is going well.
        assert values_of(handing_over, "SweepStillStopping") == [0.0]
        assert values_of(handing_over, "SweepFailures") == [0.0]
        tick_until_answered(event["RequestId"], receiver)
    assert receiver.responses(event["RequestId"])[0].body["Status"] == "SUCCESS"

    # MaxWaitSeconds runs out on real seconds.
    testbed.lifecycle.stop_delay = 600.0
    _neptune, _glue, _jobs, stack, properties, pid = ml_only_guard(
        testbed, receiver, prefix="stack-late-", MaxWaitSeconds="2"
    )
    late = make_event("Delete", properties, receiver, stack=stack, physical_id=pid)
    verdict = emf_of(capfd, lambda: deliver(late, receiver))
    assert values_of(verdict, "SweepStillStopping") == [float(len(sc.ML_KINDS))]


# ------------------------------------------------------------------ 8. concurrent teardowns
TEARDOWNS = 10
SERVICE_TIMEOUT = 120


def test_ten_concurrent_teardowns_are_each_answered_once_within_their_service_timeout(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    # Longer than the first invocation's work (30 s Lambda - 12 s reserve): every teardown
    # hands over to polling, even on a loaded machine where ten cold starts share two cores.
    testbed.lifecycle.stop_delay = 25.0
    neptune, glue = clients(testbed)
    stacks = []
    for n in range(TEARDOWNS):
        jobs = sc.start_jobs(
            neptune,
            glue,
            prefix=f"stack-{n}-",
            other_prefix=f"x-{n}-",
            per_kind=1,
            out_of_scope_per_kind=0,
            transform_name=f"jj-{n}",
        )
        properties = {
            **props(testbed, jobs),
            "Kinds": ML_ONLY,
            "JobIdPrefix": f"stack-{n}-",
            "ServiceTimeout": str(SERVICE_TIMEOUT),
            "MaxWaitSeconds": "60",
        }
        stack = stack_id(f"consumer-{n}")
        pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
        put_stack(stack, STACK_DELETING)  # each Delete arrives while its stack is being deleted
        stacks.append((jobs, make_event("Delete", properties, receiver, stack=stack, physical_id=pid)))

    running = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def run(event: dict[str, Any]) -> None:
        # Lambda runs concurrent invocations in separate execution environments.
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        try:
            guard_app.GuardApp().handle(event, LambdaContext(function_name=FUNCTION, timeout_seconds=30))
        finally:
            with lock:
                running["now"] -= 1

    def all_at_once(events: list[dict[str, Any]]) -> None:
        threads = [threading.Thread(target=run, args=(e,)) for e in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    delivered_at = time.time()
    all_at_once([json.loads(json.dumps(event)) for _jobs, event in stacks])
    rules = {rule["Name"] for rule in polling_rules()}
    waiting = [event for _jobs, event in stacks if not receiver.responses(event["RequestId"])]
    assert len(waiting) == TEARDOWNS, "every teardown should still be waiting for its jobs"
    assert rules == {poll_rule_name(event) for event in waiting}, "each request waiting has its own rule"
    for _ in range(40):  # EventBridge fires every rule each minute, all at once
        targets = rule_targets()
        if not targets:
            break
        all_at_once([json.loads(t["Input"]) for t in targets])

    for jobs, event in stacks:
        responses = receiver.responses(event["RequestId"])
        assert len(responses) == 1, f"{len(responses)} answers to one teardown"
        assert contract_violations(responses[0], event) == []
        assert responses[0].body["Status"] == "SUCCESS", responses[0].body
        assert int(responses[0].body["Data"]["Cancelled"]) == len(sc.ML_KINDS)
        assert responses[0].received_at - delivered_at < SERVICE_TIMEOUT
        ml_jobs = {kind: ids for kind, ids in jobs.in_scope.items() if kind in sc.ML_KINDS}
        assert sc.in_states(sc.statuses(neptune, glue, ml_jobs, jobs.transform_id), sc.STOPPED) == []
    # One invocation per teardown at a time: what the sizing rule (docs/deploy.md) counts on.
    assert running["peak"] <= TEARDOWNS
    assert polling_rules() == []
    assert lambda_permissions() == []
