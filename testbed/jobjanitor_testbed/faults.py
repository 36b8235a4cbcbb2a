"""Fault injection and a request log, shared by the Neptune emulator and the moto (AWS) server.

:class:`Faults` decides, per request, whether to add latency, drop the connection, throttle
or fail it. Every knob can be changed at runtime from any thread (``faults.set(...)``,
``faults.clear()``); a request reads the knobs once, when it arrives. Knobs:

- ``latency``: seconds slept before the request is answered (or dropped).
- ``drop_rate``: probability the connection is closed without any response.
- ``throttle_rate``: probability of a throttling answer (Neptune: 429
  TooManyRequestsException; Glue/json: HTTP 400 ``{"__type": "ThrottlingException"}``).
- ``error_rate``: probability of a 500 (Neptune: InternalFailureException; Glue/json:
  InternalServiceException).
- ``hang_rate``: probability the request is held without an answer (a table or endpoint that
  hangs) until the knobs are cleared (:meth:`Faults.clear`, a test bed reset) or
  :data:`HANG_MAX_S` passes; then its connection is closed, and the request never reaches the
  service behind (a held write is never applied later).
- ``seed``: seeds the random draws, so a run with the same request sequence repeats.
- ``operations``: if set, only requests for these operation names are subject to the random
  faults and latency (e.g. ``{"CancelLoaderJob"}``).

Draws are independent and made in that order (hang, then drop, then throttle, then error).

:meth:`Faults.limit_rate` is a service-side request-rate limit, independent of what the client
does: a token bucket per operation family (``rate`` requests per second, ``burst`` at once);
a request that finds its family's bucket empty is answered with the throttling error the
service declares (Neptune: 429 TooManyRequestsException; json services: ThrottlingException),
logged with fault ``"rate-limit"``. The family of an operation is :attr:`Faults.family` (set
by the server: the Neptune emulator groups by API, e.g. every loader operation is one family);
by default each operation is its own. The limit applies to every operation, whatever
``operations`` says (that filter is for the random faults).

:meth:`Faults.inject` scripts exact errors: the next ``times`` requests (optionally only for
given operations) answer with the given error code; the server picks the HTTP status for the
code (Neptune: the status its service model declares). Scripted errors take precedence over
random ones. A server that knows its service model sets :attr:`Faults.declared` (operation ->
the error codes it may answer, or None for an operation it does not know): then injecting a
code that a named operation does not declare is a ValueError, and an injection without
``operations`` only hits the operations that declare its code.

:class:`RequestLog` records one :class:`LogEntry` per request (service, operation, method,
path, status or ``"dropped"``, error code, injected fault, start timestamp, duration).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Action = Literal["pass", "drop", "throttle", "error", "inject", "hang", "rate-limit"]
# The longest a hung request is held when nothing releases it.
HANG_MAX_S = 120.0


@dataclass(frozen=True)
class Decision:
    action: Action = "pass"
    latency: float = 0.0
    # For action == "inject": the error code to answer with, and an optional HTTP status.
    code: str | None = None
    status: int | None = None
    message: str | None = None
    fault: str | None = None  # what the log calls it, when not the action ("stopped": a stopped cluster)
    # For action == "hang": set when the request may end (the knobs were cleared).
    release: threading.Event | None = field(default=None, compare=False)

    def hold(self) -> None:
        """For a "hang": wait until released (or :data:`HANG_MAX_S`)."""
        if self.release is not None:
            self.release.wait(HANG_MAX_S)


class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` kept."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Scripted:
    code: str
    times: int
    operations: frozenset[str] | None
    status: int | None
    message: str | None


def _check_rate(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value}")
    return value


class Faults:
    """Runtime-changeable fault knobs for one server. Thread-safe."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        hang_rate: float = 0.0,
        seed: int | None = None,
        operations: Iterable[str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.latency = 0.0
        self.throttle_rate = 0.0
        self.error_rate = 0.0
        self.drop_rate = 0.0
        self.hang_rate = 0.0
        self._release = threading.Event()
        self.operations: frozenset[str] | None = None
        # Service-side rate limit: (rate, burst), and one bucket per operation family.
        self._limit: tuple[float, float] | None = None
        self._buckets: dict[str, _Bucket] = {}
        # operation -> its family for the rate limit (set by the server; default: itself)
        self.family: Callable[[str], str] = lambda operation: operation
        self._rng = random.Random(seed)
        self._scripted: list[_Scripted] = []
        # operation -> error codes it declares (None: unknown operation, anything goes)
        self.declared: Callable[[str], Collection[str] | None] | None = None
        self.set(
            latency=latency,
            throttle_rate=throttle_rate,
            error_rate=error_rate,
            drop_rate=drop_rate,
            hang_rate=hang_rate,
            operations=operations,
        )

    def set(
        self,
        *,
        latency: float | None = None,
        throttle_rate: float | None = None,
        error_rate: float | None = None,
        drop_rate: float | None = None,
        hang_rate: float | None = None,
        seed: int | None = None,
        operations: Iterable[str] | Literal["unchanged"] | None = "unchanged",
    ) -> Faults:
        """Change some knobs (the others stay). ``operations=None`` means all operations."""
        with self._lock:
            if latency is not None:
                if latency < 0:
                    raise ValueError(f"latency must be >= 0, got {latency}")
                self.latency = float(latency)
            if throttle_rate is not None:
                self.throttle_rate = _check_rate("throttle_rate", throttle_rate)
            if error_rate is not None:
                self.error_rate = _check_rate("error_rate", error_rate)
            if drop_rate is not None:
                self.drop_rate = _check_rate("drop_rate", drop_rate)
            if hang_rate is not None:
                self.hang_rate = _check_rate("hang_rate", hang_rate)
            if seed is not None:
                self._rng = random.Random(seed)
            if operations != "unchanged":
                self.operations = None if operations is None else frozenset(operations)
        return self

    def clear(self) -> Faults:
        """No faults at all: rates and latency 0, no operation filter, no scripted errors, no
        rate limit; hung requests are released (their connections closed unanswered)."""
        with self._lock:
            self.latency = self.throttle_rate = self.error_rate = self.drop_rate = self.hang_rate = 0.0
            self.operations = None
            self._scripted.clear()
            self._limit = None
            self._buckets.clear()
            self._release.set()
            self._release = threading.Event()
        return self

    def limit_rate(self, rate: float | None, *, burst: float | None = None) -> Faults:
        """Accept at most ``rate`` requests a second per operation family (``burst``, default
        ``rate``, at once); the others are throttled. ``None`` removes the limit."""
        with self._lock:
            self._buckets.clear()
            if rate is None:
                self._limit = None
                return self
            if rate <= 0 or (burst is not None and burst < 1):
                raise ValueError(f"rate must be > 0 and burst >= 1, got {rate}, {burst}")
            self._limit = (float(rate), float(burst if burst is not None else max(1.0, rate)))
        return self

    def _over_limit(self, operation: str) -> bool:
        if self._limit is None:
            return False
        now = time.monotonic()
        family = self.family(operation)
        bucket = self._buckets.get(family)
        if bucket is None:
            bucket = self._buckets[family] = _Bucket(*self._limit, now)
        return not bucket.take(now)

    def inject(
        self,
        code: str,
        *,
        times: int = 1,
        operations: Iterable[str] | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> Faults:
        """Answer the next ``times`` matching requests with error ``code``."""
        if times < 1:
            raise ValueError("times must be >= 1")
        if self.declared is not None:
            for operation in operations or ():
                codes = self.declared(operation)
                if codes is not None and code not in codes:
                    raise ValueError(f"{operation} does not declare {code}; it declares {sorted(codes)}")
        with self._lock:
            ops = None if operations is None else frozenset(operations)
            self._scripted.append(_Scripted(code, times, ops, status, message))
        return self

    def _declares(self, operation: str, code: str) -> bool:
        if self.declared is None:
            return True
        codes = self.declared(operation)
        return codes is None or code in codes

    @property
    def active(self) -> bool:
        with self._lock:
            return bool(
                self.latency
                or self.throttle_rate
                or self.error_rate
                or self.drop_rate
                or self.hang_rate
                or self._scripted
                or self._limit
            )

    def decide(self, operation: str) -> Decision:
        with self._lock:
            for script in self._scripted:
                if script.operations is None and not self._declares(operation, script.code):
                    continue
                if script.operations is None or operation in script.operations:
                    script.times -= 1
                    if script.times == 0:
                        self._scripted.remove(script)
                    return Decision("inject", 0.0, script.code, script.status, script.message)
            filtered = self.operations is not None and operation not in self.operations
            latency = 0.0 if filtered else self.latency
            if self._over_limit(operation):
                return Decision("rate-limit", latency)
            return Decision() if filtered else self._draw(latency)

    def _draw(self, latency: float) -> Decision:
        """The random faults, drawn in order (called with the lock held)."""
        if self.hang_rate and self._rng.random() < self.hang_rate:
            return Decision("hang", latency, release=self._release)
        if self.drop_rate or self.throttle_rate or self.error_rate:
            draws: tuple[tuple[float, Action], ...] = (
                (self.drop_rate, "drop"),
                (self.throttle_rate, "throttle"),
                (self.error_rate, "error"),
            )
            for rate, action in draws:
                if rate and self._rng.random() < rate:
                    return Decision(action, latency)
        return _passed(latency)


@lru_cache(maxsize=16)
def _passed(latency: float) -> Decision:
    """The (immutable) decision to pass a request after ``latency``: made once per latency, not
    per request."""
    return Decision("pass", latency)


@dataclass(frozen=True)
class LogEntry:
    service: str  # "neptune" or "aws"
    operation: str  # e.g. "CancelLoaderJob", "GetMLTaskRuns", or "POST /path" when unknown
    method: str
    path: str
    status: int | Literal["dropped"]
    timestamp: float  # wall-clock time.time() when the request arrived
    duration: float  # seconds from arrival to the end of the answer (includes injected latency)
    error_code: str | None = None  # exception name sent back, if any
    fault: str | None = None  # "drop", "throttle", "error", "inject", "hang", "rate-limit", "stopped", else None
    endpoint: str | None = None  # the Neptune listener that took it (writer, reader, instance URL)


@dataclass
class RequestLog:
    """Thread-safe list of :class:`LogEntry`. Readers get snapshots."""

    _entries: list[LogEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(
        self,
        *,
        operation: str | None = None,
        status: int | str | None = None,
        error_code: str | None = None,
        fault: str | None = None,
        method: str | None = None,
        endpoint: str | None = None,
    ) -> list[LogEntry]:
        """Entries matching every given filter, oldest first."""
        with self._lock:
            snapshot = list(self._entries)
        return [
            e
            for e in snapshot
            if (operation is None or e.operation == operation)
            and (status is None or e.status == status)
            and (error_code is None or e.error_code == error_code)
            and (fault is None or e.fault == fault)
            and (method is None or e.method == method)
            and (endpoint is None or e.endpoint == endpoint)
        ]

    def count(self, **filters: object) -> int:
        return len(self.entries(**filters))  # type: ignore[arg-type]

    def operations(self) -> list[str]:
        return [e.operation for e in self.entries()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries())


def sleep_latency(decision: Decision) -> None:
    if decision.latency > 0:
        time.sleep(decision.latency)
