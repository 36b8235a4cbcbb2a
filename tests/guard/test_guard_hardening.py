"""Guard hardening (issue 11): an adversarial reviewer's cases, each through the real path
(CloudFormation-shaped events into the Lambda handler, moto's EventBridge, Lambda and
DynamoDB, the test bed's Neptune and Glue, the loopback ResponseURL receiver)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jobjanitor.guard.response import MAX_BODY_BYTES, encode_body
from jobjanitor_testbed.cfn import ResponseReceiver, custom_resource_event, stack_id
from jobjanitor_testbed.guard_driver import invoke

from tests.guard.test_guard import props


def invoke_bounded(event: dict[str, Any], *, timeout: float = 900.0, join: float = 120.0) -> bool:
    """Invoke the handler in a thread; True when it returned (False: it hangs)."""
    worker = threading.Thread(target=invoke, args=(event,), kwargs={"timeout": timeout}, daemon=True)
    worker.start()
    worker.join(join)
    return not worker.is_alive()


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
