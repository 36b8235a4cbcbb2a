"""Drive the guard's Lambda handler as CloudFormation and EventBridge would.

- :func:`prepare_aws` creates what the deployed stack would have: the Powertools
  idempotency table, and the guard function itself in moto's Lambda (the guard's polling adds
  a permission to it).
- :func:`deliver` invokes the handler with a request; while the guard's polling rule exists,
  it fires the rule's target with its Input, exactly as EventBridge would, until
  CloudFormation (the :class:`~jobjanitor_testbed.cfn.ResponseReceiver`) has its answer.

Everything AWS goes wherever boto3's environment points (the test bed's moto server).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from jobjanitor_testbed.cfn import LambdaContext, ReceivedResponse, ResponseReceiver
from jobjanitor_testbed.stacks import is_stack_arn, put_stack

FUNCTION = "jobjanitor-guard"
TABLE = "jobjanitor-idempotency"


def prepare_aws(function: str = FUNCTION, table: str = TABLE) -> None:
    boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = boto3.client("iam").create_role(RoleName=f"{function}-role", AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return None\n")
    boto3.client("lambda").create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )


@dataclass
class Delivery:
    """What happened to one request: the response CloudFormation got, and the ticks it took."""

    event: dict[str, Any]
    response: ReceivedResponse | None
    ticks: int = 0
    all_responses: list[ReceivedResponse] = field(default_factory=list)
    rules_seen: list[str] = field(default_factory=list)

    @property
    def body(self) -> dict[str, Any]:
        if self.response is None:
            raise AssertionError("no response was received")
        return self.response.body


def polling_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = boto3.client("events").list_rules()["Rules"]
    return [r for r in rules if str(r.get("ScheduleExpression", "")).startswith("rate(")]


def lambda_permissions(function: str = FUNCTION) -> list[dict[str, Any]]:
    client = boto3.client("lambda")
    try:
        policy = client.get_policy(FunctionName=function)["Policy"]
    except client.exceptions.ResourceNotFoundException:
        return []
    statements: list[dict[str, Any]] = json.loads(policy).get("Statement", [])
    return statements


# The stack's status while CloudFormation sends a Delete that is part of deleting the stack.
STACK_DELETING = "DELETE_IN_PROGRESS"


def invoke(
    event: dict[str, Any],
    *,
    timeout: float = 900.0,
    function: str = FUNCTION,
    stack_status: str | None = STACK_DELETING,
) -> None:
    """Invoke the guard's handler with ``event``. For a Delete, the event's stack is first put
    into moto with ``stack_status`` (CloudFormation's status while it sends this Delete: the
    guard reads it with DescribeStacks); None leaves moto's stacks as they are."""
    # Imported at call time: the handler reads its environment (table, endpoints) when built.
    from jobjanitor.handlers.guard import lambda_handler  # noqa: PLC0415

    deleting = isinstance(event, dict) and event.get("RequestType") == "Delete"
    if stack_status is not None and deleting and is_stack_arn(event.get("StackId")):
        put_stack(event["StackId"], stack_status)
    lambda_handler(event, LambdaContext(function_name=function, timeout_seconds=timeout))


def deliver(
    event: dict[str, Any],
    receiver: ResponseReceiver,
    *,
    timeout: float = 900.0,
    max_ticks: int = 30,
    function: str = FUNCTION,
    stack_status: str | None = STACK_DELETING,
) -> Delivery:
    """Invoke the handler; while a polling rule exists, fire its target as EventBridge would.
    ``stack_status``: see :func:`invoke`."""
    invoke(event, timeout=timeout, function=function, stack_status=stack_status)
    ticks = 0
    rules_seen: list[str] = []
    events = boto3.client("events")
    while not receiver.responses(event["RequestId"]) and ticks < max_ticks:
        rules = polling_rules()
        if not rules:
            break
        rules_seen.append(rules[0]["Name"])
        targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
        if len(targets) != 1 or not targets[0]["Arn"].endswith(f":function:{function}"):
            raise AssertionError(f"unexpected polling targets: {targets}")
        invoke(json.loads(targets[0]["Input"]), timeout=timeout, function=function)
        ticks += 1
    responses = receiver.responses(event["RequestId"])
    return Delivery(event, responses[0] if responses else None, ticks, responses, rules_seen)
