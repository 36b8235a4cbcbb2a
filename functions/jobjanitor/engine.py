"""The janitor's engine: discover, select, cancel, wait; one overall deadline.

Public API (the guard, the sweeper and the CLI call exactly these):
``sweep``, ``list_jobs``, ``cancel_in_scope``, ``wait_for``, ``wait_for_scope``, plus
:class:`Deadline` and the progress events :class:`JobEvent` and :class:`PhaseEvent`.

Selection, in order: kind (the policy's kinds), ``job_id_prefix`` (only for kinds whose ids
the caller chooses: the Neptune ML jobs; loads and Glue task runs are scoped by their
endpoint or transform), explicit ``job_ids``
(no describe needed for these two), then a describe decides: gone, finished, ``min_age``
(from the job's own start time; for a job whose API gives none, from the jobs doing its work
(``dating``: Neptune ML -> SageMaker CreationTime), else from its first sighting
(``first_seen``, reported as such); a job none of these can date never matches a ``min_age``
policy: skipped as ``age_unknown``), and only outstanding jobs are acted on. A job seen
already stopping (Stopping/STOPPING) gets no second cancel; it is waited for like the jobs we
cancel, and reported ``still_running``/``finished``. A job whose state the run has read as
finished (a listing, a describe) never gets a cancel. A job cancelled without a describe
(below) gets the cancel even if it was already stopping (a cancel that changes nothing,
reported ``cancelled``).

How a sweep spends requests (docs/benchmarks.md measures it):

- **Describe first, then cancel first while it pays.** Neptune lists finished jobs with the
  running ones and gives no state with them. A describe before the cancel costs one request
  per job that needs a cancel and saves one (and a refused cancel, in CloudTrail) per job that
  does not. So the first ``DESCRIBE_FIRST`` decisions of a sweep whose jobs' states are
  unknown describe first; after them, without a ``min_age``, a job is cancelled without a
  describe only while most jobs decided so far in the run needed a cancel (a sweep of running
  jobs: one request per job; a cluster's finished history: one describe per job, no cancel).
  A refused cancel is decided by one describe (finished -> skipped as ``finished``, gone ->
  ``gone``, as a describe first would have said), and counts as a job that needed none.
  States a listing returns (Glue) are used as they are. Second passes over failed jobs
  describe first: a cancel whose answer was lost must not be taken for a refusal.
- **The wait overlaps the cancels** (``sweep``): a job cancelled early is polled while later
  ones are still being cancelled, ``concurrency`` requests in flight at most. When to poll
  follows the stop delay polls observe, per kind (:class:`_Waiter`), rather than a fixed
  back-off: one probe per kind until a job of that kind is seen stopped, then every job of the
  kind once, that long after its cancel.
- **Discovery in parallel** where the API allows (each kind's lists at once; a kind may fan out
  its own independent lists through the ``fan_out`` it is given, as Glue does per transform and
  status).

No Powertools here (the engine also runs from a laptop): stdlib logging under
``jobjanitor.engine`` plus the ``progress`` callback.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from jobjanitor.clients import build_clients
from jobjanitor.deadline import CURRENT_DEADLINE, SYSTEM_CLOCK, Deadline
from jobjanitor.kinds import make_kinds
from jobjanitor.kinds.base import error_text
from jobjanitor.model import JobKindName, JobRef, JobResult, JobState, Outcome, SkipReason
from jobjanitor.report import Report

if TYPE_CHECKING:
    from jobjanitor.ages import Dating, FirstSeen
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
POLL_INTERVAL_S = 1.0  # the longest pause between two polls of one stopping job
FIRST_POLL_S = 0.05  # a kind's first probe after its cancel; the shortest pause between polls
POLL_GROWTH = 1.5  # a job still stopping after t seconds is polled again about t/2 later
WAKE_S = 0.25  # an idle worker looks at the deadline at least this often
DESCRIBE_FIRST = 16  # a sweep's first decisions of jobs in an unknown state describe first

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
    dating: Dating | None = None,
) -> Report:
    """Discover, select, cancel (``would_cancel`` on a dry run), then wait if ``policy.wait``
    (at most ``policy.max_wait`` seconds, and never past ``deadline``). ``dating``, then
    ``first_seen``, date jobs whose service gives no start time, for ``min_age`` (see
    :mod:`jobjanitor.ages`)."""
    clients = clients if clients is not None else build_clients(policy)  # once, for both phases
    if policy.wait and not policy.dry_run:
        # One run: the wait overlaps the cancels (see the module docstring).
        with _Run(policy, deadline, clients, progress, first_seen=first_seen, dating=dating) as run:
            return run.select(action="cancel", wait=True)
    return cancel_in_scope(
        policy, deadline=deadline, clients=clients, progress=progress, first_seen=first_seen, dating=dating
    )


def list_jobs(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    first_seen: FirstSeen | None = None,
    dating: Dating | None = None,
) -> Report:
    """Discovery, describe and the selection decision; nothing is cancelled. Jobs a sweep
    would cancel are ``would_cancel``; jobs already stopping ``still_running``."""
    with _Run(policy, deadline, clients, None, first_seen=first_seen, dating=dating) as run:
        return run.select(action=None)


def cancel_in_scope(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    progress: Progress | None = None,
    first_seen: FirstSeen | None = None,
    dating: Dating | None = None,
) -> Report:
    """Discover, select and cancel (``would_cancel`` on a dry run). No waiting."""
    with _Run(policy, deadline, clients, progress, first_seen=first_seen, dating=dating) as run:
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


class _DatingError(Exception):
    """A job could not be dated (SageMaker or the first-seen ledger failed)."""


# -- the run -----------------------------------------------------------------------------
class _Run:
    def __init__(
        self,
        policy: Policy,
        deadline: Deadline,
        clients: Clients | None,
        progress: Progress | None,
        *,
        first_seen: FirstSeen | None = None,
        dating: Dating | None = None,
    ) -> None:
        self.policy = policy
        self._first_seen = first_seen
        self._dating = dating
        self._dates: dict[JobRef, datetime] = {}  # starts found by ``dating``, for the results
        self._ledger_dated: set[JobRef] = set()  # jobs dated by their first sighting
        # States a listing already returned: no describe call needed for the first decision.
        self._listed: dict[JobRef, JobState] = {}
        self.deadline = deadline
        self._clients = clients
        self._progress = progress
        self._kinds: dict[JobKindName, JobKind] = {}
        # Kinds whose listing hit its cap (no paging: older jobs unseen), with what it said.
        # Kept until a later listing of the kind is not full.
        self._capped: dict[JobKindName, list[str]] = {}
        self._listed_once = False
        self._cancel_first = _CancelFirst()
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
        return [self.submit(fn, item) for item in items]

    def submit(self, fn: Callable[[Any], T], item: Any) -> Future[T]:
        if self._pool is None:
            raise RuntimeError("_Run used outside its with-block")
        # Each task runs in a copy of this context, so the clients' retry policy sees the deadline.
        return self._pool.submit(contextvars.copy_context().run, fn, item)

    # -- discover and select ---------------------------------------------------------
    def fan_out(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run a kind's independent listing calls at once (its own threads: the kind's
        discover() already holds one of the pool's). Results in order; the first error raises."""
        if len(tasks) <= 1:
            return [task() for task in tasks]
        workers = min(len(tasks), self.policy.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobjanitor-list") as pool:
            futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
            return [f.result() for f in futures]

    def discover(self, report: Report, kinds: Sequence[JobKind] | None = None) -> list[JobRef]:
        """List ``kinds`` (default: all)."""
        kinds = list(self._kinds.values()) if kinds is None else list(kinds)
        again = "again " if self._listed_once else ""
        self._listed_once = True
        self.emit(PhaseEvent("discover", f"listing {again}{', '.join(k.name for k in kinds)}", len(kinds)))
        refs: list[JobRef] = []
        for kind, future in zip(kinds, self._map(lambda k: k.discover(self.fan_out), kinds), strict=True):
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
            if found.capped:
                for text in found.capped:
                    log.warning(text)
                self._capped[kind.name] = list(found.capped)
            else:
                self._capped.pop(kind.name, None)
            refs.extend(found.refs)
            self._listed.update(found.states)
        self.emit(PhaseEvent("discover", f"{len(refs)} job(s) listed", len(refs)))
        return refs

    def select(self, *, action: str | None, wait: bool = False) -> Report:
        """Discover and decide each job; ``action``: None (list), "cancel", "dry-run",
        "watch" (wait_for_scope: in-scope outstanding jobs become still_running). With
        ``wait``, cancelled jobs are waited for while the others are still being cancelled."""
        policy = self.policy
        report = Report(dry_run=policy.dry_run)
        refs = self.discover(report)
        results: list[JobResult] = []
        to_decide = self._scope(refs, results)
        skipped = len(results)
        results.extend(JobResult(ref, Outcome.WOULD_CANCEL, outstanding=True) for ref in to_decide)

        def selected() -> None:
            in_scope = sum(1 for r in results if r.outcome is not Outcome.SKIPPED)
            self.emit(PhaseEvent("select", f"{in_scope} job(s) in scope, {len(results) - in_scope} skipped", in_scope))

        _Drive(self, results, action, datetime.now(UTC), wait=wait, on_decided=selected).run(
            decide=range(skipped, len(results))
        )
        seen = {r.ref for r in results}
        first = skipped
        while self._relist_helps(action, results[first:]):
            # A full listing hides what lies past its cap, and no API pages further. Jobs just
            # cancelled may have fallen off the list or stopped taking its places (queued
            # loads): list the capped kinds again and decide what is new, until a listing is
            # no longer full, shows nothing new, nothing was cancelled since the last one, or
            # the deadline.
            capped = [self._kinds[name] for name in self._capped]
            new = [ref for ref in self.discover(report, capped) if ref not in seen]
            if not new:
                break
            seen.update(new)
            first = len(results)
            more = self._scope(new, results)
            results.extend(JobResult(ref, Outcome.WOULD_CANCEL, outstanding=True) for ref in more)
            _Drive(self, results, action, datetime.now(UTC), wait=wait).run(decide=range(first, len(results)))
        if policy.job_ids:
            missing = sorted(policy.job_ids - {ref.job_id for ref in seen})
            if missing:
                report.warnings.append(f"job id(s) not found by discovery: {', '.join(missing[:20])}")
        report.incomplete = [text for texts in self._capped.values() for text in texts]
        report.results = results
        if self._ledger_dated:
            ids = sorted(ref.job_id for ref in self._ledger_dated)
            report.warnings.append(
                f"{len(ids)} job(s) named no SageMaker job yet, so their age is the first-seen ledger's (a lower "
                f"bound: the first sweep that saw them): {', '.join(ids[:20])}{', …' if len(ids) > 20 else ''}"
            )
        return report.with_results(results, waited=True) if wait else report

    def _relist_helps(self, action: str | None, decided: list[JobResult]) -> bool:
        """A capped kind, a sweep that cancelled some of its jobs since its last listing, time left."""
        cancelled = any(r.outcome is Outcome.CANCELLED and r.ref.kind in self._capped for r in decided)
        return action == "cancel" and cancelled and not self.deadline.expired()

    def _scope(self, refs: Iterable[JobRef], results: list[JobResult]) -> list[JobRef]:
        """The refs the policy's prefix and job ids admit; the others are appended to
        ``results`` as skipped."""
        policy = self.policy
        admitted: list[JobRef] = []
        for ref in refs:
            prefix_applies = policy.job_id_prefix and self._kinds[ref.kind].caller_chosen_ids
            if prefix_applies and not ref.job_id.startswith(policy.job_id_prefix or ""):
                results.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.PREFIX))
            elif policy.job_ids and ref.job_id not in policy.job_ids:
                results.append(JobResult(ref, Outcome.SKIPPED, skip_reason=SkipReason.NOT_LISTED))
            else:
                admitted.append(ref)
        return admitted

    def _decide(self, ref: JobRef, now: datetime, action: str | None, *, fresh: bool = False) -> JobResult:  # noqa: PLR0911 - one return per decision
        """``fresh``: a second pass (see :class:`_Drive`), which describes first."""
        kind = self._kinds[ref.kind]
        listed = self._listed.pop(ref, None)  # a listed state is used once
        unknown = listed is None and not fresh and action == "cancel" and self.policy.min_age is None
        if unknown and self._cancel_first.pays():
            # Cancel first: only a refused cancel needs a describe (the kind makes it).
            return self._cancel(kind, JobResult(ref, Outcome.WOULD_CANCEL, outstanding=True), cancel_first=True)
        try:
            state = listed or kind.describe(ref)
        except Exception as error:
            text = f"describe failed: {error_text(error)}"
            self.emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, error=text))
            return JobResult(ref, Outcome.FAILED, error=text, outstanding=True)
        try:
            skip = self._skip_reason(state, now)
        except _DatingError as error:
            # An in-scope job that cannot be dated is a failure to report (and to retry in a
            # second pass), never a silent skip.
            text = str(error)
            self.emit(JobEvent(ref.kind, ref.job_id, "describe", Outcome.FAILED.value, state.status, text))
            return JobResult(ref, Outcome.FAILED, state.status, state.status, error=text, outstanding=True)
        if state.started_at is None and ref in self._dates:
            state = replace(state, started_at=self._dates[ref])  # the report shows the start found
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
            started = state.started_at or self._dated(state) or self._first_sighting(state.ref, now)
            if started is None:
                return SkipReason.AGE_UNKNOWN
            if now - started < self.policy.min_age:
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
            raise _DatingError(f"dating from {first.member} {first.name} failed: {error_text(error)}") from error
        if started is not None:
            self._dates[state.ref] = started
        return started

    def _first_sighting(self, ref: JobRef, now: datetime) -> datetime | None:
        """A lower bound of the age of a job whose service gives no start time (the fallback
        for a job that names no underlying job yet)."""
        if self._first_seen is None:
            return None
        try:
            seen = self._first_seen.first_seen(ref, now)
        except Exception as error:  # any ledger fault: the job cannot be dated this pass
            raise _DatingError(f"first-seen ledger failed: {error_text(error)}") from error
        self._ledger_dated.add(ref)
        return seen

    def _cancel(self, kind: JobKind, base: JobResult, *, cancel_first: bool = False) -> JobResult:
        ref = base.ref
        if self.deadline.expired():
            result = replace(base, outcome=Outcome.FAILED, error="deadline reached before the cancel was sent")
        else:
            answer = kind.cancel(ref, self.policy.clean)
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
            result = replace(
                base, outcome=answer.outcome, final_status=final, error=answer.error, outstanding=outstanding
            )
        self.emit(JobEvent(ref.kind, ref.job_id, "cancel", result.outcome.value, result.final_status, result.error))
        return result

    # -- wait ------------------------------------------------------------------------
    def wait(self, report: Report) -> Report:
        results = list(report.results)
        pending = [i for i, r in enumerate(results) if self._to_wait_for(r)]
        _Drive(self, results, None, datetime.now(UTC), wait=True).run(poll=pending)
        return report.with_results(results, waited=True)

    def _to_wait_for(self, r: JobResult) -> bool:
        return r.outstanding and r.outcome in (Outcome.CANCELLED, Outcome.STILL_RUNNING) and r.ref.kind in self._kinds

    def _poll(self, result: JobResult) -> tuple[JobResult, bool]:
        """The job described again; False when the describe failed (polled again later)."""
        kind = self._kinds[result.ref.kind]
        try:
            state = kind.describe(result.ref)
        except Exception as error:  # keep waiting: the next round may get through
            log.warning("describe %s %s failed while waiting: %s", result.ref.kind, result.ref.job_id, error)
            return result, False
        if state.outstanding:
            return replace(result, final_status=state.status), True
        outcome = Outcome.FINISHED if result.outcome is Outcome.STILL_RUNNING else result.outcome
        return replace(result, outcome=outcome, final_status=state.status, outstanding=False), True


