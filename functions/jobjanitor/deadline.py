"""One overall, monotonic deadline for a janitor run (re-exported by :mod:`jobjanitor.engine`)."""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from typing import Protocol


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """A point on the monotonic clock. ``Deadline.after(math.inf)`` never expires."""

    __slots__ = ("_at",)

    def __init__(self, at: float) -> None:
        self._at = at

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def from_lambda_context(cls, context: LambdaContextLike, margin_s: float = 10.0) -> Deadline:
        """The Lambda invocation's own deadline, ``margin_s`` seconds early."""
        return cls.after(context.get_remaining_time_in_millis() / 1000.0 - margin_s)

    @property
    def at(self) -> float:
        """The deadline on ``time.monotonic()``'s clock."""
        return self._at

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` for :meth:`never`)."""
        return max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self._at

    def earlier(self, other: Deadline | float) -> Deadline:
        """The earlier of this deadline and ``other`` (a Deadline or a number of seconds from now)."""
        other_at = other._at if isinstance(other, Deadline) else time.monotonic() + max(0.0, other)
        return self if self._at <= other_at else Deadline(other_at)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


# The deadline of the janitor call running in this context: the clients' retry policy reads
# it so that botocore stops retrying (and shortens its back-off sleeps) at the deadline.
CURRENT_DEADLINE: ContextVar[Deadline | None] = ContextVar("jobjanitor_deadline", default=None)
