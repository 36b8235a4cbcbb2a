"""The run's worker threads, and the drive that keeps ``concurrency`` requests in flight.

:class:`Pool`: the run's thread pool; each task runs in a copy of the caller's context, so the
clients' retry policy sees the run's deadline (``CURRENT_DEADLINE``).

:class:`Drive`: decisions (describe and/or cancel) and polls on ``concurrency`` workers, each
taking its next task as soon as it is free: a due second pass, else a due poll, else the next
decision. So **the wait overlaps the cancels**: a job cancelled early is polled while later
ones are still being cancelled (when to poll: :mod:`jobjanitor.engine.schedule`). What a task
does to a job is given to the drive (:class:`Steps`); the drive only schedules. A job whose
service reads it stopped may still need a check of what it ran on (:attr:`Polled.VERIFY`: the
SageMaker side of Neptune ML); such jobs are checked together, in one task
(:class:`jobjanitor.engine.schedule.Checks`), not one by one.
"""

from __future__ import annotations

import contextvars
import heapq
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from jobjanitor.deadline import SYSTEM_CLOCK
from jobjanitor.engine.events import Emit, JobEvent, PhaseEvent
from jobjanitor.engine.schedule import VERIFY_MARGIN_S, Checks, OpenJobs, Waiter
from jobjanitor.model import JobKindName, JobRef, JobResult, Outcome

if TYPE_CHECKING:
    from jobjanitor.deadline import Clock, Deadline

# Passes over jobs whose describe or cancel failed even after the client's own retries.
SECOND_CHANCES = 2
SECOND_CHANCE_PAUSE_S = 1.0
WAKE_S = 0.25  # an idle worker looks at the deadline at least this often


