"""What happens to each job: scope, dating and skip decisions, the cancel and its outcome.

Selection, in order: kind (the policy's kinds), ``job_id_prefix`` (only for kinds whose ids
the caller chooses: the Neptune ML jobs; loads and Glue task runs are scoped by their
endpoint or transform), explicit ``job_ids`` (no describe needed for these two), then a
describe decides: gone, finished, ``min_age`` (from the job's own start time; for a job whose
API gives none, from the jobs doing its work (``dating``: Neptune ML -> SageMaker
CreationTime), else from its first sighting (``first_seen``, reported as such); a job none of
these can date never matches a ``min_age`` policy: skipped as ``age_unknown``), and only
outstanding jobs are acted on. A job seen already stopping (Stopping/STOPPING) gets no second
cancel; it is waited for like the jobs we cancel, and reported ``still_running``/``finished``.
A job whose state the run has read as finished (a listing, a describe) never gets a cancel. A
job cancelled without a describe (below) gets the cancel even if it was already stopping (a
cancel that changes nothing, reported ``cancelled``).

**Describe first, then cancel first while it pays** (:attr:`Mode.CANCEL`; docs/benchmarks.md
measures it). Neptune lists finished jobs with the running ones and gives no state with them. A
describe before the cancel costs one request per job that needs a cancel and saves one (and a
refused cancel, in CloudTrail) per job that does not. So the first ``DESCRIBE_FIRST`` decisions
of a run whose jobs' states are unknown describe first; after them, without a ``min_age``, a
job is cancelled without a describe only while most jobs decided so far in the run needed a
cancel (a sweep of running jobs: one request per job; a cluster's finished history: one
describe per job, no cancel). A refused cancel is decided by one describe (finished -> skipped
as ``finished``, gone -> ``gone``, as a describe first would have said), and counts as a job
that needed none. States a listing returns (Glue) are used as they are. Second passes over
failed jobs describe first: a cancel whose answer was lost must not be taken for a refusal.
:attr:`Mode.DESCRIBE_FIRST` always describes first (a caller that expects most jobs to be
stopping already, like the hook's later invocations).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from jobjanitor.engine.events import Emit, JobEvent, log
from jobjanitor.engine.run import Polled
from jobjanitor.kinds.base import error_text
from jobjanitor.model import CancelResult, JobKindName, JobRef, JobResult, JobState, Outcome, SkipReason

if TYPE_CHECKING:
    from datetime import timedelta

    from jobjanitor.ages import Dating, FirstSeen
    from jobjanitor.billing import BillingCheck
    from jobjanitor.deadline import Deadline
    from jobjanitor.kinds.base import JobKind
    from jobjanitor.policy import Policy

DESCRIBE_FIRST = 16  # a run's first decisions of jobs in an unknown state describe first
NOT_READ = "the wait ended before SageMaker was read"


class Mode(StrEnum):
    """What a run does to each outstanding job in scope."""

    PLAN = "plan"  # nothing: a job a sweep would cancel is ``would_cancel``
    DRY_RUN = "dry-run"  # nothing, and a ``dry-run`` event for each job it would cancel
    CANCEL = "cancel"  # cancel it; describe first only while that pays (module docstring)
    DESCRIBE_FIRST = "describe-first"  # cancel it after a describe, whatever most jobs needed
    WATCH = "watch"  # nothing: an outstanding job is ``still_running``, to be waited for

    @property
    def cancels(self) -> bool:
        return self in (Mode.CANCEL, Mode.DESCRIBE_FIRST)


class DatingError(Exception):
    """A job could not be dated (SageMaker or the first-seen ledger failed)."""


def in_scope(
    policy: Policy, kinds: Mapping[JobKindName, JobKind], refs: Iterable[JobRef], skipped: list[JobResult]
) -> list[JobRef]:
    """The refs the policy's prefix and job ids admit; the others are appended to ``skipped``."""
    admitted: list[JobRef] = []
    for ref in refs:
        prefix_applies = policy.job_id_prefix and kinds[ref.kind].caller_chosen_ids
        if prefix_applies and not ref.job_id.startswith(policy.job_id_prefix or ""):
            skipped.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.PREFIX))
        elif policy.job_ids and ref.job_id not in policy.job_ids:
            skipped.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.NOT_LISTED))
        else:
            admitted.append(ref)
    return admitted


