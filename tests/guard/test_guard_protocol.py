"""The custom-resource protocol the guard owns (jobjanitor.protocol, docs/design.md), driven as
CloudFormation drives the guard: what a request is, and what an answer may carry.

Each test failed on the crhelper-based guard: it took a request's polling fields from the
event itself, answered an Update that named no resource, and put property text into Reason
as it was, ResponseURL included."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, contract_violations
from jobjanitor_testbed.guard_driver import deliver, invoke
from test_guard import assert_contract, guarded, make_event, props


def test_a_delete_carrying_polling_fields_is_a_request_and_cancels_its_scope(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    """Polling state comes from the guard's own table only: fields in the event (an echoing
    client, a forged invoke) must not turn a Delete into a tick that skips the cancel step."""
    testbed = guard_env
    g = guarded(testbed, receiver)
    event = make_event("Delete", g.properties, receiver, stack=g.stack, physical_id=g.pid)
    event.update(
        {
            "CrHelperPoll": True,
            "CrHelperData": {"DeadlineEpoch": str(int(time.time()) + 600), "PhysicalResourceId": g.pid},
            "CrHelperRule": "arn:aws:events:us-east-1:123456789012:rule/jobjanitor-poll-forged",
            "CrHelperPermission": "jobjanitor-poll-forged",
        }
    )
    body = assert_contract(deliver(event, receiver, timeout=30))
    assert body["Status"] == "SUCCESS", body
    assert int(body["Data"]["Cancelled"]) == g.jobs.count("in_scope")
    assert sc.in_states(sc.statuses(g.neptune, g.glue, g.jobs.in_scope, g.jobs.transform_id), sc.STOPPED) == []


def test_an_update_or_delete_naming_no_resource_is_malformed_and_touches_nothing(
    guard_env: Any, receiver: ResponseReceiver
) -> None:
    testbed = guard_env
    g = guarded(testbed, receiver)
    testbed.neptune_log.clear()
    update = make_event("Update", g.properties, receiver, stack=g.stack, physical_id=g.pid, old_properties=g.properties)
    del update["PhysicalResourceId"]
    invoke(update)
    (answer,) = receiver.responses(update["RequestId"])
    assert contract_violations(answer, update) == []
    assert answer.body["Status"] == "FAILED", answer.body
    assert "PhysicalResourceId" in answer.body["Reason"], answer.body["Reason"]

    delete = make_event("Delete", g.properties, receiver, stack=g.stack, physical_id=g.pid)
    del delete["PhysicalResourceId"]
    invoke(delete)
    (answer,) = receiver.responses(delete["RequestId"])
    assert answer.body["Status"] == "SUCCESS", answer.body  # FailOnError is false: never DELETE_FAILED
    assert "PhysicalResourceId" in answer.body["Reason"], answer.body["Reason"]
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert sc.in_states(sc.statuses(g.neptune, g.glue, g.jobs.in_scope, g.jobs.transform_id), sc.RUNNING) == []


def test_no_answer_or_log_carries_the_response_url_even_when_a_property_echoes_it(
    guard_env: Any, receiver: ResponseReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A Reason is readable by anyone allowed cloudformation:DescribeStackEvents, a log line by
    anyone who reads the logs; the URL would let them answer for the guard."""
    testbed = guard_env
    event = make_event("Create", props(testbed), receiver)
    event["ResourceProperties"]["MaxWaitSeconds"] = event["ResponseURL"]
    with caplog.at_level(logging.DEBUG):
        body = assert_contract(deliver(event, receiver))
    assert "MaxWaitSeconds" in caplog.text  # the failure was logged...
    assert "X-Amz-Signature" not in caplog.text  # ...without the credential
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("MaxWaitSeconds:"), body["Reason"]
    for secret in ("X-Amz-Signature", "cloudformation-custom-resource-response", receiver.base_url):
        assert secret not in body["Reason"], body["Reason"]
        assert secret not in str(body["Data"])
