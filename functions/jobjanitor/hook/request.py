"""The Lambda Hook request, validated once into a typed :class:`HookRequest`, and the answer.

CloudFormation sends (facts and gaps: docs/hook.md): ``clientRequestToken``, ``stackId``,
``actionInvocationPoint``, ``requestData`` (``targetName`` = the resource type,
``targetLogicalId``, ``targetModel``) and ``requestContext`` (``invocation``,
``callbackContext``). The physical resource id is not (confirmed to be) in the request: the
resolver asks CloudFormation for it.

What decides the scope (the stack, the logical id, the type, the invocation point) must be
present and well-formed, or the request is malformed: a :class:`MalformedRequest` naming the
field. ``requestContext`` only carries our own bookkeeping, so its absence means a first
invocation.

The answer never exceeds CloudFormation's 4,096-character message limit: :func:`bounded`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEPTUNE_CLUSTER = "AWS::Neptune::DBCluster"
GLUE_TRANSFORM = "AWS::Glue::MLTransform"
TARGET_TYPES = (NEPTUNE_CLUSTER, GLUE_TRANSFORM)
DELETE_PRE_PROVISION = "DELETE_PRE_PROVISION"

SUCCESS = "SUCCESS"
FAILED = "FAILED"
IN_PROGRESS = "IN_PROGRESS"
NON_COMPLIANT = "NonCompliant"
INTERNAL_FAILURE = "InternalFailure"

MAX_MESSAGE = 4096
_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack/[^/]+/[^/]+$")
_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")
# Our own key in callbackContext: how many IN_PROGRESS answers this request has had.
IN_PROGRESS_KEY = "inProgressAnswers"


class MalformedRequest(ValueError):
    """A request the hook cannot act on; ``str()`` reads ``<field>: <problem>``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True, slots=True)
class HookRequest:
    token: str
    stack_id: str
    invocation_point: str
    target_name: str
    logical_id: str
    invocation: int = 1
    callback_context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def handled(self) -> bool:
        """A request of the kind this hook acts on (the TargetFilters should send no other)."""
        return self.invocation_point == DELETE_PRE_PROVISION and self.target_name in TARGET_TYPES

    @property
    def in_progress_answers(self) -> int:
        """IN_PROGRESS answers given so far: what our callbackContext says, and never fewer
        than the invocation number implies (a lost context must not buy more invocations)."""
        carried = self.callback_context.get(IN_PROGRESS_KEY, 0)
        count = carried if isinstance(carried, int) and not isinstance(carried, bool) and carried >= 0 else 0
        return max(count, self.invocation - 1)

    @property
    def stack_name(self) -> str:
        return self.stack_id.split(":stack/", 1)[-1].split("/", 1)[0]

    @classmethod
    def parse(cls, event: object) -> HookRequest:
        if not isinstance(event, Mapping):
            raise MalformedRequest("request", "must be a JSON object")
        token = _text(event, "clientRequestToken")
        point = _text(event, "actionInvocationPoint")
        data = event.get("requestData")
        if not isinstance(data, Mapping):
            raise MalformedRequest("requestData", "missing or not an object")
        target_name = _text(data, "targetName", "requestData.")
        context = event.get("requestContext")
        if context is None:
            context = {}
        if not isinstance(context, Mapping):
            raise MalformedRequest("requestContext", "must be an object")
        invocation = context.get("invocation", 1)
        if isinstance(invocation, str) and invocation.isdigit():
            invocation = int(invocation)
        if isinstance(invocation, bool) or not isinstance(invocation, int) or invocation < 1:
            raise MalformedRequest("requestContext.invocation", f"must be a positive integer, got {invocation!r}")
        callback = context.get("callbackContext")
        if callback is None:
            callback = {}
        if not isinstance(callback, Mapping):
            raise MalformedRequest("requestContext.callbackContext", "must be an object")
        request = cls(token, "", point, target_name, "", invocation, dict(callback))
        if not request.handled:
            return request  # answered SUCCESS without looking further: nothing of ours
        stack_id = _text(event, "stackId")
        if not _STACK_ARN.match(stack_id):
            raise MalformedRequest("stackId", f"not a CloudFormation stack ARN: {stack_id[:200]!r}")
        logical_id = _text(data, "targetLogicalId", "requestData.")
        if not _LOGICAL_ID.match(logical_id):
            raise MalformedRequest("requestData.targetLogicalId", f"not a logical id: {logical_id[:200]!r}")
        return cls(token, stack_id, point, target_name, logical_id, invocation, dict(callback))


def _text(source: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MalformedRequest(prefix + key, "missing or not a non-empty string")
    return value.strip()


def token_of(event: object) -> str:
    """The clientRequestToken to echo, as far as it can be read (a malformed request too)."""
    if isinstance(event, Mapping) and isinstance(event.get("clientRequestToken"), str):
        return str(event["clientRequestToken"])
    return ""


def answer(
    token: str,
    status: str,
    message: str,
    *,
    error_code: str | None = None,
    callback_context: Mapping[str, Any] | None = None,
    callback_delay_seconds: int | None = None,
) -> dict[str, Any]:
    """A response as CloudFormation expects it; ``errorCode`` is required when FAILED."""
    if status == FAILED and error_code not in (NON_COMPLIANT, INTERNAL_FAILURE):
        raise ValueError("a FAILED answer needs errorCode NonCompliant or InternalFailure")
    body: dict[str, Any] = {"hookStatus": status, "message": bounded(message), "clientRequestToken": token}
    if error_code and status == FAILED:
        body["errorCode"] = error_code
    if status == IN_PROGRESS:
        body["callbackContext"] = dict(callback_context or {})
        body["callbackDelaySeconds"] = int(callback_delay_seconds or 0)
    return body


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def id_list(ids: Iterable[str], budget: int) -> str:
    """Comma-separated ids within ``budget`` characters, ending "… (N more)" when cut."""
    items = list(ids)
    out = ""
    for i, item in enumerate(items):
        candidate = f"{out}, {item}" if out else item
        rest = f"… ({len(items) - i} more)"
        if len(candidate) + len(rest) + 2 > budget:
            return f"{out}, {rest}" if out else rest
        out = candidate
    return out
