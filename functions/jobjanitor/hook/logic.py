"""One hook invocation: resolve the resource, stop what runs on it, answer.

**The promise** (docs/hook.md, "What the hook promises"): before CloudFormation deletes a
configured Neptune cluster or Glue ML transform, every outstanding job on it has been asked to
stop and has accepted (or was already stopping). Not that every job has stopped: three
invocations of 30 s cannot wait for a SageMaker job that takes minutes to stop.

Each invocation has CloudFormation's 30 seconds, less a margin for the answer. Within it:
cancel every outstanding job in scope (jobs already stopping get no second cancel), then wait
for them to stop until the invocation's deadline. Then it answers on what is left, by whether
time or a retry can change it:

- Everything stopped -> ``SUCCESS``.
- Every job accepted its cancel, some are still stopping:

  - a Neptune cluster -> ``SUCCESS``, naming them. Its deletion does not need them stopped:
    a Neptune ML job's work runs in SageMaker, which stops it with or without the cluster, and
    a load ends with the cluster. Holding the delete would protect nothing.
  - a Glue ML transform -> ``IN_PROGRESS`` while invocations remain, then ``FAILED`` naming
    them. A task run can be read and cancelled only through its transform: ``Fail`` keeps the
    transform until its runs have stopped (delete again then), ``Warn`` lets the delete go on.

- A listing or a cancel that failed, an AWS fault while resolving, a job not yet cancelled (a
  duplicate delivery that watches): ``IN_PROGRESS`` with a ``callbackContext`` counting our
  IN_PROGRESS answers and ``callbackDelaySeconds``; the next invocation rediscovers the scope,
  cancels what is still outstanding and waits again. At the last invocation allowed
  (:data:`MAX_INVOCATIONS`) ``FAILED``, naming what is wrong: the hook's FailureMode (the same
  ``TeardownHook`` setting) decides: ``Warn`` the delete proceeds with that warning, ``Fail``
  it stops.
- A listing at its cap (``ListLoaderJobs`` 100 ids, ``ListML*Jobs`` 1,024; finished jobs count),
  after the engine listed again where that helps: no retry sees past it, so it never makes the
  answer ``IN_PROGRESS`` or ``FAILED`` on its own. The answer names the operation and the cap:
  at most a ``SUCCESS`` that says what could not be seen.

``TeardownHook=Audit``: resolve, then a dry run (list and decide; one ``dry-run`` log line and
the ``JobsWouldCancel`` metric per job it would cancel), cancel nothing, and always answer
``SUCCESS`` naming what it would have cancelled and any problem met.

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
from jobjanitor.engine import Mode
from jobjanitor.errors import ConfigError
from jobjanitor.hook.config import AUDIT, HookConfig
from jobjanitor.hook.request import (
    FAILED,
    GLUE_TRANSFORM,
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
from jobjanitor.kinds import make_kinds
from jobjanitor.kinds.base import error_text
from jobjanitor.model import JobRef, Outcome
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
        if self.config.mode == AUDIT:
            return self._audit(request, target, target.policy, deadline)
        policy = replace(target.policy, max_wait=max(1.0, deadline.remaining()))
        clients = self.clients.for_policy(policy)
        if not cancel:
            report = engine.sweep(policy, mode=Mode.WATCH, deadline=deadline, clients=clients, progress=self._progress)
        else:
            # A later invocation describes first: the earlier ones cancelled, so most jobs are
            # stopping already, and a job still stopping gets no second cancel.
            mode = Mode.CANCEL if request.in_progress_answers == 0 else Mode.DESCRIBE_FIRST
            report = engine.sweep(
                policy, mode=mode, wait=False, deadline=deadline, clients=clients, progress=self._progress
            )
            report = engine.wait_for(report, policy, deadline=deadline, clients=clients, progress=self._progress)
        if self._on_report is not None:
            self._on_report(report, target)
        unaccepted = _not_asked_to_stop(report, policy, clients) if not cancel else []
        return self._verdict(request, target, report, unaccepted)

    def _verdict(
        self, request: HookRequest, target: Target, report: Report, unaccepted: list[JobRef]
    ) -> dict[str, Any]:
        """The answer on what is left (module docstring): what a retry may change keeps the
        hook going; jobs that accepted their cancel hold only a transform's delete; a cap never
        holds anything, and is named."""
        cap = _cap_note(report)
        problems = _retryable(report, unaccepted)
        if problems:
            return self.not_done(request, f"{target.label}: {'; '.join(problems)}{cap}", NON_COMPLIANT, report)
        if report.stopping and request.target_name == GLUE_TRANSFORM:
            problem = f"{target.label}: {len(report.stopping)} task run(s) accepted their cancel and are still stopping"
            return self.not_done(request, problem + cap, NON_COMPLIANT, report, then=RUNS_STOPPING_THEN)
        return answer(request.token, SUCCESS, f"{PREFIX}: {target.label}: {_stopped(report)}{cap}")

    def _audit(self, request: HookRequest, target: Target, policy: Policy, deadline: Deadline) -> dict[str, Any]:
        """TeardownHook=Audit: what a teardown would cancel, reported; nothing cancelled."""
        policy = replace(policy, dry_run=True, wait=False)
        clients = self.clients.for_policy(policy)
        report = engine.sweep(policy, mode=Mode.DRY_RUN, deadline=deadline, clients=clients, progress=self._progress)
        if self._on_report is not None:
            self._on_report(report, target)
        would = [f"{r.ref.kind}:{r.ref.job_id}" for r in report.results if r.outcome is Outcome.WOULD_CANCEL]
        head = f"{PREFIX}: {AUDIT_HEAD}: {target.label}: would cancel {len(would)} job(s)"
        if report.stopping:
            head += f", {len(report.stopping)} already stopping"
        problems = _retryable(report, [])
        if problems:
            head += f"; {'; '.join(problems)}"
        head += _cap_note(report)
        if would:
            head += f": {id_list(would, MAX_MESSAGE - len(head) - 2)}"
        return answer(request.token, SUCCESS, head)

    def not_done(
        self,
        request: HookRequest,
        problem: str,
        error_code: str,
        report: Report | None = None,
        *,
        then: str = "",
    ) -> dict[str, Any]:
        """Not done yet: IN_PROGRESS while invocations remain, then the final answer (FAILED,
        which the FailureMode turns into a warning or a stop; in Audit, SUCCESS). ``then``: what
        to do after a stopped delete."""
        if self.config.mode == AUDIT:
            return self.final_failure(request.token, f"{PREFIX}: {problem}", error_code)
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
        if self.config.mode == "Warn":
            consequence = "the delete proceeds with this warning (TeardownHook=Warn)"
        else:
            consequence = f"the delete is stopped (TeardownHook=Fail{then or '; delete again to retry'})"
        head = f"{PREFIX}: after {MAX_INVOCATIONS} invocations, {consequence}: {problem}"
        if report is not None:
            head += _named(report, head)
        return self.final_failure(request.token, head, error_code)

    def final_failure(self, token: str, message: str, error_code: str) -> dict[str, Any]:
        """FAILED, except in Audit mode, which always answers SUCCESS (saying what went wrong)."""
        if self.config.mode == AUDIT:
            return answer(token, SUCCESS, f"{message} ({AUDIT_HEAD})")
        return answer(token, FAILED, message, error_code=error_code)


AUDIT_HEAD = "audit (TeardownHook=Audit), nothing cancelled"
RUNS_STOPPING_THEN = "; delete again once they have stopped: a run can be read and cancelled only through its transform"


def _first_invoked(request: HookRequest) -> int:
    first = request.callback_context.get("firstInvokedAt")
    return first if isinstance(first, int) and not isinstance(first, bool) else int(time.time())


def _not_asked_to_stop(report: Report, policy: Policy, clients: Clients) -> list[JobRef]:
    """A watching delivery's jobs still running, not stopping: nobody's cancel reached them yet."""
    kinds = {kind.name: kind for kind in make_kinds(policy, clients)}
    return [
        r.ref
        for r in report.results
        if r.outstanding
        and r.outcome is Outcome.STILL_RUNNING
        and not (r.final_status and kinds[r.ref.kind].is_stopping(r.final_status))
    ]


def _retryable(report: Report, unaccepted: list[JobRef]) -> list[str]:
    """What a later invocation may change, each named."""
    parts: list[str] = []
    if report.errors:
        parts.append(f"{len(report.errors)} listing(s) failed (first: {report.errors[0]})")
    if report.failures:
        first = report.failures[0]
        parts.append(
            f"{len(report.failures)} cancel(s) failed (first: {first.ref.kind} {first.ref.job_id}: {first.error})"
        )
    if unaccepted:
        parts.append(f"{len(unaccepted)} job(s) still running, not yet cancelled (first: {unaccepted[0].job_id})")
    return parts


def _cap_note(report: Report) -> str:
    """The listings at their cap, as the engine words them (operation and cap), or ''."""
    if not report.incomplete:
        return ""
    return (
        f". Discovery incomplete: {'; '.join(report.incomplete)} (finished jobs count toward the cap and "
        "no retry sees past it: jobs beyond it were neither seen nor cancelled)"
    )


def _named(report: Report, head: str) -> str:
    """The jobs still stopping and the cancels that failed, by id, within the message limit."""
    text = ""
    stopping = [f"{ref.kind}:{ref.job_id}" for ref in report.stopping]
    failed = [f"{r.ref.kind}:{r.ref.job_id}" for r in report.failures]
    if stopping:
        text += f". Still stopping: {id_list(stopping, (MAX_MESSAGE - len(head)) // 2)}"
    if failed:
        text += f". Cancel failed: {id_list(failed, MAX_MESSAGE - len(head) - len(text) - 20)}"
    return text


def _stopped(report: Report) -> str:
    counts = report.counts()
    acted = counts[Outcome.CANCELLED] + counts[Outcome.FINISHED] + counts[Outcome.STILL_RUNNING]
    if not report.results:
        return "no jobs found: nothing to stop"
    if not acted:
        return f"{len(report.results)} job(s) found, none outstanding: everything on it has stopped"
    stopping = report.stopping
    parts = [
        f"{counts[Outcome.CANCELLED]} job(s) cancelled",
        f"{counts[Outcome.FINISHED] + counts[Outcome.STILL_RUNNING]} already stopping",
        f"{counts[Outcome.ALREADY_FINISHED] + counts[Outcome.NOT_FOUND]} finished on their own",
    ]
    text = ", ".join(p for p in parts if not p.startswith("0 "))
    if not stopping:
        return text + ": everything on it has stopped"
    ids = id_list([f"{ref.kind}:{ref.job_id}" for ref in stopping], MAX_MESSAGE // 2)
    return (
        f"{text}: every job accepted its cancel; {len(stopping)} still stopping, which the cluster's deletion "
        f"does not wait for (SageMaker stops a Neptune ML job's work with or without the cluster; a load "
        f"ends with it): {ids}"
    )
