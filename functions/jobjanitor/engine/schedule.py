"""When to poll a stopping job: learnt per kind from what earlier polls saw.

Rather than a fixed back-off, the polls follow the stop delay observed per kind: one job (the
probe) is polled, fast at first and backing off, until a job of that kind is seen stopped; then
every job of the kind is polled once, that long after its cancel. Times are seconds on one
monotonic clock, given by the caller (the scheduler reads no clock itself).

:class:`Checks`: when to check, all at once, the jobs a poll read stopped but whose stop still
needs another service's word (the SageMaker side of Neptune ML: :mod:`jobjanitor.billing`).
One check per batch, not per job, is what keeps that word cheap (one listing reads many jobs).
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from jobjanitor.model import JobKindName

POLL_INTERVAL_S = 1.0  # the longest pause between two polls of one stopping job
FIRST_POLL_S = 0.05  # a kind's first probe after its cancel; the shortest pause between polls
POLL_GROWTH = 1.5  # a job still stopping after t seconds is polled again about t/2 later


@dataclass
class Cadence:
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
        if self.releases:
            return False
        if self.probe is None:
            self.probe = i
        return self.probe != i

    @property
    def releases(self) -> bool:
        """Every job of the kind is polled on its own schedule: a job was seen stopped, or a
        stop takes longer than ``POLL_INTERVAL_S``."""
        return self.upper is not None or self.lower > POLL_INTERVAL_S


class Waiter:
    """Stopping jobs (by index), each with the time of its next poll. ``kind_of`` names a job's
    kind, whose :class:`Cadence` it follows."""

    def __init__(self, kind_of: Callable[[int], JobKindName]) -> None:
        self._kind_of = kind_of
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._cadence: dict[JobKindName, Cadence] = {}
        self._since: dict[int, tuple[float, float]] = {}  # cancel sent, cancel answered
        self.pending: set[int] = set()

    def _c(self, i: int) -> Cadence:
        return self._cadence.setdefault(self._kind_of(i), Cadence())

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
        """Job ``i``, whose cancel was sent at ``sent`` and answered at ``answered``."""
        self._since[i] = (sent, answered)
        self.pending.add(i)
        self._push(self._first_due(i), i)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> int | None:
        """A job due for a poll at ``now`` (its kind's held jobs stay held), or None."""
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
        if c.held and c.releases:
            held, c.held = c.held, []
            for j in held:
                self._push(self._first_due(j), j)


# A job seen stopped waits at most this long for the check of what it ran on (Steps.verify)
# while other jobs are still being decided or polled; once nothing else is left (nothing of
# the kinds that ask for checks: the drive tells), or the wait is within VERIFY_MARGIN_S of
# its end, the check is made at once.
VERIFY_HOLD_S = 5.0
VERIFY_MARGIN_S = 2.0


class Checks:
    """Jobs their service reads stopped, waiting for one check of all of them at once (the
    engine's ``Steps.verify``: what they ran on, e.g. SageMaker under Neptune ML). A job the
    check finds still running is held and checked again, backing off like a poll."""

    def __init__(self) -> None:
        self.fresh: dict[int, float] = {}  # never checked: since when
        self.held: dict[int, float] = {}  # found still running: when to check again
        self._first: dict[int, float] = {}  # when a held job was first found running
        self.running = False  # a check is in flight (one at a time)

    @property
    def pending(self) -> set[int]:
        return self.fresh.keys() | self.held.keys()

    def due(self, now: float, *, quiet: bool, closing: bool) -> float | None:
        """When the next check is due (None: no check to make now). ``quiet``: nothing else is
        left to do; ``closing``: the wait ends soon."""
        if self.running or not (self.fresh or self.held):
            return None
        times = list(self.held.values())
        if self.fresh:
            times.append(now if quiet or closing else min(self.fresh.values()) + VERIFY_HOLD_S)
        return min(times)

    def take(self) -> list[int]:
        """Every job waiting (fresh and held): the batch a check reads."""
        batch = sorted(self.pending)
        self.fresh.clear()
        self.held.clear()
        self.running = True
        return batch

    def checked(self, i: int, *, stopped: bool, answered: float) -> None:
        """The check of job ``i``, answered at ``answered``: stopped, or still running (held)."""
        if stopped:
            self._first.pop(i, None)
            return
        first = self._first.setdefault(i, answered)
        self.held[i] = answered + min(POLL_INTERVAL_S, max(FIRST_POLL_S, (answered - first) * (POLL_GROWTH - 1)))


class OpenJobs:
    """Jobs still in a drive's hands (queued, being decided, waiting for another pass, or
    stopping), by kind, and the kinds whose jobs may ask for a check. The check waits for every
    job of those kinds, and for nothing of the others (Glue's runs are no SageMaker's)."""

    def __init__(self) -> None:
        self._count: Counter[JobKindName] = Counter()
        self._verifying: set[JobKindName] = set()

    def start(self, kinds: Iterable[JobKindName], verifies: Callable[[JobKindName], bool]) -> None:
        """One job of each kind in ``kinds`` in hand; ``verifies(kind)``: its jobs may ask for a check."""
        self._count.update(kinds)
        self._verifying = {kind for kind in self._count if verifies(kind)}

    def done(self, kind: JobKindName) -> None:
        """A job of ``kind`` has left the drive's hands (stopped, or decided with nothing to wait for)."""
        self._count[kind] -= 1

    def quiet(self) -> bool:
        """Nothing of the kinds that ask for checks is left."""
        return not any(self._count[kind] for kind in self._verifying)
