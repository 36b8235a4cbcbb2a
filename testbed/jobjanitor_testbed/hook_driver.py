"""CloudFormation's side of a Lambda Hook, on loopback: invokes the hook's handler as
CloudFormation would before it deletes a resource, and decides as CloudFormation would.

- :func:`hook_event` builds a request shaped as CloudFormation sends it (``DELETE_PRE_PROVISION``
  of one resource of a stack).
- :class:`HookDriver` runs one hook evaluation: it invokes the handler (in a thread, with a
  Lambda context), gives it at most ``invocation_limit`` seconds (CloudFormation's 30), checks
  the answer's shape, and on ``IN_PROGRESS`` waits ``callbackDelaySeconds`` then invokes again
  with the returned ``callbackContext`` and the next invocation number, at most
  ``max_invocations`` times in all. The wait is not slept: it advances the test bed's
  :class:`~jobjanitor_testbed.clock.FakeClock` when one is given (so jobs stop "during" it), and
  sleeps ``delay * speed`` real seconds (``speed`` 0 by default).
- The verdict follows the hook's ``FailureMode``: ``SUCCESS`` lets the delete go on; ``FAILED``, a
  timeout, a malformed answer or too many IN_PROGRESS answers let it go on with a warning
  under ``WARN`` and stop it under ``FAIL``.
- :func:`delete_stack` deletes a moto stack as CloudFormation would with the hook active: every
  resource of a targeted type is evaluated first; if any evaluation stops the delete, the
  stack ends ``DELETE_FAILED`` and nothing is deleted, otherwise moto deletes the stack.

Two things here are assumptions (docs/hook.md): the user guide says both "a Hook can return
IN_PROGRESS 3 times" and "your Lambda function can be invoked up to 3 times"; the driver takes
the stricter reading (3 invocations in all) by default. And the largest ``callbackDelaySeconds``
CloudFormation honours is not documented; the driver honours any.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from jobjanitor_testbed.cfn import LambdaContext
from jobjanitor_testbed.clock import FakeClock

FUNCTION = "jobjanitor-hook"
ACCOUNT = "123456789012"
TARGET_TYPES = ("AWS::Neptune::DBCluster", "AWS::Glue::MLTransform")
STATUSES = ("SUCCESS", "FAILED", "IN_PROGRESS")
ERROR_CODES = ("NonCompliant", "InternalFailure")
MAX_MESSAGE = 4096
ALLOWED_ENV = "JOBJANITOR_ALLOWED_ENDPOINTS"

Handler = Callable[[dict[str, Any], Any], Any]


def hook_event(
    target_name: str,
    logical_id: str,
    stack_id: str,
    *,
    properties: dict[str, Any] | None = None,
    token: str | None = None,
    invocation: int = 1,
    callback_context: dict[str, Any] | None = None,
    point: str = "DELETE_PRE_PROVISION",
    alias: str = "JobJanitor::Teardown::Hook",
) -> dict[str, Any]:
    """A Lambda Hook request as CloudFormation sends it for one resource operation."""
    region = stack_id.split(":")[3] if stack_id.count(":") >= 5 else "us-east-1"
    return {
        "clientRequestToken": token or str(uuid.uuid4()),
        "awsAccountId": ACCOUNT,
        "stackId": stack_id,
        "changeSetId": None,
        "hookTypeName": alias,
        "hookTypeVersion": "00000001",
        "hookModel": {"LambdaFunction": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{FUNCTION}"},
        "actionInvocationPoint": point,
        "requestData": {
            "targetName": target_name,
            "targetType": target_name,
            "targetLogicalId": logical_id,
            "targetModel": {"resourceProperties": properties or {}},
        },
        "requestContext": {"invocation": invocation, "callbackContext": callback_context},
    }


def answer_violations(answer: object, request: dict[str, Any]) -> list[str]:
    """What CloudFormation would reject or misread in an answer (empty list: none)."""
    if not isinstance(answer, dict):
        return [f"the answer is a {type(answer).__name__}, not a JSON object"]
    problems: list[str] = []
    status = answer.get("hookStatus")
    if status not in STATUSES:
        problems.append(f"hookStatus is {status!r}")
    if answer.get("clientRequestToken") != request.get("clientRequestToken"):
        problems.append("clientRequestToken does not echo the request")
    if status == "FAILED" and answer.get("errorCode") not in ERROR_CODES:
        problems.append(f"FAILED with errorCode {answer.get('errorCode')!r}")
    message = answer.get("message", "")
    if not isinstance(message, str):
        problems.append("message is not a string")
    elif len(message) > MAX_MESSAGE:
        problems.append(f"message is {len(message)} characters (CloudFormation keeps {MAX_MESSAGE})")
    if status == "IN_PROGRESS":
        delay = answer.get("callbackDelaySeconds", 0)
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            problems.append(f"callbackDelaySeconds is {delay!r}")
        if answer.get("callbackContext") is not None and not isinstance(answer.get("callbackContext"), dict):
            problems.append("callbackContext is not an object")
    return problems


@dataclass
class Invocation:
    event: dict[str, Any]
    answer: Any
    seconds: float
    timed_out: bool = False
    error: str | None = None


@dataclass
class HookRun:
    """One evaluation of one target: every invocation, and what CloudFormation concluded."""

    invocations: list[Invocation] = field(default_factory=list)
    status: str = "FAILED"  # SUCCESS or FAILED, as CloudFormation records it
    reason: str = ""  # why FAILED (the hook's message, a timeout, a malformed answer...)
    proceeds: bool = False  # whether CloudFormation goes on to delete the resource
    violations: list[str] = field(default_factory=list)

    @property
    def answers(self) -> list[Any]:
        return [i.answer for i in self.invocations]

    @property
    def last(self) -> dict[str, Any]:
        answer = self.invocations[-1].answer if self.invocations else None
        if not isinstance(answer, dict):
            raise AssertionError(f"no answer: {answer!r}")
        return answer

    @property
    def warning(self) -> str | None:
        """The warning CloudFormation shows when a FAILED hook in WARN mode lets the delete go on."""
        return self.reason if self.status == "FAILED" and self.proceeds else None


class HookDriver:
    def __init__(
        self,
        handler: Handler | None = None,
        *,
        failure_mode: str = "FAIL",
        max_invocations: int = 3,
        invocation_limit: float = 30.0,
        lambda_timeout: float = 30.0,
        clock: FakeClock | None = None,
        speed: float = 0.0,
        function_name: str = FUNCTION,
    ) -> None:
        if failure_mode not in ("WARN", "FAIL"):
            raise ValueError("failure_mode is WARN or FAIL")
        self._handler = handler
        self.failure_mode = failure_mode
        self.max_invocations = max_invocations
        self.invocation_limit = invocation_limit
        self.lambda_timeout = lambda_timeout
        self.clock = clock
        self.speed = speed
        self.function_name = function_name

    @property
    def handler(self) -> Handler:
        if self._handler is None:
            # Imported at call time: the handler reads its environment when first used.
            from jobjanitor.handlers.hook import lambda_handler  # noqa: PLC0415

            self._handler = lambda_handler
        return self._handler

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """One invocation, with CloudFormation's limit on how long it waits for the answer."""
        box: dict[str, Any] = {}
        context = LambdaContext(function_name=self.function_name, timeout_seconds=self.lambda_timeout)

        def call() -> None:
            try:
                box["answer"] = self.handler(event, context)
            except Exception as error:  # the Lambda invocation failed: CloudFormation sees an error
                box["error"] = f"{type(error).__name__}: {error}"

        started = time.monotonic()
        thread = threading.Thread(target=call, name="hook-invocation", daemon=True)
        thread.start()
        thread.join(self.invocation_limit)
        seconds = time.monotonic() - started
        if thread.is_alive():
            return Invocation(event, None, seconds, timed_out=True)
        return Invocation(event, box.get("answer"), seconds, error=box.get("error"))

    def run(self, event: dict[str, Any]) -> HookRun:
        run = HookRun()
        current = event
        for number in range(1, self.max_invocations + 1):
            invocation = self.invoke(current)
            run.invocations.append(invocation)
            if invocation.timed_out:
                return self._verdict(run, False, f"the hook did not answer within {self.invocation_limit:g}s")
            if invocation.error:
                return self._verdict(run, False, f"the hook's function failed: {invocation.error}")
            problems = answer_violations(invocation.answer, current)
            if problems:
                run.violations = problems
                return self._verdict(run, False, f"malformed answer: {'; '.join(problems)}")
            answer = invocation.answer
            if answer["hookStatus"] == "SUCCESS":
                return self._verdict(run, True, "")
            if answer["hookStatus"] == "FAILED":
                return self._verdict(run, False, str(answer.get("message", "")))
            if number == self.max_invocations:
                break
            delay = int(answer.get("callbackDelaySeconds", 0))
            if self.clock is not None:
                self.clock.advance(delay)
            if self.speed:
                time.sleep(delay * self.speed)
            current = {
                **current,
                "requestContext": {"invocation": number + 1, "callbackContext": answer.get("callbackContext")},
            }
        return self._verdict(run, False, f"the hook answered IN_PROGRESS {self.max_invocations} times")

    def _verdict(self, run: HookRun, succeeded: bool, reason: str) -> HookRun:
        run.status = "SUCCESS" if succeeded else "FAILED"
        run.reason = reason
        run.proceeds = succeeded or self.failure_mode == "WARN"
        return run


