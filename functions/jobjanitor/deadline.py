"""One overall, monotonic deadline for a janitor run (re-exported by :mod:`jobjanitor.engine`).

A deadline reads time from a :class:`Clock`: the system's (``time.monotonic``/``time.sleep``)
unless another is given. The engine's waits (poll intervals, second-pass pauses) go through
the run deadline's clock, so a test can run a Lambda's minute on a virtual clock in
milliseconds (the test bed's :class:`~jobjanitor_testbed.clock.FakeClock`). Deadlines made
without a clock (the handlers make theirs from the Lambda context) take the process's
default, :data:`SYSTEM_CLOCK` unless a test installs another with :func:`use_clock`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final, Protocol


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Clock(Protocol):
    """Where a deadline reads the time and waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on this clock."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.sleep``."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Final = SystemClock()
_default_clock: Clock = SYSTEM_CLOCK


def default_clock() -> Clock:
    """The clock of deadlines made without one (:data:`SYSTEM_CLOCK` unless :func:`use_clock`)."""
    return _default_clock


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Within the block, deadlines made without a clock, in any thread, use ``clock`` (tests
    run handlers on the test bed's virtual clock with it). Production never calls it."""
    global _default_clock  # noqa: PLW0603 - the process's one default, swapped only by tests
    previous, _default_clock = _default_clock, clock
    try:
        yield clock
    finally:
        _default_clock = previous


class Deadline:
    """A point on a clock's monotonic time. ``Deadline.after(math.inf)`` never expires."""

    __slots__ = ("_at", "_clock")

    def __init__(self, at: float, clock: Clock | None = None) -> None:
        self._at = at
        self._clock = clock if clock is not None else _default_clock

    @classmethod
    def after(cls, seconds: float, clock: Clock | None = None) -> Deadline:
        clock = clock if clock is not None else _default_clock
        return cls(clock.monotonic() + max(0.0, seconds), clock)

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def from_lambda_context(
        cls, context: LambdaContextLike, margin_s: float = 10.0, clock: Clock | None = None
    ) -> Deadline:
        """The Lambda invocation's own deadline, ``margin_s`` seconds early."""
        return cls.after(context.get_remaining_time_in_millis() / 1000.0 - margin_s, clock)

    @property
    def at(self) -> float:
        """The deadline on its clock's ``monotonic()``."""
        return self._at

    @property
    def clock(self) -> Clock:
        """The clock this deadline runs on: waits bounded by it use its ``sleep``."""
        return self._clock

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` for :meth:`never`)."""
        return max(0.0, self._at - self._clock.monotonic())

    def expired(self) -> bool:
        return self._clock.monotonic() >= self._at

    def earlier(self, other: Deadline | float) -> Deadline:
        """The earlier of this deadline and ``other`` (a Deadline on the same clock, or a number
        of seconds from now)."""
        other_at = other._at if isinstance(other, Deadline) else self._clock.monotonic() + max(0.0, other)
        return self if self._at <= other_at else Deadline(other_at, self._clock)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


# The deadline of the janitor call running in this context: the clients' retry policy reads
# it so that botocore stops retrying (and shortens its back-off sleeps) at the deadline.
CURRENT_DEADLINE: ContextVar[Deadline | None] = ContextVar("jobjanitor_deadline", default=None)