class Ages:
    """Skip decisions from a job's state: gone, finished, too young or of unknown age. Dates
    a job whose service gives no start time: ``dating`` (one read of the jobs doing its work),
    then ``first_seen`` (see :mod:`jobjanitor.ages`)."""

    def __init__(
        self,
        min_age: Callable[[JobKindName], timedelta | None],
        dating: Dating | None,
        first_seen: FirstSeen | None,
    ) -> None:
        self._min_age = min_age  # per kind: an inference endpoint's limit is its own
        self._dating = dating
        self._first_seen = first_seen
        self.dates: dict[JobRef, datetime] = {}  # starts found by ``dating``, for the results
        self.ledger_dated: set[JobRef] = set()  # jobs dated by their first sighting

    def skip_reason(self, state: JobState, now: datetime) -> SkipReason | None:
        """Why the job is left alone, or None; :class:`DatingError` when it cannot be dated."""
        if state.status is None:
            return SkipReason.GONE
        if not state.outstanding:
            return SkipReason.FINISHED
        min_age = self._min_age(state.ref.kind)
        if min_age is not None:
            started = state.started_at or self._dated(state) or self._first_sighting(state.ref, now)
            if started is None:
                return SkipReason.AGE_UNKNOWN
            if now - started < min_age:
                return SkipReason.TOO_YOUNG
        return None

    def _dated(self, state: JobState) -> datetime | None:
        """The start of a job whose service gives none, from the jobs doing its work (one read)."""
        if self._dating is None or not state.underlying:
            return None
        try:
            started = self._dating.started_at(state.underlying)
        except Exception as error:  # any fault: the job cannot be dated this pass
            first = state.underlying[0]
            raise DatingError(f"dating from {first.member} {first.name} failed: {error_text(error)}") from error
        if started is not None:
            self.dates[state.ref] = started
        return started

    def _first_sighting(self, ref: JobRef, now: datetime) -> datetime | None:
        """A lower bound of the age of a job whose service gives no start time (the fallback
        for a job that names no underlying job yet)."""
        if self._first_seen is None:
            return None
        try:
            seen = self._first_seen.first_seen(ref, now)
        except Exception as error:  # any ledger fault: the job cannot be dated this pass
            raise DatingError(f"first-seen ledger failed: {error_text(error)}") from error
        self.ledger_dated.add(ref)
        return seen

    def ledger_warning(self) -> str | None:
        """The report's warning naming the jobs dated by their first sighting, if any."""
        if not self.ledger_dated:
            return None
        ids = sorted(ref.job_id for ref in self.ledger_dated)
        return (
            f"{len(ids)} job(s) named no SageMaker job yet, so their age is the first-seen ledger's (a lower "
            f"bound: the first sweep that saw them): {', '.join(ids[:20])}{', …' if len(ids) > 20 else ''}"
        )