class _CancelFirst:
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


# -- scheduling: decisions and polls, `concurrency` requests in flight ---------------------
@dataclass
class _Cadence:
    """When to poll the stopping jobs of one kind, learnt from what polls saw (seconds since
    a job's cancel). Until one job of the kind is seen stopped, one job (the probe) is polled,
    fast at first and backing off, and the kind's other jobs are held; then every job is
    polled ``upper`` after its cancel: once, unless it takes longer than the jobs seen so far.
    A stop that takes longer than ``POLL_INTERVAL_S`` releases the held jobs: each is then
    polled on its own, backing off to every ``POLL_INTERVAL_S``."""

    upper: float | None = None  # the stop delay is at most this (a job seen stopped)
    lower: float = 0.0  # ... and more than this (a job seen still stopping)
    probe: int | None = None
    held: list[int] = field(default_factory=list)

    def holds(self, i: int) -> bool:
        if self.upper is not None or self.lower > POLL_INTERVAL_S:
            return False
        if self.probe is None:
            self.probe = i
        return self.probe != i


class _Waiter:
    """Stopping jobs, each with the time of its next poll."""

    def __init__(self, kind_of: Callable[[int], JobKindName]) -> None:
        self._kind_of = kind_of
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._cadence: dict[JobKindName, _Cadence] = {}
        self._since: dict[int, tuple[float, float]] = {}  # cancel sent, cancel answered
        self.pending: set[int] = set()

    def _c(self, i: int) -> _Cadence:
        return self._cadence.setdefault(self._kind_of(i), _Cadence())

    def _push(self, due: float, i: int) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), i))

    def _first_due(self, i: int) -> float:
        _, answered = self._since[i]
        c = self._c(i)
        if c.upper is not None:
            # The cancel took effect before it was answered: this late, the job has had the
            # longest delay seen so far (wherever, between sending and answer, it took effect).
            return answered + c.upper
        return answered + max(FIRST_POLL_S, c.lower * POLL_GROWTH)

    def add(self, i: int, sent: float, answered: float) -> None:
        self._since[i] = (sent, answered)
        self.pending.add(i)
        self._push(self._first_due(i), i)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> int | None:
        while self._heap and self._heap[0][0] <= now:
            _, _, i = heapq.heappop(self._heap)
            c = self._c(i)
            if c.holds(i):
                c.held.append(i)
                continue
            return i
        return None

    def seen(self, i: int, *, stopped: bool | None, sent: float, answered: float) -> None:
        """A poll of job ``i`` sent at ``sent``, answered at ``answered``: the job had stopped,
        was still stopping, or (None) the describe failed."""
        c = self._c(i)
        cancel_sent, cancel_answered = self._since[i]
        if stopped:
            self.pending.discard(i)
            if c.upper is None:
                c.upper = answered - cancel_sent
        else:
            if stopped is False:
                c.lower = max(c.lower, sent - cancel_answered)
                if c.upper is not None:
                    c.upper = max(c.upper, c.lower)  # slower than the jobs seen before
            since = answered - cancel_answered
            self._push(answered + min(POLL_INTERVAL_S, max(FIRST_POLL_S, since * (POLL_GROWTH - 1))), i)
        if c.held and (c.upper is not None or c.lower > POLL_INTERVAL_S):
            held, c.held = c.held, []
            for j in held:
                self._push(self._first_due(j), j)


