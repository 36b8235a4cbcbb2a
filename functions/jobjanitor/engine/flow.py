"""One engine call, in order: list, decide each job in scope (acting by the mode), list again
past caps, wait; the report.

:class:`Run` wires the parts for one call (the kinds, the pool with the deadline in context,
the listings, the decider) and passes each part what it needs; the parts never reach back.
"""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jobjanitor import cpu
from jobjanitor.billing import BillingCheck
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.engine.decide import Ages, Decider, Mode, in_scope
from jobjanitor.engine.discovery import Listings
from jobjanitor.engine.events import Emit, PhaseEvent
from jobjanitor.engine.run import Drive, Pool, Steps
from jobjanitor.kinds import make_kinds
from jobjanitor.model import JobRef, JobResult, Outcome
from jobjanitor.report import Report

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobjanitor.ages import Dating, FirstSeen
    from jobjanitor.clients import Clients
    from jobjanitor.kinds.base import JobKind
    from jobjanitor.model import JobKindName
    from jobjanitor.policy import Policy


class Run:
    """One engine call (a with-block: the pool and the deadline in context live as long)."""

    def __init__(
        self,
        policy: Policy,
        deadline: Deadline,
        clients: Clients,
        emit: Emit,
        *,
        first_seen: FirstSeen | None = None,
        dating: Dating | None = None,
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self._emit = emit
        self._kinds: dict[JobKindName, JobKind] = {kind.name: kind for kind in make_kinds(policy, clients)}
        self._ages = Ages(policy.min_age_for, dating, first_seen)
        # Its threads start with the first task: as many as the CPU we have can feed (jobjanitor.cpu).
        self._pool = Pool(cpu.workers(policy.concurrency))
        self._listings = Listings(self._kinds, self._pool, emit)
        self._decider = Decider(
            policy,
            self._kinds,
            listed=self._listings.listed_state,
            ages=self._ages,
            emit=emit,
            deadline=deadline,
            billing=BillingCheck(clients.sagemaker, self._pool.fan_out) if clients.sagemaker is not None else None,
        )
        self._token: contextvars.Token[Deadline | None] | None = None

    def __enter__(self) -> Run:
        self._token = CURRENT_DEADLINE.set(self.deadline)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.close()
        if self._token is not None:
            CURRENT_DEADLINE.reset(self._token)

    def decide(self, mode: Mode, *, wait: bool = False) -> Report:
        """List and decide each job in scope by ``mode``. A cancelling mode then lists capped
        kinds again while that may show more (:meth:`Listings.relisting_helps`) and decides what
        is new. With ``wait``, the jobs cancelled or stopping are waited for (``policy.max_wait``
        at most) while later ones are still being decided."""
        report = Report(dry_run=self.policy.dry_run)
        results: list[JobResult] = []
        first = self._decide_listed(self._listings.discover(report), results, mode, wait=wait, announce=True)
        seen = {r.ref for r in results}
        while mode.cancels and self._listings.relisting_helps(results[first:]) and not self.deadline.expired():
            # A full listing hides what lies past its cap, and no API pages further. Jobs just
            # cancelled may have fallen off the list or stopped taking its places (queued
            # loads): list the capped kinds again and decide what is new, until a listing is
            # no longer full, shows nothing new, nothing was cancelled since the last one, or
            # the deadline.
            new = [ref for ref in self._listings.relist_capped(report) if ref not in seen]
            if not new:
                break
            seen.update(new)
            first = self._decide_listed(new, results, mode, wait=wait, announce=False)
        self._finish(report, results, seen)
        return report.with_results(results, waited=True) if wait else report

    def _decide_listed(
        self, refs: list[JobRef], results: list[JobResult], mode: Mode, *, wait: bool, announce: bool
    ) -> int:
        """Append ``refs``' results to ``results``: the out-of-scope ones skipped, the others
        decided. Returns where ``refs``' results start. ``announce``: a ``select`` event once
        every job is decided."""
        first = len(results)
        to_decide = in_scope(self.policy, self._kinds, refs, results)
        start = len(results)
        results.extend(JobResult(ref, Outcome.WOULD_CANCEL, outstanding=True) for ref in to_decide)
        now = datetime.now(UTC)

        def decide(ref: JobRef, fresh: bool) -> JobResult:
            return self._decider.decide(ref, now, mode, fresh=fresh)

        def selected() -> None:
            in_scope_count = sum(1 for r in results if r.outcome is not Outcome.SKIPPED)
            skipped = len(results) - in_scope_count
            self._emit(PhaseEvent("select", f"{in_scope_count} job(s) in scope, {skipped} skipped", in_scope_count))

        on_decided = selected if announce else None
        drive = self._drive(results, decide, wait=wait, max_wait=self.policy.max_wait, on_decided=on_decided)
        drive.run(decide=range(start, len(results)))
        return first

    def _finish(self, report: Report, results: list[JobResult], seen: set[JobRef]) -> None:
        if self.policy.job_ids:
            missing = sorted(self.policy.job_ids - {ref.job_id for ref in seen})
            if missing:
                report.warnings.append(f"job id(s) not found by discovery: {', '.join(missing[:20])}")
        report.incomplete = self._listings.incomplete
        report.results = results
        warning = self._ages.ledger_warning()
        if warning:
            report.warnings.append(warning)

    def wait(self, report: Report) -> Report:
        """Poll the report's cancelled and stopping jobs until they stop, or the deadline."""
        results = list(report.results)
        pending = [i for i, r in enumerate(results) if self._decider.waits_for(r)]
        self._drive(results, None, wait=True, max_wait=None).run(poll=pending)
        return report.with_results(results, waited=True)

    def _drive(
        self,
        results: list[JobResult],
        decide: Callable[[JobRef, bool], JobResult] | None,
        *,
        wait: bool,
        max_wait: float | None,
        on_decided: Callable[[], None] | None = None,
    ) -> Drive:
        steps = Steps(
            decide=decide or _no_decisions,
            poll=self._decider.poll,
            waits_for=self._decider.waits_for,
            verify=self._decider.verify,
            verifies=self._decider.verifies,
            unverified=self._decider.unverified,
        )
        return Drive(
            self._pool,
            steps,
            results,
            deadline=self.deadline,
            emit=self._emit,
            wait=wait,
            max_wait=max_wait,
            on_decided=on_decided,
        )


def _no_decisions(ref: JobRef, fresh: bool) -> JobResult:
    raise AssertionError(f"a wait decides nothing ({ref})")
