"""crhelper's CfnResource, configured and wrapped where it falls short.

crhelper 2.0.12 carries the CloudFormation protocol (request parsing, physical ids on
Update/Delete, EventBridge polling for long waits). Its traps, and what this subclass does
about each (see docs/guard.md and the custom-resource contract notes):

- Reasons over 256 characters are cut to their LAST 240 characters, losing the start:
  reasons are shortened here, keeping the start, before crhelper ever sees them.
- Its timer answers FAILED "Execution timed out" with an empty PhysicalResourceId 0.5 s
  before the Lambda deadline: the guard stops work at its own deadline well before that;
  the timer stays only as a last resort, fires earlier, and answers with a valid id.
- The response sender loops forever, ignores the HTTP status and logs the presigned URL at
  DEBUG: replaced by :func:`jobjanitor.guard.response.put_response`. crhelper's own log
  level is WARNING so it never logs the event (which carries the ResponseURL).
- ``sleep_on_delete`` (default 120 s) delays every Delete answer: set to 0, see __init__.
- With a poll function registered, crhelper hands EVERY request of that type to polling,
  even when the work finished in the first invocation (a one-minute-plus delay for
  nothing): here polling starts only when the handler asks for it (``request_polling``).
- A failure half-way through setting up polling leaves a rule or permission behind and
  answers FAILED; a failure removing them answers FAILED after the work succeeded: both are
  made best-effort and leave nothing behind that can be removed.
- A constructor failure (no region) makes crhelper answer FAILED to everything: here the
  guard keeps working without polling instead.
- Several sends in one invocation (timer thread and main thread): exactly one goes out.
- Polling puts the WHOLE request, presigned ResponseURL included, into the rule target's
  Input, where anyone allowed events:ListTargetsByRule can read it and answer for the guard;
  with many JobIds it also passes EventBridge's 8,192-character Input limit. Here the request
  stays in the KMS-encrypted table (:mod:`jobjanitor.guard.requests`) and the Input is its
  key. Without the table there is no polling: the guard answers at its own deadline.
- Rules and permission ids are random, so a redelivered request starts a second rule: here
  both are named after the request (StackId + RequestId), so a request has at most one rule
  and a redelivery's hand-over updates it in place.
- Its events/lambda clients use botocore's defaults (60 s timeouts, legacy retries), so a
  slow API near the deadline outlives the invocation: replaced by clients whose every
  attempt is bounded by the time left (:func:`jobjanitor.clients.bounded_by_deadline`), with the
  invocation's answer deadline set as the current deadline for everything the guard calls.
- A Delete answered FAILED leaves the user's stack in DELETE_FAILED: an unexpected error on
  Delete answers SUCCESS with the error in Reason unless the guard's FailOnError is true.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from crhelper import CfnResource

from jobjanitor.clients import bounded_by_deadline, plumbing_config
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.guard.requests import RequestStore, poll_input, request_hash
from jobjanitor.guard.response import put_response, shorten_reason

log = logging.getLogger("jobjanitor.guard")

SUCCESS = "SUCCESS"
FAILED = "FAILED"
# Start no new work closer than this to the Lambda deadline: the answer (or the hand-over
# to polling) needs time of its own, and the PUT may need retries.
RESPONSE_RESERVE_SECONDS = 12.0
# The last-resort timer fires this long before the Lambda deadline (crhelper: 0.5 s).
TIMER_RESERVE_SECONDS = 4.0
# Polling rules are named with this prefix (crhelper: the consumer's logical id), so the
# template can grant events:* on rule/jobjanitor-poll-* and nothing else.
POLL_RULE_PREFIX = "jobjanitor-poll-"
# Rule names and permission ids: the prefix and this many hex digits of the request's hash.
POLL_NAME_DIGITS = 24
# Every AWS call of an invocation ends this long before the last-resort timer would fire.
CALL_MARGIN_SECONDS = 1.0


def poll_rule_name(event: dict[str, Any]) -> str:
    """The one polling rule a request can have (64-character limit: 16 + 24)."""
    return f"{POLL_RULE_PREFIX}{request_hash(event)[:POLL_NAME_DIGITS]}"


def failed_create_id(event: dict[str, Any]) -> str:
    """A marker physical id for a Create that failed: the Delete that follows is a no-op."""
    digest = hashlib.sha256(f"{event.get('StackId')}|{event.get('RequestId')}".encode()).hexdigest()[:16]
    return f"jobjanitor-guard-failed-{digest}"


class GuardResource(CfnResource):  # typed through typings/crhelper (crhelper ships no hints)
    def __init__(self, *, polling_interval_minutes: int = 1, requests: RequestStore | None = None) -> None:
        super().__init__(
            json_logging=False,
            # crhelper logs the whole event (with the presigned ResponseURL) at DEBUG and sets
            # the ROOT logger to this level on every call: WARNING keeps both quiet. Our own
            # structured logs go through Powertools' Logger, which has its own level.
            log_level="WARNING",
            boto_level="ERROR",
            polling_interval=polling_interval_minutes,
            # The sleep lets CloudWatch Logs ship before a stack deletes the function's log
            # group. The guard's function and log group live in the jobjanitor stack, not in
            # the stack being deleted, so the sleep would only delay every teardown.
            sleep_on_delete=0,
        )
        self.requests = requests
        self.polling_available = True
        if self._init_failed is not None:
            log.error("crhelper could not create its AWS clients; polling is disabled: %s", self._init_failed)
            self._init_failed = None
            self.polling_available = False
        elif requests is None:
            # Without the table the request could only travel in the rule's Input: no polling.
            log.warning("no request table: polling is disabled, the guard answers at its own deadline")
            self.polling_available = False
        else:
            self._events_client = bounded_by_deadline(boto3.client("events", config=plumbing_config()))
            self._lambda_client = bounded_by_deadline(boto3.client("lambda", config=plumbing_config()))
        self._send_lock = threading.Lock()
        self._reset_invocation()

    # -- per-invocation state -------------------------------------------------------------
    def _reset_invocation(self) -> None:
        self.responded: dict[str, Any] | None = None
        self.delivered = False
        self.poll_requested = False
        self.fail_on_error = False
        # What to answer if the hand-over to polling cannot be set up.
        self.handover_fallback: tuple[str, str] = (SUCCESS, "")
        self.cleanup_errors: list[str] = []
        self.invocation_deadline = time.monotonic() + 60.0

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        # Every AWS call this invocation makes (crhelper's, the table's, the engine's unless it
        # sets a tighter one) ends before the last-resort timer: the guard answers itself.
        remaining = context.get_remaining_time_in_millis() / 1000.0
        token = CURRENT_DEADLINE.set(Deadline.after(remaining - TIMER_RESERVE_SECONDS - CALL_MARGIN_SECONDS))
        try:
            super().__call__(event, context)
        finally:
            CURRENT_DEADLINE.reset(token)

    def _crhelper_init(self, event: dict[str, Any], context: Any) -> bool:
        self._reset_invocation()
        remaining = context.get_remaining_time_in_millis() / 1000.0
        self.invocation_deadline = time.monotonic() + remaining
        return bool(super()._crhelper_init(event, context))

    def work_deadline_seconds(self) -> float:
        """Seconds the handler may still work in this invocation."""
        return max(0.0, self.invocation_deadline - time.monotonic() - RESPONSE_RESERVE_SECONDS)

    def request_polling(self, fallback: tuple[str, str]) -> None:
        """Ask for a hand-over to EventBridge polling instead of answering now."""
        self.poll_requested = True
        self.handover_fallback = fallback

    # -- handler errors ---------------------------------------------------------------------
    def _wrap_function(self, func: Callable[[dict[str, Any], Any], Any] | None) -> None:
        try:
            self.PhysicalResourceId = func(self._event, self._context) if func else ""
        except Exception as exc:
            log.error("handler failed: %s", type(exc).__name__, exc_info=True)
            self.Reason = shorten_reason(str(exc) or type(exc).__name__)
            self.Status = FAILED
            if self._event.get("RequestType") == "Create":
                self.PhysicalResourceId = failed_create_id(self._event)

    # -- polling ----------------------------------------------------------------------------
    def _poll_enabled(self) -> bool:
        if "CrHelperPoll" in self._event:
            return True  # a polling tick: crhelper's completion logic must run
        return bool(self.poll_requested and self.polling_available and super()._poll_enabled())

    def _polling_init(self, event: dict[str, Any]) -> None:
        if "CrHelperPoll" not in event and self.Status != FAILED:
            self.Data["PhysicalResourceId"] = self.PhysicalResourceId
            try:
                self._setup_polling()
            except (ClientError, BotoCoreError) as exc:
                log.error("could not hand over to polling; answering now: %s", exc)
                self._remove_polling()
                status, reason = self.handover_fallback
                self.Status, self.Reason = status, shorten_reason(f"{reason} (polling unavailable: {exc})")
                self._send_response = True
                return
            self.PhysicalResourceId = None
            log.info("handed over to polling", extra={"rule": self._event["CrHelperRule"].split("/")[-1]})
        if self.PhysicalResourceId or self.Status == FAILED:
            self._remove_polling()
            self._send_response = True

    def _put_rule(self) -> str:
        # crhelper names the rule <consumer's LogicalResourceId><8 random>: no IAM policy of ours
        # could predict that name, and a redelivery would start a second rule. Same rule
        # otherwise (rate, enabled, default bus); PutRule on an existing name updates it.
        unit = "minute" if self._polling_interval == 1 else "minutes"
        response = self._events_client.put_rule(
            Name=poll_rule_name(self._event),
            ScheduleExpression=f"rate({self._polling_interval} {unit})",
            State="ENABLED",
            Description=f"jobjanitor guard polling: {self.LogicalResourceId} in {self.StackId}"[:512],
        )
        return str(response["RuleArn"])

    def _add_permission(self, rule_arn: str) -> str:
        sid = poll_rule_name(self._event)
        try:
            self._lambda_client.add_permission(
                FunctionName=self._context.function_name,
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

    def _put_targets(self, func_name: str) -> None:
        # The request (with its ResponseURL) stays in the table; the rule carries its key.
        if self.requests is None:  # polling_available is False without it: never reached
            raise RuntimeError("polling needs the request table")
        self.requests.save(self._event)
        arn_parts = self._event["CrHelperRule"].split(":")
        partition, region, account = arn_parts[1], arn_parts[3], arn_parts[4]
        self._events_client.put_targets(
            Rule=self._event["CrHelperRule"].split("/")[-1],
            Targets=[
                {
                    "Id": "1",
                    "Arn": f"arn:{partition}:lambda:{region}:{account}:function:{func_name}",
                    "Input": poll_input(self._event),
                }
            ],
        )

    def remove_orphan_polling(self, digest: str, context: Any) -> None:
        """A tick whose request is gone (expired, never saved): remove its rule and permission."""
        self._context = context
        name = f"{POLL_RULE_PREFIX}{digest[:POLL_NAME_DIGITS]}"
        self._event = {"CrHelperRule": f"rule/{name}", "CrHelperPermission": name}
        self.Data = {}
        self._remove_polling()

    def _remove_polling(self) -> None:
        """Remove the rule, its target and the permission: each step best-effort."""
        self._event.pop("CrHelperData", None)
        self.Data.pop("PhysicalResourceId", None)
        rule_arn = self._event.get("CrHelperRule")
        sid = self._event.get("CrHelperPermission")
        steps: list[tuple[str, Callable[[], Any]]] = []
        if rule_arn:
            steps.append(("RemoveTargets", lambda: self._remove_targets(rule_arn)))
        if sid:
            steps.append(("RemovePermission", lambda: self._remove_permission(sid)))
        if rule_arn:
            steps.append(("DeleteRule", lambda: self._delete_rule(rule_arn)))
        for name, step in steps:
            try:
                step()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    continue  # already gone: a duplicate tick removed it first
                self.cleanup_errors.append(f"{name}: {exc}")
                log.error("polling cleanup step failed", extra={"step": name, "error": str(exc)})
            except BotoCoreError as exc:
                self.cleanup_errors.append(f"{name}: {exc}")
                log.error("polling cleanup step failed", extra={"step": name, "error": str(exc)})

    # -- the last-resort timer ----------------------------------------------------------------
    def _set_timeout(self) -> None:
        seconds = max(0.1, self._context.get_remaining_time_in_millis() / 1000.0 - TIMER_RESERVE_SECONDS)
        self._timer = threading.Timer(seconds, self._timeout)
        self._timer.daemon = True
        self._timer.start()

    def _timeout(self) -> None:
        log.error("Lambda deadline reached before the guard answered; answering now")
        self._send(FAILED, "jobjanitor: the Lambda deadline was reached before the work finished; see the logs")

    # -- the one response ---------------------------------------------------------------------
    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        del send_response  # crhelper's sender is replaced, see the module docstring
        with self._send_lock:
            if self.responded is not None:
                log.warning("a second response in one invocation was suppressed")
                return
            final_status = status or self.Status or SUCCESS
            final_reason = reason if status else self.Reason
            data = {str(k): v for k, v in (self.Data or {}).items() if not str(k).startswith("CrHelper")}
            if final_status == FAILED and self._event.get("RequestType") == "Delete" and not self.fail_on_error:
                # FAILED on Delete strands the user's stack in DELETE_FAILED: report, don't block.
                data["Error"] = shorten_reason(final_reason or "unknown error", 200)
                final_status = SUCCESS
                final_reason = shorten_reason(f"jobjanitor reported a problem (FailOnError is false): {final_reason}")
            if final_status == FAILED and not final_reason:
                final_reason = f"jobjanitor failed; see log stream {getattr(self._context, 'log_stream_name', '?')}"
            physical_id = (
                self.PhysicalResourceId
                if isinstance(self.PhysicalResourceId, str) and self.PhysicalResourceId
                else self._event.get("PhysicalResourceId") or failed_create_id(self._event)
            )
            body = {
                "Status": final_status,
                "Reason": shorten_reason(final_reason or ""),
                "PhysicalResourceId": physical_id,
                "StackId": self.StackId,
                "RequestId": self.RequestId,
                "LogicalResourceId": self.LogicalResourceId,
                "NoEcho": bool(self.NoEcho),
                "Data": data,
            }
            self.responded = body
        self.delivered = put_response(self._response_url, body, deadline=self.invocation_deadline - 1.0)
        log.info(
            "answered CloudFormation",
            extra={"status": body["Status"], "physical_id": physical_id, "delivered": self.delivered},
        )
