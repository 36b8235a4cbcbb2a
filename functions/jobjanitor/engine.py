"""The janitor's engine: discover, select, cancel, wait; one overall deadline.

Public API (the guard, the sweeper and the CLI call exactly these):
``sweep``, ``list_jobs``, ``cancel_in_scope``, ``wait_for``, ``wait_for_scope``, plus
:class:`Deadline` and the progress events :class:`JobEvent` and :class:`PhaseEvent`.

Selection, in order: kind (the policy's kinds), ``job_id_prefix`` (only for kinds whose ids
the caller chooses: the Neptune ML jobs; loads and Glue task runs are scoped by their
endpoint or transform), explicit ``job_ids``
(no describe needed for these two), then a describe decides: gone, finished, ``min_age``
(from the job's own start time; a job whose API gives no start time never matches a
``min_age`` policy: skipped as ``age_unknown``), and only outstanding jobs are acted on. A job
already stopping (Stopping/STOPPING) gets no second cancel; it is waited for like the jobs we
cancel, and reported ``still_running``/``finished``.

No Powertools here (the engine also runs from a laptop): stdlib logging under
``jobjanitor.engine`` plus the ``progress`` callback.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from jobjanitor.clients import build_clients
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.kinds import make_kinds
from jobjanitor.kinds.base import error_text
from jobjanitor.model import JobKindName, JobRef, JobResult, JobState, Outcome, SkipReason
from jobjanitor.report import Report

if TYPE_CHECKING:
    from jobjanitor.ages import FirstSeen
    from jobjanitor.clients import Clients
    from jobjanitor.kinds.base import JobKind
    from jobjanitor.policy import Policy

__all__ = [
    "Deadline",
    "JobEvent",
    "PhaseEvent",
    "Progress",
    "ProgressEvent",
    "cancel_in_scope",
    "list_jobs",
    "sweep",
    "wait_for",
    "wait_for_scope",
]

log = logging.getLogger("jobjanitor.engine")

# Passes over jobs whose describe or cancel failed even after the client's own retries.
SECOND_CHANCES = 2
SECOND_CHANCE_PAUSE_S = 1.0
POLL_INTERVAL_S = 1.0  # the cap; polling starts faster and backs off to this
FIRST_POLL_S = 0.2

T = TypeVar("T")


# -- progress events ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JobEvent:
    """One action on one job. ``action``: cancel, dry-run, stopped, still-running, describe."""

    kind: JobKindName
    job_id: str
    action: str
    outcome: str | None = None
    status: str | None = None
    error: str | None = None

    def message(self) -> str:
        text = f"{self.action} {self.kind} {self.job_id}"
        if self.outcome:
            text += f": {self.outcome}"
        if self.status:
            text += f" ({self.status})"
        if self.error:
            text += f": {self.error}"
        return text

    def log_fields(self) -> dict[str, str]:
        fields = {"kind": self.kind.value, "job_id": self.job_id, "action": self.action}
        for name in ("outcome", "status", "error"):
            value = getattr(self, name)
            if value:
                fields[name] = str(value)
        return fields


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    """A phase starts or ends: discover, select, cancel, wait, done."""

    phase: str
    message_text: str
    count: int | None = None

    def message(self) -> str:
        return f"[{self.phase}] {self.message_text}"

    def log_fields(self) -> dict[str, str]:
        fields = {"phase": self.phase}
        if self.count is not None:
            fields["count"] = str(self.count)
        return fields


ProgressEvent = JobEvent | PhaseEvent
Progress = Callable[[ProgressEvent], None]


# -- public API --------------------------------------------------------------------------
def sweep(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    progress: Progress | None = None,
    first_seen: FirstSeen | None = None,
) -> Report:
    """Discover, select, cancel (``would_cancel`` on a dry run), then wait if ``policy.wait``
    (at most ``policy.max_wait`` seconds, and never past ``deadline``). ``first_seen`` dates
    jobs whose service gives no start time, for ``min_age`` (see :mod:`jobjanitor.ages`)."""
    clients = clients if clients is not None else build_clients(policy)  # once, for both phases
    report = cancel_in_scope(policy, deadline=deadline, clients=clients, progress=progress, first_seen=first_seen)
    if policy.wait and not policy.dry_run:
        report = wait_for(
            report, policy, deadline=deadline.earlier(policy.max_wait), clients=clients, progress=progress
        )
    return report


def list_jobs(
    policy: Policy, *, deadline: Deadline, clients: Clients | None = None, first_seen: FirstSeen | None = None
) -> Report:
    """Discovery, describe and the selection decision; nothing is cancelled. Jobs a sweep
    would cancel are ``would_cancel``; jobs already stopping ``still_running``."""
    with _Run(policy, deadline, clients, None, first_seen) as run:
        return run.select(action=None)


def cancel_in_scope(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    progress: Progress | None = None,
    first_seen: FirstSeen | None = None,
) -> Report:
    """Discover, select and cancel (``would_cancel`` on a dry run). No waiting."""
    with _Run(policy, deadline, clients, progress, first_seen) as run:
        return run.select(action="dry-run" if policy.dry_run else "cancel")


def wait_for(
    report: Report,
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    progress: Progress | None = None,
) -> Report:
    """Wait until the report's cancelled/stopping jobs reach a terminal status, or the
    deadline; the report comes back with final statuses and ``waited=True``."""
    with _Run(policy, deadline, clients, progress) as run:
        return run.wait(report)


def wait_for_scope(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    progress: Progress | None = None,
) -> Report:
    """Rediscover the jobs in scope and wait for the outstanding ones, cancelling nothing
    (the guard's polling ticks, duplicate deliveries). Outstanding jobs end ``finished`` or
    ``still_running``."""
    with _Run(policy, deadline, clients, progress) as run:
        return run.wait(run.select(action="watch"))


class _LedgerError(Exception):
    """The first-seen ledger could not date a job."""


# -- the run -----------------------------------------------------------------------------
class _Run:
    def __init__(
        self,
        policy: Policy,
        deadline: Deadline,
        clients: Clients | None,
        progress: Progress | None,
        first_seen: FirstSeen | None = None,
    ) -> None:
        self.policy = policy
        self._first_seen = first_seen
        # States a listing already returned: no describe call needed for the first decision.
        self._listed: dict[JobRef, JobState] = {}
        self.deadline = deadline
        self._clients = clients
        self._progress = progress
        self._kinds: dict[JobKindName, JobKind] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._token: contextvars.Token[Deadline | None] | None = None

    def __enter__(self) -> _Run:
        if self._clients is None:
            self._clients = build_clients(self.policy)
        self._kinds = {kind.name: kind for kind in make_kinds(self.policy, self._clients)}
        self._token = CURRENT_DEADLINE.set(self.deadline)
        self._pool = ThreadPoolExecutor(max_workers=self.policy.concurrency, thread_name_prefix="jobjanitor")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._token is not None:
            CURRENT_DEADLINE.reset(self._token)

    # -- helpers ---------------------------------------------------------------------
    def emit(self, event: ProgressEvent) -> None:
        failed = event.__class__ is JobEvent and (getattr(event, "outcome", None) == Outcome.FAILED.value)
        if self._progress is not None:
            # The progress sink presents the event (a structured log line in Lambda, a line
            # on stderr in the CLI): logging it here too would print every action twice.
            log.debug(event.message())
        elif failed:
            log.warning(event.message())
        else:
            log.info(event.message())
        if self._progress is not None:
            try:
                self._progress(event)
            except Exception:  # a broken progress sink must not stop a sweep
                log.exception("progress callback failed")

    def _map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> list[Future[T]]:
        if self._pool is None:
            raise RuntimeError("_Run used outside its with-block")
        # Each task runs in a copy of this context, so the clients' retry policy sees the deadline.
        return [self._pool.submit(contextvars.copy_context().run, fn, item) for item in items]

    # -- discover and select ---------------------------------------------------------
    def discover(self, report: Report) -> list[JobRef]:
        kinds = list(self._kinds.values())
        self.emit(PhaseEvent("discover", f"listing {', '.join(k.name for k in kinds)}", len(kinds)))
        refs: list[JobRef] = []
        for kind, future in zip(kinds, self._map(lambda k: k.discover(), kinds), strict=True):
            try:
                found = future.result()
            except Exception as error:  # any failure listing one kind: report it, go on with the rest
                text = f"{kind.name}: listing failed: {error_text(error)}"
                log.warning(text)
                report.errors.append(text)
                continue
            for warning in found.warnings:
                log.warning(warning)
                report.warnings.append(warning)
            refs.extend(found.refs)
            self._listed.update(found.states)
        self.emit(PhaseEvent("discover", f"{len(refs)} job(s) listed", len(refs)))
        return refs

    def select(self, *, action: str | None) -> Report:
        """Discover and decide each job; ``action``: None (list), "cancel", "dry-run",
        "watch" (wait_for_scope: in-scope outstanding jobs become still_running)."""
        policy = self.policy
        report = Report(dry_run=policy.dry_run)
        refs = self.discover(report)
        results: list[JobResult] = []
        to_describe: list[JobRef] = []
        for ref in refs:
            prefix_applies = policy.job_id_prefix and self._kinds[ref.kind].caller_chosen_ids
            if prefix_applies and not ref.job_id.startswith(policy.job_id_prefix or ""):
                results.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.PREFIX))
            elif policy.job_ids and ref.job_id not in policy.job_ids:
                results.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.NOT_LISTED))
            else:
                to_describe.append(ref)
        if policy.job_ids:
            missing = sorted(policy.job_ids - {ref.job_id for ref in refs})
            if missing:
                report.warnings.append(f"job id(s) not found by discovery: {', '.join(missing[:20])}")
        now = datetime.now(UTC)
        futures = self._map(lambda ref: self._decide(ref, now, action), to_describe)
        decided = [f.result() for f in futures]
        results.extend(self._second_chances(decided, now, action))
        report.results = results
        in_scope = sum(1 for r in results if r.outcome is not Outcome.SKIPPED)
        self.emit(PhaseEvent("select", f"{in_scope} job(s) in scope, {len(results) - in_scope} skipped", in_scope))
        return report

    def _second_chances(self, decided: list[JobResult], now: datetime, action: str | None) -> list[JobResult]:
        """Jobs whose describe or cancel failed after the client's retries (a long fault storm)
        get up to ``SECOND_CHANCES`` more passes, after a pause, while the deadline allows.
        A job is decided afresh each time, so a cancel that went through but whose answer was
        lost is seen as stopping, not cancelled twice."""
        for attempt in range(1, SECOND_CHANCES + 1):
            failed = [i for i, r in enumerate(decided) if r.outcome is Outcome.FAILED]
            pause = SECOND_CHANCE_PAUSE_S * attempt
            if not failed or self.deadline.remaining() < pause + 1.0:
                break
            self.emit(PhaseEvent("retry", f"{len(failed)} job(s) failed; another pass in {pause:g}s", len(failed)))
            time.sleep(pause)
            again = self._map(lambda r: self._decide(r.ref, now, action), [decided[i] for i in failed])
            for i, future in zip(failed, again, strict=True):
                decided[i] = future.result()
        return decided

    def _decide(self, ref: JobRef, now: datetime, action: str | None) -> JobResult:  # noqa: PLR0911 - one return per decision
        kind = self._kinds[ref.kind]
        try:
            # A second chance (see _second_chances) describes afresh: the listed state is used once.
            state = self._listed.pop(ref, None) or kind.describe(ref)
        except Exception as error:
            text = f"describe failed: {error_text(error)}"
            self.emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, error=text))
            return JobResult(ref, Outcome.FAILED, error=text, outstanding=True)
        try:
            skip = self._skip_reason(state, now)
        except _LedgerError as error:
            # An in-scope job that cannot be dated is a failure to report (and to retry in a
            # second pass), never a silent skip.
            text = f"first-seen ledger failed: {error}"
            self.emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, state.status, text))
            return JobResult(ref, Outcome.FAILED, state.status, state.status, error=text, outstanding=True)
        if skip is not None:
            return JobResult(
                ref,
                Outcome.SKIPPED,
                status_before=state.status,
                final_status=state.status,
                started_at=state.started_at,
                skip_reason=skip,
                outstanding=state.outstanding,
            )
        base = JobResult(ref, Outcome.WOULD_CANCEL, state.status, state.status, state.started_at, outstanding=True)
        if (state.status and kind.is_stopping(state.status)) or action == "watch":
            return replace(base, outcome=Outcome.STILL_RUNNING)
        if action is None:
            return base
        if action == "dry-run":
            self.emit(JobEvent(ref.kind, ref.job_id, "dry-run", Outcome.WOULD_CANCEL.value, state.status))
            return base
        return self._cancel(kind, base)

    def _skip_reason(self, state: JobState, now: datetime) -> SkipReason | None:
        if state.status is None:
            return SkipReason.GONE
        if not state.outstanding:
            return SkipReason.FINISHED
        if self.policy.min_age is not None:
            started = state.started_at or self._first_sighting(state.ref, now)
            if started is None:
                return SkipReason.AGE_UNKNOWN
            if now - started < self.policy.min_age:
                return SkipReason.TOO_YOUNG
        return None

    def _first_sighting(self, ref: JobRef, now: datetime) -> datetime | None:
        """A lower bound of the age of a job whose service gives no start time."""
        if self._first_seen is None:
            return None
        try:
            return self._first_seen.first_seen(ref, now)
        except Exception as error:  # any ledger fault: the job cannot be dated this pass
            raise _LedgerError(error_text(error)) from error

    def _cancel(self, kind: JobKind, base: JobResult) -> JobResult:
        ref = base.ref
        if self.deadline.expired():
            result = replace(base, outcome=Outcome.FAILED, error="deadline reached before the cancel was sent")
        else:
            answer = kind.cancel(ref, self.policy.clean)
            # After a cancel, only the service's answer (or a later describe) says the status.
            final = answer.status if answer.outcome is not Outcome.FAILED else (answer.status or base.final_status)
            if answer.outcome in (Outcome.CANCELLED, Outcome.FAILED):
                # Until a describe shows a terminal status, a cancelled job is still stopping.
                outstanding = answer.status is None or not kind.is_finished(answer.status)
            else:
                outstanding = False
            if answer.outcome is Outcome.NOT_FOUND:
                final = None
            result = replace(
                base, outcome=answer.outcome, final_status=final, error=answer.error, outstanding=outstanding
            )
        self.emit(JobEvent(ref.kind, ref.job_id, "cancel", result.outcome.value, result.final_status, result.error))
        return result

    # -- wait ------------------------------------------------------------------------
    def wait(self, report: Report) -> Report:
        results = list(report.results)
        pending = [
            i
            for i, r in enumerate(results)
            if r.outstanding and r.outcome in (Outcome.CANCELLED, Outcome.STILL_RUNNING) and r.ref.kind in self._kinds
        ]
        self.emit(PhaseEvent("wait", f"waiting for {len(pending)} job(s) to stop", len(pending)))
        interval = FIRST_POLL_S
        while pending:
            futures = self._map(lambda i: self._poll(results[i]), pending)
            still: list[int] = []
            for i, future in zip(pending, futures, strict=True):
                updated = future.result()
                results[i] = updated
                if updated.outstanding:
                    still.append(i)
                else:
                    self.emit(
                        JobEvent(
                            updated.ref.kind, updated.ref.job_id, "stopped", updated.outcome.value, updated.final_status
                        )
                    )
            pending = still
            if not pending or self.deadline.remaining() <= 0:
                break
            time.sleep(min(interval, self.deadline.remaining()))
            interval = min(POLL_INTERVAL_S, interval * 1.5)
        for i in pending:
            r = results[i]
            self.emit(JobEvent(r.ref.kind, r.ref.job_id, "still-running", r.outcome.value, r.final_status))
        self.emit(PhaseEvent("wait", f"{len(pending)} job(s) still running", len(pending)))
        return report.with_results(results, waited=True)

    def _poll(self, result: JobResult) -> JobResult:
        kind = self._kinds[result.ref.kind]
        try:
            state = kind.describe(result.ref)
        except Exception as error:  # keep waiting: the next round may get through
            log.warning("describe %s %s failed while waiting: %s", result.ref.kind, result.ref.job_id, error)
            return result
        if state.outstanding:
            return replace(result, final_status=state.status)
        outcome = Outcome.FINISHED if result.outcome is Outcome.STILL_RUNNING else result.outcome
        return replace(result, outcome=outcome, final_status=state.status, outstanding=False)
