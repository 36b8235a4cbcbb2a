"""What woke the sweeper: a Scheduler invocation, a classic scheduled rule, or a stack deletion.

- **EventBridge Scheduler** delivers the schedule's Input as the event. The template's Input
  is ``{"source": "jobjanitor.schedule", "executionId": "<aws.scheduler.execution-id>",
  "scheduledTime": "<aws.scheduler.scheduled-time>", "narrow": {...}}``: Scheduler fills in
  the context attributes; the execution id is the same on Scheduler's own retries, so it is
  the idempotency key.
- **A classic EventBridge rule** (``detail-type: Scheduled Event``): the event ``id``.
- **CloudFormation Stack Status Change** with status ``DELETE_IN_PROGRESS``: the event ``id``,
  and the stack id to read the opt-in tags from.

Parsed with Powertools' event data classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobjanitor.errors import ConfigError

SCHEDULER_SOURCE = "jobjanitor.schedule"
STACK_CHANGE = "CloudFormation Stack Status Change"


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str  # "schedule", "rule" or "stack-delete"
    key: str  # the idempotency key
    narrow: object = None  # a schedule's narrowing input
    stack_id: str | None = None


def classify(event: object) -> Trigger | None:
    """The trigger, or None for an event the sweeper does not act on (a stack status other
    than DELETE_IN_PROGRESS). ConfigError for an event it cannot read."""
    if not isinstance(event, dict):
        raise ConfigError("event", "must be a JSON object")
    if event.get("source") == SCHEDULER_SOURCE:
        key = event.get("executionId")
        if not isinstance(key, str) or not key or key.startswith("<aws."):
            raise ConfigError("executionId", "the schedule's Input must carry <aws.scheduler.execution-id>")
        return Trigger("schedule", f"schedule:{key}", event.get("narrow"))
    if "detail-type" in event and "id" in event:
        # Read as a plain EventBridge envelope: Powertools' EventBridgeEvent would import every
        # one of its event classes (its data_classes package) into each cold start.
        detail_type, source, event_id = event["detail-type"], event.get("source"), event["id"]
        if detail_type == "Scheduled Event" and source == "aws.events":
            return Trigger("rule", f"rule:{event_id}")
        if detail_type == STACK_CHANGE and source == "aws.cloudformation":
            detail: dict[str, Any] = event["detail"]
            status = (detail.get("status-details") or {}).get("status")
            if status != "DELETE_IN_PROGRESS":
                return None
            resources = event["resources"] if not detail.get("stack-id") else None
            stack_id = detail.get("stack-id") or (resources[0] if resources else None)
            if not isinstance(stack_id, str) or not stack_id:
                raise ConfigError("detail.stack-id", "missing from the stack status change event")
            return Trigger("stack-delete", f"stack:{event_id}", stack_id=stack_id)
        raise ConfigError("detail-type", f"not an event the sweeper handles: {detail_type!r}")
    raise ConfigError("event", "not a Scheduler invocation, a scheduled rule event or a stack status change")