class CancelFirst:
    """Whether a job in an unknown state is cancelled without a describe (the module
    docstring): not for a run's first ``DESCRIBE_FIRST`` such jobs, then while most jobs decided
    so far needed a cancel. Thread-safe (decisions run on the pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = 0
        self._needed = 0  # jobs decided that needed a cancel
        self._not_needed = 0  # ... that did not: finished, gone, already stopping

    def pays(self) -> bool:
        with self._lock:
            self._asked += 1
            return self._asked > DESCRIBE_FIRST and self._needed > self._not_needed

    def learn(self, result: JobResult) -> None:
        with self._lock:
            if result.outcome is Outcome.CANCELLED:
                self._needed += 1
            elif result.outcome is not Outcome.FAILED:
                self._not_needed += 1


def after_cancel(kind: JobKind, base: JobResult, answer: CancelResult, *, cancel_first: bool) -> JobResult:
    """The job's result from the service's answer to its cancel."""
    if cancel_first and answer.outcome in (Outcome.ALREADY_FINISHED, Outcome.NOT_FOUND):
        # Refused, and the describe the kind then made says why: what a describe first
        # would have said, so the report does not depend on the order of the calls.
        finished = answer.outcome is Outcome.ALREADY_FINISHED
        return replace(
            base,
            outcome=Outcome.SKIPPED,
            status_before=answer.status,
            final_status=answer.status,
            skip_reason=SkipReason.FINISHED if finished else SkipReason.GONE,
            outstanding=False,
        )
    # After a cancel, only the service's answer (or a later describe) says the status.
    final = answer.status if answer.outcome is not Outcome.FAILED else (answer.status or base.final_status)
    if answer.outcome in (Outcome.CANCELLED, Outcome.FAILED, Outcome.STILL_RUNNING):
        # Until a describe shows a terminal status, a cancelled job is still stopping.
        outstanding = answer.status is None or not kind.is_finished(answer.status)
    else:
        outstanding = False
    if answer.outcome is Outcome.NOT_FOUND:
        final = None
    return replace(base, outcome=answer.outcome, final_status=final, error=answer.error, outstanding=outstanding)


class Decider:
    """Decides one job at a time (thread-safe: decisions run on the pool). ``listed`` hands
    over the state a listing returned for a job, once (None: unknown, a describe is needed)."""

    def __init__(
        self,
        policy: Policy,
        kinds: Mapping[JobKindName, JobKind],
        *,
        listed: Callable[[JobRef], JobState | None],
        ages: Ages,
        emit: Emit,
        deadline: Deadline,
        billing: BillingCheck | None = None,
    ) -> None:
        self._billing = billing  # the SageMaker side of a job seen stopped (jobjanitor.billing)
        self._policy = policy
        self._kinds = kinds
        self._listed = listed
        self._ages = ages
        self._emit = emit
        self._deadline = deadline
        self._cancel_first = CancelFirst()

    def decide(self, ref: JobRef, now: datetime, mode: Mode, *, fresh: bool = False) -> JobResult:
        """The job's result under ``mode``, its cancel sent if it needs one. ``fresh``: a second
        pass over a failed decision, which describes first."""
        result = self._decide(ref, now, mode, fresh=fresh)
        self._cancel_first.learn(result)
        return result

    def _decide(self, ref: JobRef, now: datetime, mode: Mode, *, fresh: bool) -> JobResult:
        kind = self._kinds[ref.kind]
        listed = self._listed(ref)
        unknown = listed is None and not fresh and mode is Mode.CANCEL and self._policy.min_age_for(ref.kind) is None
        if unknown and self._cancel_first.pays():
            # Cancel first: only a refused cancel needs a describe (the kind makes it).
            return self._cancel(kind, JobResult(ref, Outcome.WOULD_CANCEL, outstanding=True), cancel_first=True)
        try:
            state = listed or kind.describe(ref)
        except Exception as error:
            text = f"describe failed: {error_text(error)}"
            self._emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, error=text))
            return JobResult(ref, Outcome.FAILED, error=text, outstanding=True)
        try:
            skip = self._ages.skip_reason(state, now)
        except DatingError as error:
            # An in-scope job that cannot be dated is a failure to report (and to retry in a
            # second pass), never a silent skip.
            text = str(error)
            self._emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, state.status, text))
            return JobResult(ref, Outcome.FAILED, state.status, state.status, error=text, outstanding=True)
        if state.started_at is None and ref in self._ages.dates:
            state = replace(state, started_at=self._ages.dates[ref])  # the report shows the start found
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
        return self._act(kind, state, mode)

    def _act(self, kind: JobKind, state: JobState, mode: Mode) -> JobResult:
        """An outstanding job in scope, by ``mode``."""
        ref = state.ref
        base = JobResult(
            ref,
            Outcome.WOULD_CANCEL,
            state.status,
            state.status,
            state.started_at,
            outstanding=True,
            underlying=state.underlying,
        )
        if (state.status and kind.is_stopping(state.status)) or mode is Mode.WATCH:
            return replace(base, outcome=Outcome.STILL_RUNNING)
        if mode is Mode.DRY_RUN:
            self._emit(JobEvent(ref.kind, ref.job_id, "dry-run", Outcome.WOULD_CANCEL.value, state.status))
        if not mode.cancels:
            return base
        return self._cancel(kind, base)

    def _cancel(self, kind: JobKind, base: JobResult, *, cancel_first: bool = False) -> JobResult:
        ref = base.ref
        if self._deadline.expired():
            result = replace(base, outcome=Outcome.FAILED, error="deadline reached before the cancel was sent")
        else:
            result = after_cancel(kind, base, kind.cancel(ref, self._policy.clean), cancel_first=cancel_first)
            if result.outcome is Outcome.SKIPPED:  # a refused cancel-first: the job needed none
                return result
        self._emit(JobEvent(ref.kind, ref.job_id, "cancel", result.outcome.value, result.final_status, result.error))
        return result

    def waits_for(self, result: JobResult) -> bool:
        """Whether a wait polls this job: cancelled or seen stopping, and still outstanding."""
        return (
            result.outstanding
            and result.outcome in (Outcome.CANCELLED, Outcome.STILL_RUNNING)
            and result.ref.kind in self._kinds
        )

    def verifies(self, kind: JobKindName) -> bool:
        """Whether a job of ``kind`` may need :meth:`verify` once its service reads it stopped."""
        return self._billing is not None and kind in self._kinds and self._kinds[kind].runs_elsewhere

    def poll(self, result: JobResult) -> tuple[JobResult, Polled]:
        """The job described again (:attr:`Polled.FAILED`: the describe failed, polled again
        later). A job that names the SageMaker resources it ran on is :attr:`Polled.VERIFY`
        once its service reads it stopped: still outstanding until :meth:`verify` agrees."""
        kind = self._kinds[result.ref.kind]
        try:
            state = kind.describe(result.ref)
        except Exception as error:  # keep waiting: the next round may get through
            log.warning("describe %s %s failed while waiting: %s", result.ref.kind, result.ref.job_id, error)
            return result, Polled.FAILED
        underlying = state.underlying or result.underlying  # a job gone names nothing any more
        polled = replace(result, final_status=state.status, underlying=underlying)
        if state.outstanding:
            return polled, Polled.RUNNING
        if self._billing is not None and underlying:
            return polled, Polled.VERIFY  # Neptune is done; SageMaker is read with other jobs'
        return _stopped(polled, None), Polled.STOPPED

    def verify(self, results: Sequence[JobResult]) -> list[JobResult]:
        """The SageMaker side of jobs Neptune reads stopped, read together
        (:meth:`jobjanitor.billing.BillingCheck.verdicts`): each stopped, or still outstanding
        with what still runs (polled again)."""
        if self._billing is None:
            return [_stopped(r, None) for r in results]
        try:
            verdicts = self._billing.verdicts([r.underlying for r in results])
        except Exception as error:  # a fault of our own: taken as Neptune says, and said
            return [_stopped(r, f"billing unverified: {error_text(error, 160)}") for r in results]
        return [
            _stopped(r, note) if stopped else replace(r, billing=note)
            for r, (stopped, note) in zip(results, verdicts, strict=True)
        ]

    def unverified(self, result: JobResult) -> JobResult:
        """A job Neptune read stopped whose SageMaker side the wait ended before reading."""
        return _stopped(result, f"billing unverified: {NOT_READ}")


def _stopped(result: JobResult, billing: str | None) -> JobResult:
    """``result`` of a job seen stopped: ``finished`` if it was only waited for."""
    outcome = Outcome.FINISHED if result.outcome is Outcome.STILL_RUNNING else result.outcome
    return replace(result, outcome=outcome, outstanding=False, billing=billing)
