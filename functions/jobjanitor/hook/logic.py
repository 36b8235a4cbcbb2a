"""One hook invocation: resolve the resource, stop what runs on it, answer.

Each invocation has CloudFormation's 30 seconds, less a margin for the answer. Within it:
cancel every outstanding job in scope (jobs already stopping get no second cancel), then wait
for them to stop until the invocation's deadline.

- Everything stopped -> ``SUCCESS``.
- Jobs still stopping, a cancel that failed, a listing that failed, or an AWS fault while
  resolving -> ``IN_PROGRESS`` with a ``callbackContext`` counting our IN_PROGRESS answers and
  ``callbackDelaySeconds``: CloudFormation invokes again, and the next invocation rediscovers
  the scope, cancels what is still outstanding and waits again.
- At the last invocation allowed (:data:`MAX_INVOCATIONS`) it answers ``FAILED``, naming the
  jobs still stopping: the hook's FailureMode (the same ``TeardownHook`` setting) then decides:
  ``Warn`` lets the delete proceed with that warning, ``Fail`` stops it.

Nothing is carried between invocations but the count: the scope is resolved afresh each time.
A later invocation looks before it cancels, so a job still stopping gets no second cancel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from jobjanitor import engine
from jobjanitor.clients import ClientCache, Clients
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline, LambdaContextLike
from jobjanitor.errors import ConfigError
from jobjanitor.hook.config import HookConfig
from jobjanitor.hook.request import (
    FAILED,
    IN_PROGRESS,
    IN_PROGRESS_KEY,
    INTERNAL_FAILURE,
    MAX_MESSAGE,
    NON_COMPLIANT,
    SUCCESS,
    HookRequest,
    answer,
    id_list,
)
from jobjanitor.hook.targets import ResolutionError, Resolver, Target
from jobjanitor.kinds.base import error_text
from jobjanitor.model import Outcome
from jobjanitor.policy import Policy
from jobjanitor.report import Report

log = logging.getLogger("jobjanitor.hook")

# CloudFormation waits up to 30 s for each invocation.
INVOCATION_LIMIT_S = 30.0
# Work stops this long before CloudFormation's limit (a cold start and the answer's own
# bookkeeping come out of the same 30 s) ...
LIMIT_MARGIN_S = 5.0
# ... and this long before the Lambda's own timeout, whichever comes first.
CONTEXT_MARGIN_S = 1.0
# "A Hook can return IN_PROGRESS 3 times ... your Lambda function can be invoked up to 3
# times" (Hooks user guide). The two readings differ by one invocation: we take the smaller,
# so the third invocation always gives a final answer and CloudFormation never fails the hook
# for us.
MAX_INVOCATIONS = 3
PREFIX = "jobjanitor"

ReportSink = Callable[[Report, Target], None]


def invocation_deadline(context: LambdaContextLike) -> Deadline:
    remaining = context.get_remaining_time_in_millis() / 1000.0
    return Deadline.after(min(remaining - CONTEXT_MARGIN_S, INVOCATION_LIMIT_S - LIMIT_MARGIN_S))


class Hook:
    def __init__(
        self,
        config: HookConfig,
        *,
        resolver: Resolver | None = None,
        clients: ClientCache | None = None,
        progress: engine.Progress | None = None,
        on_report: ReportSink | None = None,
    ) -> None:
        self.config = config
        self.resolver = resolver or Resolver(config)
        self.clients = clients or ClientCache()
        self._progress = progress
        self._on_report = on_report

    def evaluate(self, request: HookRequest, deadline: Deadline, *, cancel: bool = True) -> dict[str, Any]:
        """The answer to one invocation of a handled request. ``cancel=False`` watches without
        cancelling (a duplicate delivery while the first is still at work)."""
        token = CURRENT_DEADLINE.set(deadline)
        try:
            target = self.resolver.resolve(request)
        except (ResolutionError, ConfigError) as error:
            return self.not_done(request, f"could not resolve {request.logical_id}: {error}", INTERNAL_FAILURE)
        except Exception as error:  # an AWS fault after retries: retried at the next invocation
            return self.not_done(
                request, f"could not resolve {request.logical_id}: {error_text(error)}", INTERNAL_FAILURE
            )
        finally:
            CURRENT_DEADLINE.reset(token)
        if target.policy is None:
            return answer(request.token, SUCCESS, f"{PREFIX}: {target.label}: {target.note}")
        policy = replace(target.policy, max_wait=max(1.0, deadline.remaining()))
        clients = self.clients.for_policy(policy)
        if not cancel:
            report = engine.wait_for_scope(policy, deadline=deadline, clients=clients, progress=self._progress)
        elif request.in_progress_answers == 0:
            report = engine.cancel_in_scope(policy, deadline=deadline, clients=clients, progress=self._progress)
            report = engine.wait_for(report, policy, deadline=deadline, clients=clients, progress=self._progress)
        else:
            report = self._cancel_what_is_not_stopping(policy, deadline, clients)
            report = engine.wait_for(report, policy, deadline=deadline, clients=clients, progress=self._progress)
        if self._on_report is not None:
            self._on_report(report, target)
        if report.ok:
            return answer(request.token, SUCCESS, f"{PREFIX}: {target.label}: {_stopped(report)}")
        return self.not_done(request, f"{target.label}: {_problems(report)}", NON_COMPLIANT, report)

    def _cancel_what_is_not_stopping(self, policy: Policy, deadline: Deadline, clients: Clients) -> Report:
        """A later invocation: the earlier ones cancelled, so look first and cancel only what is
        outstanding and not stopping (a queued load that started since, a cancel that failed):
        the engine cancels first, and would send every job still stopping a second cancel."""
        seen = engine.list_jobs(policy, deadline=deadline, clients=clients)
        to_cancel = frozenset(r.ref.job_id for r in seen.results if r.outcome is Outcome.WOULD_CANCEL)
        if not to_cancel:
            return seen
        narrowed = replace(policy, job_ids=to_cancel)
        cancelled = engine.cancel_in_scope(narrowed, deadline=deadline, clients=clients, progress=self._progress)
        results = [r for r in seen.results if r.outcome is not Outcome.WOULD_CANCEL]
        results += [r for r in cancelled.results if r.outcome is not Outcome.SKIPPED]
        return Report(
            results=results,
            warnings=seen.warnings + cancelled.warnings,
            errors=seen.errors + cancelled.errors,
        )

    def not_done(
        self, request: HookRequest, problem: str, error_code: str, report: Report | None = None
    ) -> dict[str, Any]:
        answered = request.in_progress_answers
        if answered + 1 < MAX_INVOCATIONS:
            context = {IN_PROGRESS_KEY: answered + 1, "firstInvokedAt": _first_invoked(request)}
            return answer(
                request.token,
                IN_PROGRESS,
                f"{PREFIX}: {problem} (invocation {answered + 1} of {MAX_INVOCATIONS}; "
                f"again in {self.config.callback_delay_seconds}s)",
                callback_context=context,
                callback_delay_seconds=self.config.callback_delay_seconds,
            )
        consequence = (
            "the delete proceeds with this warning (TeardownHook=Warn)"
            if self.config.mode == "Warn"
            else "the delete is stopped (TeardownHook=Fail)"
        )
        head = f"{PREFIX}: after {MAX_INVOCATIONS} invocations, {consequence}: {problem}"
        if report is not None:
            stopping = [f"{ref.kind}:{ref.job_id}" for ref in report.stopping]
            failed = [f"{r.ref.kind}:{r.ref.job_id}" for r in report.failures]
            if stopping:
                head += f". Still stopping: {id_list(stopping, (MAX_MESSAGE - len(head)) // 2)}"
            if failed:
                head += f". Cancel failed: {id_list(failed, MAX_MESSAGE - len(head) - 20)}"
        return answer(request.token, FAILED, head, error_code=error_code)


def _first_invoked(request: HookRequest) -> int:
    first = request.callback_context.get("firstInvokedAt")
    return first if isinstance(first, int) and not isinstance(first, bool) else int(time.time())


def _stopped(report: Report) -> str:
    counts = report.counts()
    acted = counts[Outcome.CANCELLED] + counts[Outcome.FINISHED] + counts[Outcome.STILL_RUNNING]
    if not report.results:
        return "no jobs found: nothing to stop"
    if not acted:
        return f"{len(report.results)} job(s) found, none outstanding: everything on it has stopped"
    parts = [
        f"{counts[Outcome.CANCELLED]} job(s) cancelled",
        f"{counts[Outcome.FINISHED] + counts[Outcome.STILL_RUNNING]} already stopping",
        f"{counts[Outcome.ALREADY_FINISHED] + counts[Outcome.NOT_FOUND]} finished on their own",
    ]
    return ", ".join(p for p in parts if not p.startswith("0 ")) + ": everything on it has stopped"


def _problems(report: Report) -> str:
    parts: list[str] = []
    if report.errors:
        parts.append(f"{len(report.errors)} listing(s) failed (first: {report.errors[0]})")
    if report.failures:
        first = report.failures[0]
        parts.append(
            f"{len(report.failures)} cancel(s) failed (first: {first.ref.kind} {first.ref.job_id}: {first.error})"
        )
    if report.stopping:
        parts.append(f"{len(report.stopping)} job(s) still stopping")
    return "; ".join(parts) or "not complete"
