"""moto's Lambda, as the test bed serves it: AddPermission refuses a statement id the function's
policy already has, as AWS does (409 ResourceConflictException), so a caller that relies on the
conflict (the guard's polling, on a redelivered request) is tested against AWS's behaviour."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from jobjanitor_testbed.guard_driver import FUNCTION, lambda_permissions, prepare_aws


def add(client: Any, sid: str) -> None:
    client.add_permission(
        FunctionName=FUNCTION,
        StatementId=sid,
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:us-east-1:123456789012:rule/{sid}",
    )


def test_add_permission_refuses_a_statement_id_already_in_the_policy(aws_env: Any) -> None:
    prepare_aws()
    client = boto3.client("lambda")
    add(client, "jobjanitor-poll-one")
    with pytest.raises(client.exceptions.ResourceConflictException) as info:
        add(client, "jobjanitor-poll-one")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "(jobjanitor-poll-one) provided already exists" in str(info.value)
    add(client, "jobjanitor-poll-two")  # another id is still welcome
    assert sorted(s["Sid"] for s in lambda_permissions()) == ["jobjanitor-poll-one", "jobjanitor-poll-two"]
    client.remove_permission(FunctionName=FUNCTION, StatementId="jobjanitor-poll-one")
    add(client, "jobjanitor-poll-one")  # once removed, the id can be used again
    assert len(json.loads(client.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]) == 2
