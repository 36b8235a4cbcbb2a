"""A controllable clock for :class:`~jobjanitor_testbed.lifecycle.Lifecycle` (``lifecycle.clock = FakeClock()``),
and for the janitor's deadlines (:class:`jobjanitor.deadline.Clock`): with
``jobjanitor.deadline.use_clock(clock)`` (the ``virtual_time`` fixture), the engine's waits
advance it instead of sleeping, so the jobs the test bed stops "meanwhile" stop on the same
time and a Lambda's minute passes in milliseconds."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Callable returning a time that only moves when told to. Thread-safe."""

    def __init__(self, now: float | None = None) -> None:
        self._now = time.time() if now is None else now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    @property
    def now(self) -> float:
        return self()

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now

    # -- jobjanitor.deadline.Clock: a deadline on this clock waits by advancing it -----------
    def monotonic(self) -> float:
        return self()

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