@dataclass
class StackDeletion:
    stack_id: str
    runs: dict[str, HookRun]  # logical id -> the hook's evaluation
    status: str  # DELETE_COMPLETE or DELETE_FAILED


def stack_resources(stack: str, types: Sequence[str] = TARGET_TYPES) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = boto3.client("cloudformation").describe_stack_resources(StackName=stack)[
        "StackResources"
    ]
    return [r for r in resources if r["ResourceType"] in types]


def delete_stack(stack: str, driver: HookDriver, *, types: Sequence[str] = TARGET_TYPES) -> StackDeletion:
    """Delete a moto stack as CloudFormation does with the hook active (see the module docstring)."""
    cfn = boto3.client("cloudformation")
    stack_id = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    runs: dict[str, HookRun] = {}
    for resource in stack_resources(stack_id, types):
        event = hook_event(resource["ResourceType"], resource["LogicalResourceId"], stack_id)
        runs[resource["LogicalResourceId"]] = run = driver.run(event)
        if not run.proceeds:
            return StackDeletion(stack_id, runs, "DELETE_FAILED")
    cfn.delete_stack(StackName=stack_id)
    return StackDeletion(stack_id, runs, cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"])


# ---------------------------------------------------------------- a stack without any guard
def teardown_stack_template(
    *, cluster: bool = True, transform: bool = True, name: str = "dedupe", cluster_identifier: str | None = None
) -> dict[str, Any]:
    """A consumer stack with a Neptune cluster (its DBClusterIdentifier, when given) and/or a
    Glue ML transform, and no guard."""
    resources: dict[str, Any] = {}
    if cluster:
        properties: dict[str, Any] = {"IamAuthEnabled": True}
        if cluster_identifier:
            properties["DBClusterIdentifier"] = cluster_identifier
        resources["GraphCluster"] = {"Type": "AWS::Neptune::DBCluster", "Properties": properties}
    if transform:
        resources["MatchTransform"] = {
            "Type": "AWS::Glue::MLTransform",
            "Properties": {
                "Name": name,
                "Role": f"arn:aws:iam::{ACCOUNT}:role/glue-ml",
                "GlueVersion": "2.0",
                "InputRecordTables": {"GlueTables": [{"DatabaseName": "db", "TableName": "people"}]},
                "TransformParameters": {
                    "TransformType": "FIND_MATCHES",
                    "FindMatchesParameters": {"PrimaryKeyColumnName": "id"},
                },
            },
        }
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def create_stack(stack_name: str, **template: Any) -> dict[str, str]:
    """Create the stack in moto; returns its StackId and the physical id of each resource."""
    import json  # noqa: PLC0415

    from jobjanitor_testbed import moto_cfn  # noqa: PLC0415 - registers the two resource types

    moto_cfn.install()
    cfn = boto3.client("cloudformation")
    stack_id = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(teardown_stack_template(**template)))[
        "StackId"
    ]
    out = {"StackId": stack_id}
    for resource in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]:
        out[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return out


def attach_cluster(identifier: str, emulator_url: str, env: MutableMapping[str, str]) -> None:
    """Point the stack's cluster at a Neptune emulator and admit the emulator's URL in ``env``
    (``os.environ``), as the test bed's stand-in clusters are (jobjanitor_testbed.clusters)."""
    from jobjanitor_testbed.clusters import point_at_emulator  # noqa: PLC0415

    point_at_emulator(identifier, emulator_url)
    items = [i for i in env.get(ALLOWED_ENV, "").split(",") if i]
    if emulator_url not in items:
        env[ALLOWED_ENV] = ",".join([*items, emulator_url])