class Pool:
    """``concurrency`` worker threads, started by the first task; :meth:`close` ends them."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="jobjanitor")

    def close(self) -> None:
        """Wait for the running tasks; drop the queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit[T](self, fn: Callable[[], T]) -> Future[T]:
        # Each task runs in a copy of this context, so the clients' retry policy sees the deadline.
        return self._pool.submit(contextvars.copy_context().run, fn)

    def fan_out[T](self, tasks: Sequence[Callable[[], T]], /) -> list[T]:
        """Run a kind's independent listing calls at once (its own threads: the kind's
        discover() already holds one of the pool's). Results in order; the first error raises."""
        if len(tasks) <= 1:
            return [task() for task in tasks]
        workers = min(len(tasks), self.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobjanitor-list") as pool:
            futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
            return [f.result() for f in futures]


class Polled(Enum):
    """What a poll saw."""

    RUNNING = "running"  # still outstanding: polled again
    STOPPED = "stopped"  # stopped: done
    VERIFY = "verify"  # its service reads it stopped; what it ran on is checked (Steps.verify)
    FAILED = "failed"  # the describe failed: polled again


@dataclass(frozen=True, slots=True)
class Steps:
    """What the drive's tasks do to one job (``verify``: to many at once)."""

    decide: Callable[[JobRef, bool], JobResult]  # (ref, fresh: a second pass, describe first)
    poll: Callable[[JobResult], tuple[JobResult, Polled]]  # the job described again
    waits_for: Callable[[JobResult], bool]  # whether a decided job is polled until it stops
    # Jobs polled VERIFY, checked together: each comes back stopped, or outstanding (held).
    verify: Callable[[Sequence[JobResult]], list[JobResult]]
    unverified: Callable[[JobResult], JobResult]  # a VERIFY job the wait ended before checking
    verifies: Callable[[JobKindName], bool]  # whether jobs of a kind may be polled VERIFY


def check(
    checks: Checks, steps: Steps, results: list[JobResult], lock: threading.Condition, clock: Clock
) -> list[JobResult]:
    """One check of every job waiting for it (:attr:`Polled.VERIFY`; ``steps.verify``), on the
    drive's ``results`` under its ``lock``: returns the jobs it found stopped."""
    with lock:
        batch = checks.take()
    try:
        checked = steps.verify([results[i] for i in batch])
    finally:
        answered = clock.monotonic()
        with lock:
            checks.running = False
    with lock:
        for i, updated in zip(batch, checked, strict=True):
            results[i] = updated
            checks.checked(i, stopped=not updated.outstanding, answered=answered)
    return [updated for updated in checked if not updated.outstanding]


class Drive:
    """Runs decisions and polls over ``results`` (by index) on the pool's workers. A job whose
    decision failed even after the client's retries (a long fault storm) gets up to
    ``SECOND_CHANCES`` more passes, each after a pause (the others go on meanwhile), while the
    deadline allows: decided afresh (describe first), so a cancel that went through but whose
    answer was lost is seen as stopping, not cancelled twice. With ``wait``, the jobs
    ``steps.waits_for`` are polled until they stop, or ``deadline`` (``max_wait`` seconds after
    the last decision, if given)."""

    def __init__(
        self,
        pool: Pool,
        steps: Steps,
        results: list[JobResult],
        *,
        deadline: Deadline,
        emit: Emit,
        wait: bool,
        max_wait: float | None = None,
        on_decided: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._steps = steps
        self.results = results
        self._deadline = deadline
        self._emit = emit
        self._wait = wait
        self._max_wait = max_wait
        self._on_decided = on_decided
        self.waiter = Waiter(lambda i: results[i].ref.kind)
        self.checks = Checks()
        self._cv = threading.Condition()
        self._queue: deque[int] = deque()
        self._passes: dict[int, int] = {}
        self._retries: list[tuple[float, int]] = []  # (when, index): another pass for a failed decision
        self._deciding = 0  # decisions in flight
        self._busy = 0  # tasks in flight
        self._wait_deadline: Deadline | None = None
        self._abort = False
        self.open = OpenJobs()  # what a check waits for (schedule.OpenJobs)
        # Every time the drive reads or waits is on the run deadline's clock (real in production).
        self._clock = deadline.clock

    def run(self, *, decide: Iterable[int] = (), poll: Iterable[int] = ()) -> None:
        """Decide the jobs ``decide``; poll the jobs ``poll`` (and, with ``wait``, those
        decided that need it) until they stop or the deadline."""
        self._queue.extend(decide)
        self._passes = dict.fromkeys(self._queue, 0)
        started = self._clock.monotonic()
        for i in poll:
            self.waiter.add(i, started, started)
        self.open.start((self.results[i].ref.kind for i in (*self._queue, *self.waiter.pending)), self._steps.verifies)
        workers = [self._pool.submit(self._work) for _ in range(self._pool.concurrency)]
        try:
            for worker in workers:
                worker.result()
        finally:  # an interrupt (or a failing worker) stops the others at their next task
            with self._cv:
                self._abort = True
                self._cv.notify_all()
        for i in self.checks.fresh:  # seen stopped, never checked: the wait ended first
            self.results[i] = self._steps.unverified(self.results[i])
        if self._wait:
            still = sorted(self.waiter.pending | self.checks.held.keys())
            for i in still:
                _job_event(self._emit, self.results[i], "still-running")
            self._emit(PhaseEvent("wait", f"{len(still)} job(s) still running", len(still)))

    def _polling(self) -> bool:
        if not self._wait or self._deadline.expired():  # the run's deadline can be cut (Ctrl-C)
            return False
        return self._wait_deadline is None or not self._wait_deadline.expired()

    def _decided(self) -> None:
        """Under the lock, once: every decision is made; the wait starts."""
        if self._on_decided is not None:
            self._on_decided()
        self._wait_deadline = self._deadline if self._max_wait is None else self._deadline.earlier(self._max_wait)
        if self._wait:
            count = len(self.waiter.pending)
            self._emit(PhaseEvent("wait", f"waiting for {count} job(s) to stop", count))

    def _next(self) -> tuple[str, int] | float | None:
        """Under the lock: ("poll" | "verify" | "decide" | "again", index), a time to wake at, or None
        when nothing is left to do."""
        waiter = self.waiter
        clock = self._clock.monotonic()
        if self._retries and self._retries[0][0] <= clock:
            return "again", heapq.heappop(self._retries)[1]
        if self._wait_deadline is None and not (self._queue or self._retries or self._deciding):
            self._decided()
        polling = self._polling()
        check_at = self._check_due(clock) if polling else None
        task = self._due(clock, check_at) if polling else None
        if task is not None:
            return task
        if self._queue:
            i = self._queue.popleft()
            return ("again" if self._passes[i] else "decide"), i
        retry_at = self._retries[0][0] if self._retries else None
        wakes = [t for t in (retry_at, waiter.next_due() if polling else None, check_at) if t is not None]
        if self._busy:
            return min(wakes) if wakes else math.inf  # finishing tasks may bring more
        if not wakes or self._deadline.expired():
            return None
        return min(*wakes, clock + self._deadline.remaining())

    def _due(self, clock: float, check_at: float | None) -> tuple[str, int] | None:
        """Under the lock, while polling: a check of the jobs seen stopped, or a poll, due now."""
        if check_at is not None and check_at <= clock:
            self.checks.running = True
            return "verify", -1
        due = self.waiter.pop_due(clock)
        return None if due is None else ("poll", due)

    def _check_due(self, clock: float) -> float | None:
        """Under the lock: when the checks are due (None: none); quiet: nothing (of the checked kinds) left."""
        left = self._queue or self._retries or self._deciding or self._busy or self.waiter.pending
        closing = (self._wait_deadline or self._deadline).remaining() <= VERIFY_MARGIN_S
        return self.checks.due(clock, quiet=self.open.quiet() or not left, closing=closing)

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
                deciding = task[0] in ("decide", "again")
                self._deciding += deciding
            try:
                if task[0] == "poll":
                    self._poll(task[1])
                elif task[0] == "verify":
                    for updated in check(self.checks, self._steps, self.results, self._cv, self._clock):
                        _job_event(self._emit, updated)
                else:
                    self._decide(task[1], fresh=task[0] == "again")
            finally:
                with self._cv:
                    self._busy -= 1
                    self._deciding -= deciding
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

    def _poll(self, i: int) -> None:
        sent = self._clock.monotonic()
        updated, polled = self._steps.poll(self.results[i])
        answered = self._clock.monotonic()
        with self._cv:
            self.results[i] = updated
            stopped = None if polled is Polled.FAILED else polled is not Polled.RUNNING
            self.waiter.seen(i, stopped=stopped, sent=sent, answered=answered)
            if stopped:
                self.open.done(updated.ref.kind)
            if polled is Polled.VERIFY:
                self.checks.fresh[i] = answered
        if polled is Polled.STOPPED:
            _job_event(self._emit, updated)

    def _decide(self, i: int, *, fresh: bool) -> None:
        sent = self._clock.monotonic()
        result = self._steps.decide(self.results[i].ref, fresh)
        answered = self._clock.monotonic()
        with self._cv:
            self.results[i] = result
            if result.outcome is Outcome.FAILED:
                stays = self._retry(i)
            elif stays := self._wait and self._steps.waits_for(result):
                self.waiter.add(i, sent, answered)
            if not stays:
                self.open.done(result.ref.kind)

    def _retry(self, i: int) -> bool:
        """Under the lock: another pass for a failed decision, after a pause, while the
        deadline allows (else it stays failed: False). Other work goes on meanwhile."""
        attempt = self._passes[i] + 1
        pause = SECOND_CHANCE_PAUSE_S * attempt
        if attempt > SECOND_CHANCES or self._deadline.remaining() < pause + 1.0:
            return False
        self._passes[i] = attempt
        heapq.heappush(self._retries, (self._clock.monotonic() + pause, i))
        ref = self.results[i].ref
        self._emit(PhaseEvent("retry", f"{ref.kind} {ref.job_id} failed; another pass in {pause:g}s", 1))
        return True


def _job_event(emit: Emit, result: JobResult, what: str = "stopped") -> None:
    ref, outcome, status = result.ref, result.outcome.value, result.final_status
    emit(JobEvent(ref.kind, ref.job_id, what, outcome, status, billing=result.billing))
