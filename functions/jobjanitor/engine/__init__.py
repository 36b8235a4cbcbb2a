"""The janitor's engine: discover, decide, cancel, wait; one overall deadline.

The guard, the hook, the sweeper and the CLI call exactly this API:

- :func:`plan`: what a sweep would do (``would_cancel``, ``still_running`` for a job already
  stopping); nothing cancelled.
- :func:`sweep`: discover, decide and act on each job by a :class:`Mode` (cancel, cancel after a
  describe, dry run, watch), and wait for the jobs cancelled if asked.
- :func:`wait_for`: wait for the cancelled and stopping jobs of an earlier report.

plus :class:`Deadline`, :class:`Report`, and the progress events :class:`JobEvent` and
:class:`PhaseEvent`. How each job is decided, and how a sweep spends requests:
:mod:`jobjanitor.engine.decide`. The parts, one job each: ``discovery`` (listing, listing again
past caps), ``decide`` (scope, dating, skip decisions, the cancel and its outcome), ``run``
(the thread pool, and the drive that keeps ``concurrency`` requests in flight), ``schedule``
(when to poll a stopping job), ``events`` (progress), and ``flow`` (one call, in order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobjanitor.clients import build_clients
from jobjanitor.deadline import Deadline
from jobjanitor.engine.decide import DESCRIBE_FIRST, Mode
from jobjanitor.engine.events import JobEvent, PhaseEvent, Progress, ProgressEvent, emitter
from jobjanitor.engine.flow import Run
from jobjanitor.report import Report

if TYPE_CHECKING:
    from jobjanitor.ages import Dating, FirstSeen
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy

__all__ = [
    "DESCRIBE_FIRST",
    "Deadline",
    "JobEvent",
    "Mode",
    "PhaseEvent",
    "Progress",
    "ProgressEvent",
    "Report",
    "plan",
    "sweep",
    "wait_for",
]


def plan(
    policy: Policy,
    *,
    deadline: Deadline,
    clients: Clients | None = None,
    first_seen: FirstSeen | None = None,
    dating: Dating | None = None,
) -> Report:
    """Discovery, describe and the decision (:attr:`Mode.PLAN`); nothing is cancelled. Jobs a
    sweep would cancel are ``would_cancel``; jobs already stopping ``still_running``."""
    clients = clients if clients is not None else build_clients(policy)
    with Run(policy, deadline, clients, emitter(None), first_seen=first_seen, dating=dating) as run:
        return run.decide(Mode.PLAN)


def sweep(
    policy: Policy,
    *,
    deadline: Deadline,
    mode: Mode | None = None,
    wait: bool | None = None,
    clients: Clients | None = None,
    progress: Progress | None = None,
    first_seen: FirstSeen | None = None,
    dating: Dating | None = None,
) -> Report:
    """Discover, decide and act on each outstanding job in scope by ``mode``; never past
    ``deadline``. ``dating``, then ``first_seen``, date jobs whose service gives no start time,
    for ``min_age`` (see :mod:`jobjanitor.ages`).

    ``mode``: by default :attr:`Mode.CANCEL`, or :attr:`Mode.DRY_RUN` for a dry-run policy (which
    never cancels, whatever the mode asked). ``wait`` (default ``policy.wait``): a cancelling
    mode waits for the jobs it cancelled and those already stopping, at most ``policy.max_wait``
    seconds, overlapping the cancels still being sent. :attr:`Mode.WATCH` (the guard's polling
    ticks, duplicate deliveries) always waits, until ``deadline``: outstanding jobs in scope end
    ``finished`` or ``still_running``."""
    if mode is None or (policy.dry_run and mode.cancels):
        mode = Mode.DRY_RUN if policy.dry_run else Mode.CANCEL
    clients = clients if clients is not None else build_clients(policy)  # once, for every phase
    with Run(policy, deadline, clients, emitter(progress), first_seen=first_seen, dating=dating) as run:
        if mode is Mode.WATCH:
            return run.wait(run.decide(mode))
        return run.decide(mode, wait=mode.cancels and (policy.wait if wait is None else wait))


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
    clients = clients if clients is not None else build_clients(policy)
    with Run(policy, deadline, clients, emitter(progress)) as run:
        return run.wait(report)
