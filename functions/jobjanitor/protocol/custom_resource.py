"""The CloudFormation custom-resource protocol: one request in, exactly one answer out.

In the shape of the AWS CDK custom-resource Provider framework (docs/design.md: why ours):

- :class:`Request`: the request as a typed value, parsed once; a malformed one is a
  :class:`RequestError` naming the field, answered FAILED (SUCCESS for a Delete unless a
  Delete may fail).
- Handlers RETURN the outcome: :class:`Done` (SUCCESS), :class:`Failed` (FAILED) or
  :class:`Pending` (wait on in polling ticks, :mod:`jobjanitor.protocol.polling`). Raising is
  FAILED too: :class:`Failure` carries a safe reason and Data, any other exception its text.
- :class:`Provider` dispatches by RequestType (a tick to its poll handler); :class:`Answer` is
  the one place that answers: at most once per request and invocation (the last-resort timer
  and the handler never both send), with bounded retries (:mod:`.response`). The presigned
  ResponseURL is kept from the handlers (``Request.event`` lacks it), redacted from every log
  line, Reason and Data, and never put in EventBridge (polling keeps it in the table).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.endpoints import safe_summary
from jobjanitor.protocol.polling import Polling, is_tick
from jobjanitor.protocol.response import put_response, redact, shorten_reason

log = logging.getLogger("jobjanitor.protocol")

SUCCESS = "SUCCESS"
FAILED = "FAILED"
ENVELOPE_FIELDS = ("StackId", "RequestId", "LogicalResourceId")
# Start no new work closer than this to the Lambda deadline: the answer (or the hand-over to
# polling) needs time of its own, and the PUT may need retries.
RESPONSE_RESERVE_SECONDS = 12.0
# The last-resort timer answers this long before the Lambda deadline.
TIMER_RESERVE_SECONDS = 4.0
# Every AWS call of an invocation ends this long before the last-resort timer would fire.
CALL_MARGIN_SECONDS = 1.0
TIMED_OUT = "jobjanitor: the Lambda deadline was reached before the work finished; see the logs"
NO_ANSWER = "jobjanitor: internal error, no response was produced; see the logs"


class RequestType(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


class RequestError(ValueError):
    """A request that is not a custom-resource request; ``fields`` names what is wrong."""

    def __init__(self, fields: tuple[str, ...], problem: str) -> None:
        super().__init__(problem)
        self.fields = fields
        self.problem = problem


def _text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Request:
    """A custom-resource request. ``event`` is the request as received WITHOUT its ResponseURL
    (a credential the handlers never need); ``carried`` is the Data a hand-over to polling
    kept for the ticks (None unless this is a polling tick)."""

    request_type: RequestType
    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str | None
    properties: object
    old_properties: object
    event: Mapping[str, Any] = field(repr=False)
    response_url: str = field(repr=False)
    carried: Mapping[str, str] | None = None

    @property
    def is_poll_tick(self) -> bool:
        return self.carried is not None

    @classmethod
    def parse(cls, event: object, *, carried: Mapping[str, str] | None = None) -> Request:
        """The typed request, or RequestError naming the field (checked in CloudFormation's
        order of importance: where to answer, which request, what kind, which resource)."""
        if not isinstance(event, Mapping) or _text(event, "ResponseURL") is None:
            raise RequestError(("ResponseURL",), "missing ResponseURL")
        missing = [name for name in ENVELOPE_FIELDS if _text(event, name) is None]
        if missing:
            raise RequestError(tuple(missing), f"missing {', '.join(missing)}")
        raw_type = event.get("RequestType")
        if raw_type not in tuple(RequestType):
            raise RequestError(("RequestType",), f"unknown RequestType {raw_type!r}")
        request_type = RequestType(raw_type)
        physical = _text(event, "PhysicalResourceId") or (carried or {}).get("PhysicalResourceId")
        if request_type is not RequestType.CREATE and not physical:
            raise RequestError(("PhysicalResourceId",), "missing PhysicalResourceId")
        return cls(
            request_type=request_type,
            stack_id=str(event["StackId"]),
            request_id=str(event["RequestId"]),
            logical_resource_id=str(event["LogicalResourceId"]),
            physical_resource_id=physical,
            properties=event.get("ResourceProperties"),
            old_properties=event.get("OldResourceProperties"),
            event={k: v for k, v in event.items() if k != "ResponseURL"},
            response_url=str(event["ResponseURL"]),
            carried=None if carried is None else {k: v for k, v in carried.items() if k != "PhysicalResourceId"},
        )


# -- outcomes: what a handler returns --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Done:
    """Answer SUCCESS with this id (the request's own id when empty), Data and Reason."""

    physical_id: str
    data: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """Answer FAILED. The id is the request's own (a failed Create gets a marker id)."""

    reason: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pending:
    """Not done yet: keep waiting in polling ticks, carrying ``data`` to them. ``fallback`` is
    what to answer now if waiting cannot continue (no polling, or setting it up failed)."""

    physical_id: str
    data: Mapping[str, str]
    fallback: Done | Failed


Outcome = Done | Failed | Pending


class Failure(Exception):
    """A handler's FAILED answer as an exception: ``reason`` must be safe to show the user."""

    def __init__(self, reason: str, data: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = dict(data or {})


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a handler may know of the invocation serving it."""

    context: Any
    lambda_deadline: float  # on time.monotonic()'s clock
    can_poll: bool  # may return Pending (polling is set up for this request type)

    def work_seconds(self) -> float:
        """Seconds the handler may still work: the answer needs the rest."""
        return max(0.0, self.lambda_deadline - time.monotonic() - RESPONSE_RESERVE_SECONDS)


Handler = Callable[[Request, Invocation], Outcome]


@dataclass(frozen=True, slots=True)
class Handlers:
    """One handler per RequestType, and the poll handlers for the types that may wait."""

    create: Handler
    update: Handler
    delete: Handler
    poll: Mapping[RequestType, Handler] = field(default_factory=dict)

    def for_request(self, request: Request) -> Handler:
        if request.is_poll_tick:
            return self.poll[request.request_type]
        by_type = {RequestType.CREATE: self.create, RequestType.UPDATE: self.update, RequestType.DELETE: self.delete}
        return by_type[request.request_type]


# -- the one answer ---------------------------------------------------------------------------
def failed_create_id(event: Mapping[str, Any], prefix: str) -> str:
    """A marker physical id for a failed Create: the Delete that follows knows it for one."""
    digest = hashlib.sha256(f"{event.get('StackId')}|{event.get('RequestId')}".encode()).hexdigest()[:16]
    return f"{prefix}{digest}"


def _traceback(exc: BaseException, url: str) -> str:
    return redact("".join(traceback.format_exception(exc)), url)


class Answer:
    """The answer to one request in one invocation: the first :meth:`send` goes out, later
    ones (the timer after the handler, or the other way round) are suppressed.

    A FAILED Delete strands the user's stack in DELETE_FAILED, so it is answered SUCCESS with
    the problem in Reason and ``Data.Error`` unless ``delete_may_fail``."""

    def __init__(
        self,
        event: Mapping[str, Any],
        url: str,
        *,
        deadline: float,
        delete_may_fail: bool,
        failed_id: str,
        log_stream: str,
    ) -> None:
        self._event = event
        self._url = url
        self._deadline = deadline
        self._delete_may_fail = delete_may_fail
        self._failed_id = failed_id
        self._log_stream = log_stream
        self._lock = threading.Lock()
        self.body: dict[str, Any] | None = None
        self.delivered = False

    def send(self, outcome: Done | Failed) -> None:
        with self._lock:
            if self.body is not None:
                log.warning("a second response in one invocation was suppressed")
                return
            self.body = body = self._body(outcome)
        self.delivered = put_response(self._url, body, deadline=self._deadline)
        log.info(
            "answered CloudFormation",
            extra={"status": body["Status"], "physical_id": body["PhysicalResourceId"], "delivered": self.delivered},
        )

    def _body(self, outcome: Done | Failed) -> dict[str, Any]:
        request_type = self._event.get("RequestType")
        status = SUCCESS if isinstance(outcome, Done) else FAILED
        reason = redact(outcome.reason, self._url)
        data = {str(k): redact(str(v), self._url) for k, v in outcome.data.items()}
        if status == FAILED and request_type == "Delete" and not self._delete_may_fail:
            data["Error"] = shorten_reason(reason or "unknown error", 200)
            status = SUCCESS
            reason = f"jobjanitor reported a problem (FailOnError is false): {reason}"
        if status == FAILED and not reason:
            reason = f"jobjanitor failed; see log stream {self._log_stream}"
        physical_id = self._failed_id if status == FAILED and request_type == "Create" else ""
        if isinstance(outcome, Done):
            physical_id = outcome.physical_id
        physical_id = physical_id or str(self._event.get("PhysicalResourceId") or "") or self._failed_id
        return {
            "Status": status,
            "Reason": shorten_reason(reason),
            "PhysicalResourceId": physical_id,
            **{name: str(self._event.get(name, "")) for name in ENVELOPE_FIELDS},
            "NoEcho": False,
            "Data": data,
        }


# -- dispatch ---------------------------------------------------------------------------------
class Provider:
    """Serves one Lambda invocation: a request or a polling tick in, one answer (or a
    hand-over to polling) out. Every AWS call made while serving it ends before the
    last-resort timer (``CURRENT_DEADLINE``)."""

    def __init__(
        self,
        handlers: Handlers,
        *,
        polling: Polling | None,
        delete_may_fail: Callable[[object], bool],
        failed_create_prefix: str,
        on_request: Callable[[Request, Any], None] | None = None,
    ) -> None:
        self._handlers = handlers
        self.polling = polling
        self._delete_may_fail = delete_may_fail
        self._failed_prefix = failed_create_prefix
        self._on_request = on_request

    def __call__(self, event: object, context: Any) -> None:
        if not is_tick(event) and not (isinstance(event, Mapping) and _text(event, "ResponseURL")):
            log.error("not a custom-resource request (no ResponseURL): nothing can be answered")
            return
        remaining = context.get_remaining_time_in_millis() / 1000.0
        lambda_deadline = time.monotonic() + remaining
        token = CURRENT_DEADLINE.set(Deadline.after(remaining - TIMER_RESERVE_SECONDS - CALL_MARGIN_SECONDS))
        try:
            request = self._request(event, context, lambda_deadline)
            if request is not None:
                self._serve(request, context, lambda_deadline)
        finally:
            CURRENT_DEADLINE.reset(token)

    def _answer(self, event: Mapping[str, Any], url: str, context: Any, lambda_deadline: float) -> Answer:
        return Answer(
            event,
            url,
            deadline=lambda_deadline - 1.0,
            delete_may_fail=self._delete_may_fail(event.get("ResourceProperties")),
            failed_id=failed_create_id(event, self._failed_prefix),
            log_stream=str(getattr(context, "log_stream_name", "?")),
        )

    def _request(self, event: object, context: Any, lambda_deadline: float) -> Request | None:
        """The request this invocation serves (a tick's is read back from the table), or None
        when there is nothing to answer (a malformed request is answered here)."""
        carried = None
        if is_tick(event):
            if self.polling is None:
                log.error("a polling tick arrived but this function has no polling (no request table)")
                return None
            resumed = self.polling.resume(event, context.function_name)
            if resumed is None:
                return None
            event, carried = resumed
        try:
            return Request.parse(event, carried=carried)
        except RequestError as error:
            if not isinstance(event, Mapping) or "ResponseURL" in error.fields:
                log.error("a stored request without a ResponseURL: nothing can be answered")
                return None
            log.error("malformed custom-resource request", extra={"problem": error.problem})
            answer = self._answer(event, str(event["ResponseURL"]), context, lambda_deadline)
            answer.send(Failed(f"jobjanitor: malformed request: {error.problem}"))
            return None

    def _serve(self, request: Request, context: Any, lambda_deadline: float) -> None:
        answer = self._answer(request.event, request.response_url, context, lambda_deadline)
        if self._on_request is not None:
            self._on_request(request, context)
        seconds = max(0.1, lambda_deadline - time.monotonic() - TIMER_RESERVE_SECONDS)
        timer = threading.Timer(seconds, self._timed_out, args=(answer,))
        timer.daemon = True
        timer.start()
        try:
            can_poll = self.polling is not None and request.request_type in self._handlers.poll
            outcome = self._outcome(request, Invocation(context, lambda_deadline, can_poll))
            answer_now = (
                self._wait(request, outcome, context, can_poll=can_poll) if isinstance(outcome, Pending) else outcome
            )
            if answer_now is None:
                return
            if request.is_poll_tick and self.polling is not None:
                self.polling.remove(request.event, context.function_name)
            answer.send(answer_now)
        except Exception as exc:  # never leave CloudFormation waiting for its ServiceTimeout
            log.error("no response was produced: %s", _traceback(exc, request.response_url))
            answer.send(Failed(NO_ANSWER))
        finally:
            timer.cancel()

    @staticmethod
    def _timed_out(answer: Answer) -> None:
        log.error("Lambda deadline reached before the handler answered; answering now")
        answer.send(Failed(TIMED_OUT))

    def _outcome(self, request: Request, invocation: Invocation) -> Outcome:
        try:
            return self._handlers.for_request(request)(request, invocation)
        except Failure as failure:
            return Failed(failure.reason, failure.data)
        except Exception as exc:
            log.error("handler failed: %s", _traceback(exc, request.response_url))
            return Failed(str(exc) or type(exc).__name__)

    def _wait(self, request: Request, pending: Pending, context: Any, *, can_poll: bool) -> Done | Failed | None:
        """Keep waiting (None: no answer now), or what to answer when waiting cannot go on."""
        if request.is_poll_tick:
            log.info("still waiting; the next tick continues")
            return None
        problem = "no polling for this request"
        if can_poll and self.polling is not None:
            try:
                self.polling.hand_over(request, pending, context.function_name)
                return None
            except Exception as exc:  # answer the fallback; hand_over left nothing behind
                problem = safe_summary(redact(str(exc) or type(exc).__name__, request.response_url), 120)
                log.error("could not hand over to polling; answering now", extra={"error": problem})
        fallback = pending.fallback
        reason = f"{fallback.reason} (polling unavailable: {problem})".strip()
        if isinstance(fallback, Done):
            return Done(fallback.physical_id, fallback.data, reason)
        return Failed(reason, fallback.data)