class _Drive:
    """Runs decisions (describe and/or cancel) and polls with ``concurrency`` workers, each
    taking its next task as soon as it is free: a due second pass, else a due poll, else the
    next decision. So a job cancelled early is seen stopped while later ones are still being
    cancelled. A job whose decision failed even after the client's retries (a long fault
    storm) gets up to ``SECOND_CHANCES`` more passes, each after a pause (the others go on
    meanwhile), while the deadline allows: decided afresh (describe first), so a cancel that
    went through but whose answer was lost is seen as stopping, not cancelled twice."""

    def __init__(
        self,
        run: _Run,
        results: list[JobResult],
        action: str | None,
        now: datetime,
        *,
        wait: bool,
        on_decided: Callable[[], None] | None = None,
    ) -> None:
        self.run_ = run
        self.results = results
        self.action = action
        self.now = now
        self.wait = wait
        self.on_decided = on_decided
        self.waiter = _Waiter(lambda i: results[i].ref.kind)
        self._cv = threading.Condition()
        self._queue: deque[int] = deque()
        self._passes: dict[int, int] = {}
        self._retries: list[tuple[float, int]] = []  # (when, index): another pass for a failed decision
        self._deciding = 0  # decisions in flight
        self._busy = 0  # tasks in flight
        self._wait_deadline: Deadline | None = None
        self._abort = False
        # Every time the drive reads or waits is on the run deadline's clock (real in production).
        self._clock = run.deadline.clock

    def run(self, *, decide: Iterable[int] = (), poll: Iterable[int] = ()) -> None:
        self._queue.extend(decide)
        self._passes = dict.fromkeys(self._queue, 0)
        started = self._clock.monotonic()
        for i in poll:
            self.waiter.add(i, started, started)
        workers = [self.run_.submit(lambda _: self._work(), None) for _ in range(self.run_.policy.concurrency)]
        try:
            for worker in workers:
                worker.result()
        finally:  # an interrupt (or a failing worker) stops the others at their next task
            with self._cv:
                self._abort = True
                self._cv.notify_all()
        if self.wait:
            still = sorted(self.waiter.pending)
            for i in still:
                r = self.results[i]
                self.run_.emit(JobEvent(r.ref.kind, r.ref.job_id, "still-running", r.outcome.value, r.final_status))
            self.run_.emit(PhaseEvent("wait", f"{len(still)} job(s) still running", len(still)))

    def _polling(self) -> bool:
        if not self.wait or self.run_.deadline.expired():  # the run's deadline can be cut (Ctrl-C)
            return False
        return self._wait_deadline is None or not self._wait_deadline.expired()

    def _next(self) -> tuple[str, int] | float | None:
        """Under the lock: ("poll" | "decide" | "again", index), a time to wake at, or None
        when nothing is left to do."""
        run, waiter = self.run_, self.waiter
        clock = self._clock.monotonic()
        if self._retries and self._retries[0][0] <= clock:
            return "again", heapq.heappop(self._retries)[1]
        if self._wait_deadline is None and not (self._queue or self._retries or self._deciding):
            if self.on_decided is not None:
                self.on_decided()
            self._wait_deadline = run.deadline.earlier(run.policy.max_wait) if self.action else run.deadline
            if self.wait:
                count = len(waiter.pending)
                run.emit(PhaseEvent("wait", f"waiting for {count} job(s) to stop", count))
        polling = self._polling()
        if polling:
            due = waiter.pop_due(clock)
            if due is not None:
                return "poll", due
        if self._queue:
            i = self._queue.popleft()
            return ("again" if self._passes[i] else "decide"), i
        retry_at = self._retries[0][0] if self._retries else None
        wakes = [t for t in (retry_at, waiter.next_due() if polling else None) if t is not None]
        if self._busy:
            return min(wakes) if wakes else math.inf  # finishing tasks may bring more
        if not wakes or run.deadline.expired():
            return None
        return min(*wakes, clock + run.deadline.remaining())

    def _work(self) -> None:
        while True:
            with self._cv:
                task = None if self._abort else self._next()
                if task is None:
                    self._cv.notify_all()
                    return
                if not isinstance(task, tuple):
                    self._idle(until=task)
                    continue
                self._busy += 1
                self._deciding += task[0] != "poll"
            try:
                self._do(*task)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._deciding -= task[0] != "poll"
                    self._cv.notify_all()

    def _idle(self, *, until: float) -> None:
        """Under the lock: nothing to do before ``until`` (on the clock). Woken by any task's
        end; at the latest every WAKE_S, to see a cut deadline. On another clock than the
        system's (a test's virtual time), time passes only while no task is in flight: the
        wait is then the clock's sleep, under the lock so that idle workers' sleeps do not
        add up."""
        wait = max(0.0, min(until - self._clock.monotonic(), WAKE_S))
        if self._busy or self._clock is SYSTEM_CLOCK:
            self._cv.wait(timeout=wait)
        else:
            self._clock.sleep(wait)

    def _do(self, what: str, i: int) -> None:
        run, results = self.run_, self.results
        sent = self._clock.monotonic()
        if what == "poll":
            updated, ok = run._poll(results[i])
            answered = self._clock.monotonic()
            with self._cv:
                results[i] = updated
                self.waiter.seen(i, stopped=(not updated.outstanding) if ok else None, sent=sent, answered=answered)
            if not updated.outstanding:
                run.emit(
                    JobEvent(
                        updated.ref.kind, updated.ref.job_id, "stopped", updated.outcome.value, updated.final_status
                    )
                )
            return
        result = run._decide(results[i].ref, self.now, self.action, fresh=what == "again")
        run._cancel_first.learn(result)
        answered = self._clock.monotonic()
        with self._cv:
            results[i] = result
            if result.outcome is Outcome.FAILED:
                self._retry(i)
            elif self.wait and run._to_wait_for(result):
                self.waiter.add(i, sent, answered)

    def _retry(self, i: int) -> None:
        """Under the lock: another pass for a failed decision, after a pause, while the
        deadline allows (else it stays failed). Other work goes on meanwhile."""
        attempt = self._passes[i] + 1
        pause = SECOND_CHANCE_PAUSE_S * attempt
        if attempt > SECOND_CHANCES or self.run_.deadline.remaining() < pause + 1.0:
            return
        self._passes[i] = attempt
        heapq.heappush(self._retries, (self._clock.monotonic() + pause, i))
        ref = self.results[i].ref
        self.run_.emit(PhaseEvent("retry", f"{ref.kind} {ref.job_id} failed; another pass in {pause:g}s", 1))
