"""Waiting past one invocation: an EventBridge rule re-invokes the function until it answers.

A handler that returns :class:`~jobjanitor.protocol.custom_resource.Pending` is handed over
here (:meth:`Polling.hand_over`): a rule (``rate(N minutes)``), an invoke permission for it,
and a target whose Input is ``{"JobJanitorPollRequest": "<key>"}``. The request itself, with
its presigned ResponseURL, stays in the KMS-encrypted table (:mod:`jobjanitor.store.requests`):
anyone allowed ``events:ListTargetsByRule`` reads the Input, and a few hundred property values
would pass EventBridge's 8,192-character Input limit. Each tick (:meth:`Polling.resume`) reads
the request back; when the handler answers, :meth:`Polling.remove` deletes the rule, its
target and the permission. Every step of removal is best-effort, and a hand-over that fails
half-way removes what it created before it raises.

- One request, one rule: the rule and the permission are named after the request
  (``jobjanitor-poll-<24 hex digits of sha256(StackId|RequestId)>``, so the template can grant
  Events on ``rule/jobjanitor-poll-*`` only); a redelivery's hand-over updates that rule in
  place (PutRule and PutTargets are idempotent, an existing permission is kept).
- Every call is made with clients bounded by the invocation's time left
  (:func:`jobjanitor.clients.aws_client` under ``CURRENT_DEADLINE``).
- A tick whose record is gone (expired, never saved) removes its rule; a tick that cannot read
  the table returns, and the rule fires again at the next interval.

The stored record's field names (``CrHelperData`` for the carried Data, ``CrHelperPoll``,
``CrHelperRule``, ``CrHelperPermission``) are those of the records the guard wrote while it
was built on crhelper: a wait in flight across an upgrade, or a rollback, carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.store.requests import POLL_KEY, RequestStore, hash_of, poll_input, request_hash

if TYPE_CHECKING:
    from jobjanitor.protocol.custom_resource import Pending, Request

log = logging.getLogger("jobjanitor.protocol.polling")

# Rules and permission ids: this prefix and this many hex digits of the request's hash (the
# 64-character rule-name limit: 16 + 24).
POLL_RULE_PREFIX = "jobjanitor-poll-"
POLL_NAME_DIGITS = 24
# The stored record's fields (see the module docstring).
CARRIED = "CrHelperData"
TICK_MARK = "CrHelperPoll"
RULE_FIELD = "CrHelperRule"
PERMISSION_FIELD = "CrHelperPermission"
STORED_FIELDS = (CARRIED, TICK_MARK, RULE_FIELD, PERMISSION_FIELD)
TARGET_ID = "1"


def poll_rule_name(event: Mapping[str, Any]) -> str:
    """The one polling rule (and permission statement id) a request can have."""
    return _name(request_hash(event))


def _name(digest: str) -> str:
    return f"{POLL_RULE_PREFIX}{digest[:POLL_NAME_DIGITS]}"


def is_tick(event: object) -> TypeGuard[dict[str, Any]]:
    """An EventBridge delivery of a polling rule's Input (never a request: it has no ResponseURL)."""
    return isinstance(event, dict) and isinstance(event.get(POLL_KEY), str) and "ResponseURL" not in event


