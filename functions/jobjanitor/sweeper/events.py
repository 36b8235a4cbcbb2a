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

# The class's own module: the package imports every event class (~30 modules) on the cold-start path.
from aws_lambda_powertools.utilities.data_classes.event_bridge_event import EventBridgeEvent

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
        bridge = EventBridgeEvent(event)
        if bridge.detail_type == "Scheduled Event" and bridge.source == "aws.events":
            return Trigger("rule", f"rule:{bridge.get_id}")
        if bridge.detail_type == STACK_CHANGE and bridge.source == "aws.cloudformation":
            detail: dict[str, Any] = bridge.detail
            status = (detail.get("status-details") or {}).get("status")
            if status != "DELETE_IN_PROGRESS":
                return None
            stack_id = detail.get("stack-id") or (bridge.resources[0] if bridge.resources else None)
            if not isinstance(stack_id, str) or not stack_id:
                raise ConfigError("detail.stack-id", "missing from the stack status change event")
            return Trigger("stack-delete", f"stack:{bridge.get_id}", stack_id=stack_id)
        raise ConfigError("detail-type", f"not an event the sweeper handles: {bridge.detail_type!r}")
    raise ConfigError("event", "not a Scheduler invocation, a scheduled rule event or a stack status change")