class Polling:
    """Sets up, resumes and removes polling. ``table_faults`` counts table reads that failed."""

    def __init__(
        self, requests: RequestStore, *, events_client: Any, lambda_client: Any, interval_minutes: int = 1
    ) -> None:
        self.requests = requests
        self.events_client = events_client
        self.lambda_client = lambda_client
        self.interval_minutes = interval_minutes
        self.table_faults = 0

    @classmethod
    def build(cls, requests: RequestStore | None, *, interval_minutes: int = 1) -> Polling | None:
        """Polling with bounded clients; None without the table (the request could only travel
        in the rule's Input) or when the clients cannot be made (no region): the handler then
        answers at its own deadline."""
        if requests is None:
            log.warning("no request table: polling is disabled, the guard answers at its own deadline")
            return None
        try:
            from jobjanitor.clients import aws_client  # noqa: PLC0415 - lazy: cold start

            events_client = aws_client("events")
            lambda_client = aws_client("lambda")
        except Exception as exc:  # any failure (NoRegionError above all): work on without polling
            log.error("could not create the polling clients; polling is disabled: %s", exc)
            return None
        return cls(
            requests, events_client=events_client, lambda_client=lambda_client, interval_minutes=interval_minutes
        )

    # -- hand-over --------------------------------------------------------------------------
    def hand_over(self, request: Request, pending: Pending, function_name: str) -> None:
        """Store the request and start its rule. Raises after removing whatever it created."""
        name = poll_rule_name(request.event)
        record = {
            **request.event,
            "ResponseURL": request.response_url,
            CARRIED: {**pending.data, "PhysicalResourceId": pending.physical_id},
            TICK_MARK: True,
        }
        try:
            record[RULE_FIELD] = rule_arn = self._put_rule(name, request)
            record[PERMISSION_FIELD] = self._add_permission(name, rule_arn, function_name)
            self.requests.save(record)
            arn_parts = rule_arn.split(":")
            partition, region, account = arn_parts[1], arn_parts[3], arn_parts[4]
            self.events_client.put_targets(
                Rule=name,
                Targets=[
                    {
                        "Id": TARGET_ID,
                        "Arn": f"arn:{partition}:lambda:{region}:{account}:function:{function_name}",
                        "Input": poll_input(request.event),
                    }
                ],
            )
        except Exception:
            self.remove(request.event, function_name)
            raise
        log.info("handed over to polling", extra={"rule": name})

    def _put_rule(self, name: str, request: Request) -> str:
        unit = "minute" if self.interval_minutes == 1 else "minutes"
        response = self.events_client.put_rule(
            Name=name,
            ScheduleExpression=f"rate({self.interval_minutes} {unit})",
            State="ENABLED",
            Description=f"jobjanitor guard polling: {request.logical_resource_id} in {request.stack_id}"[:512],
        )
        return str(response["RuleArn"])

    def _add_permission(self, sid: str, rule_arn: str, function_name: str) -> str:
        try:
            self.lambda_client.add_permission(
                FunctionName=function_name,
                StatementId=sid,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceConflictException":
                raise
            log.info("polling permission already present (a redelivery of this request)")
        return sid

    # -- ticks ------------------------------------------------------------------------------
    def resume(self, tick: Mapping[str, Any], function_name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        """The stored request a tick stands for and the Data carried to it, or None when there
        is nothing to serve (the table cannot be read: the next tick retries; the record is
        gone: its rule is removed)."""
        key = str(tick[POLL_KEY])
        try:
            stored = self.requests.load(key)
        except (ClientError, BotoCoreError) as exc:
            # The rule fires again next interval; the handler's overall deadline still ends the wait.
            self.table_faults += 1
            log.error("could not read the request for this polling tick; next tick retries: %s", exc)
            return None
        if stored is None:
            log.error("polling tick for a request that is no longer stored: removing its rule")
            self._remove(_name(hash_of(key) or key), function_name)
            return None
        carried = stored.get(CARRIED)
        carried = {str(k): str(v) for k, v in carried.items()} if isinstance(carried, dict) else {}
        return {k: v for k, v in stored.items() if k not in STORED_FIELDS}, carried

    # -- removal ----------------------------------------------------------------------------
    def remove(self, event: Mapping[str, Any], function_name: str) -> None:
        """Remove the request's rule, its target and the permission."""
        self._remove(poll_rule_name(event), function_name)

    def _remove(self, name: str, function_name: str) -> None:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("RemoveTargets", lambda: self.events_client.remove_targets(Rule=name, Ids=[TARGET_ID])),
            (
                "RemovePermission",
                lambda: self.lambda_client.remove_permission(FunctionName=function_name, StatementId=name),
            ),
            ("DeleteRule", lambda: self.events_client.delete_rule(Name=name)),
        ]
        for step, call in steps:
            try:
                call()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    continue  # already gone: a duplicate tick removed it first, or it never existed
                log.error("polling cleanup step failed", extra={"step": step, "error": str(exc)})
            except BotoCoreError as exc:
                log.error("polling cleanup step failed", extra={"step": step, "error": str(exc)})
