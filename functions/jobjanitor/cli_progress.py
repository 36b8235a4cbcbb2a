"""What the CLI shows on stderr while it works, and how it stops when interrupted.

Not imported by the Lambda handlers (stdlib only, no new dependency): the CLI renders the
engine's progress events (:data:`jobjanitor.engine.Progress`) itself.

- Every event is a line on stderr (``jobjanitor: cancel neptune-ml-training j1: cancelled``).
- On a terminal, a live status line under them: per kind how many jobs stopped, are stopping
  and failed, and the time left; it is redrawn each second and on every event.
- Not on a terminal (CI logs, a pipe), a heartbeat line with the same content every
  ``JOBJANITOR_HEARTBEAT_SECONDS`` (default 30), so a long wait is never silent.
- Every warning the janitor logs (a describe failing during the wait...) is shown: the
  ``jobjanitor`` loggers print at WARNING. ``--quiet`` shows errors only. Discovery's own
  warnings and errors (a listing that failed or hit its cap) are not: the report carries them,
  and prints them once.
- The time left is what ``--max-wait`` allows (from the start of the wait), or the run's own
  deadline if that comes first.
- Ctrl-C or SIGTERM: the first cuts the run's deadline (:class:`InterruptibleDeadline`): no
  cancel is sent after it, retries stop, the wait ends, and the engine returns its report of
  what was done; the CLI prints it and exits 128 + the signal (130, 143). A second signal
  exits at once, without a report.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, ClassVar, TextIO

from jobjanitor.deadline import Clock, Deadline, default_clock
from jobjanitor.errors import ConfigError

if TYPE_CHECKING:
    from jobjanitor.engine import ProgressEvent

__all__ = ["HEARTBEAT_ENV", "InterruptibleDeadline", "Interrupts", "ProgressDisplay", "heartbeat_seconds"]

HEARTBEAT_ENV = "JOBJANITOR_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_S = 30.0
LIVE_REFRESH_S = 1.0
_CLEAR_LINE = "\r\x1b[2K"
# Latest known state of a job -> the column it is counted in.
_STOPPING, _STOPPED, _FAILED, _RUNNING, _WOULD = "stopping", "stopped", "failed", "still running", "would cancel"


def heartbeat_seconds(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The heartbeat interval from ``JOBJANITOR_HEARTBEAT_SECONDS`` (tests set it short)."""
    raw = environ.get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.05 <= value <= 3600:
        raise ConfigError(HEARTBEAT_ENV, f"must be a number of seconds between 0.05 and 3600, got {raw!r}")
    return value


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "no deadline"
    seconds = int(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class InterruptibleDeadline(Deadline):
    """A :class:`Deadline` that Ctrl-C can bring forward to now. Deadlines derived from it with
    :meth:`earlier` (the engine's wait deadline) are cut with it."""

    __slots__ = ("_cut",)

    def __init__(self, at: float, cut: threading.Event | None = None, clock: Clock | None = None) -> None:
        super().__init__(at, clock)
        self._cut = cut if cut is not None else threading.Event()

    @classmethod
    def after(cls, seconds: float, clock: Clock | None = None) -> InterruptibleDeadline:
        clock = clock if clock is not None else default_clock()
        return cls(clock.monotonic() + max(0.0, seconds), clock=clock)

    def cut(self) -> None:
        self._cut.set()

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    @property
    def at(self) -> float:
        return min(self._at, self.clock.monotonic()) if self._cut.is_set() else self._at

    def remaining(self) -> float:
        return 0.0 if self._cut.is_set() else super().remaining()

    def expired(self) -> bool:
        return self._cut.is_set() or super().expired()

    def earlier(self, other: Deadline | float) -> InterruptibleDeadline:
        return InterruptibleDeadline(super().earlier(other).at, self._cut, self.clock)


class ProgressDisplay:
    """Renders progress events on ``stream`` (see the module docstring). A context manager:
    inside it, the ``jobjanitor`` loggers print through it and the live line or heartbeat runs."""

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        live: bool | None = None,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        deadline: Deadline | None = None,
        max_wait: float = math.inf,
    ) -> None:
        self.stream = stream
        self.quiet = quiet
        self.live = (not quiet) and (stream.isatty() if live is None else live)
        self.heartbeat_s = heartbeat_s
        self.phase = "starting"
        self._deadline = deadline
        self._max_wait = max_wait
        self._wait_until: float | None = None
        self._jobs: dict[str, dict[str, str]] = {}  # kind -> job id -> latest state
        self._lock = threading.RLock()
        self._line_shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._handler: logging.Handler | None = None
        self._saved_level = logging.NOTSET

    # -- engine events ---------------------------------------------------------------------
    def progress(self, event: ProgressEvent) -> None:
        """The engine's progress callback."""
        kind = getattr(event, "kind", None)
        with self._lock:
            if kind is None:  # a phase event
                self.phase = event.phase  # type: ignore[union-attr]
                if self.phase == "wait" and self._wait_until is None:
                    self._wait_until = time.monotonic() + self._max_wait
            else:
                state = self._state_of(event.action, event.outcome)  # type: ignore[union-attr]
                if state is not None:
                    self._jobs.setdefault(str(kind), {})[event.job_id] = state  # type: ignore[union-attr]
            self.line(f"jobjanitor: {event.message()}", important=False)

    @staticmethod
    def _state_of(action: str, outcome: str | None) -> str | None:
        if outcome == "failed":
            return _FAILED
        if action == "cancel":
            return _STOPPING if outcome == "cancelled" else _STOPPED
        if action == "stopped":
            return _STOPPED
        if action == "still-running":
            return _RUNNING
        if action == "dry-run":
            return _WOULD
        return None

    def summary(self) -> str:
        """``neptune-ml-training: 2 stopped, 1 stopping, 0 failed; ...; 12m30s left``."""
        with self._lock:
            parts = []
            for kind in sorted(self._jobs):
                states = list(self._jobs[kind].values())
                counts = [f"{states.count(s)} {s}" for s in (_STOPPED, _STOPPING, _FAILED)]
                counts += [f"{states.count(s)} {s}" for s in (_RUNNING, _WOULD) if s in states]
                parts.append(f"{kind}: {', '.join(counts)}")
            left = self.time_left()
            text = "; ".join(parts) if parts else "no job acted on yet"
            return f"[{self.phase}] {text}" + (f"; {_duration(left)} left" if left is not None else "")

    def time_left(self) -> float | None:
        """Until the run's deadline, and at most what ``--max-wait`` leaves: all of it until
        the wait starts (the engine's wait deadline runs from there)."""
        if self._deadline is None:
            return None
        left = self._deadline.remaining()
        if self._wait_until is not None:
            return min(left, max(0.0, self._wait_until - time.monotonic()))
        return min(left, self._max_wait)

    # -- output ----------------------------------------------------------------------------
    def line(self, text: str, *, important: bool = True) -> None:
        """A line above the live line. ``--quiet`` hides progress lines (``important=False``),
        not warnings, errors or the interrupt notes."""
        if self.quiet and not important:
            return
        with self._lock:
            if self._line_shown:
                self.stream.write(_CLEAR_LINE)
                self._line_shown = False
            self.stream.write(text + "\n")
            self._draw()
            self.stream.flush()

    def _draw(self) -> None:
        if self.live and not self._stop.is_set():
            # One row, cut to the terminal's width: a wrapped line could not be cleared in place.
            self.stream.write(self.summary()[: self._width() - 1])
            self._line_shown = True

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # not a real terminal (tests' fakes)
            columns = 0
        return max(20, columns) if columns > 0 else 120  # 0: the terminal does not say

    def _tick(self) -> None:
        interval = LIVE_REFRESH_S if self.live else self.heartbeat_s
        while not self._stop.wait(interval):
            with self._lock:
                if self.live:
                    self.stream.write(_CLEAR_LINE)
                    self._draw()
                else:
                    self.stream.write(f"jobjanitor: [heartbeat] {self.summary()}\n")
                self.stream.flush()

    @contextmanager
    def logs_only(self) -> Iterator[ProgressDisplay]:
        """The ``jobjanitor`` loggers print through this display; no live line, no heartbeat
        (a live sweep's plan, before its question)."""
        self._attach_logging()
        try:
            yield self
        finally:
            self._detach_logging()

    def _attach_logging(self) -> None:
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        janitor = logging.getLogger("jobjanitor")
        self._saved_level = janitor.level
        handler = _LineHandler(self)
        handler.setFormatter(logging.Formatter("jobjanitor: %(levelname)s %(message)s"))
        janitor.addHandler(handler)
        janitor.setLevel(logging.ERROR if self.quiet else logging.WARNING)
        janitor.propagate = False
        self._handler = handler

    def _detach_logging(self) -> None:
        janitor = logging.getLogger("jobjanitor")
        if self._handler is not None:
            janitor.removeHandler(self._handler)
            self._handler = None
        janitor.setLevel(self._saved_level)
        janitor.propagate = True

    def __enter__(self) -> ProgressDisplay:
        self._attach_logging()
        if not self.quiet:
            self._ticker = threading.Thread(target=self._tick, name="jobjanitor-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self._lock:
            if self._line_shown:
                self.stream.write(_CLEAR_LINE)
                self._line_shown = False
            if self.live:  # the last state stays on screen
                self.stream.write(self.summary() + "\n")
            self.stream.flush()
        self._detach_logging()


class _LineHandler(logging.Handler):
    """Log records as lines above the live line."""

    def __init__(self, display: ProgressDisplay) -> None:
        super().__init__()
        self._display = display

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "jobjanitor.engine" and record.funcName == "discover":
            return  # a listing failed or hit its cap: in the report, printed once with it
        try:
            self._display.line(self.format(record))
        except Exception:  # logging must never break the run
            self.handleError(record)


class Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM handling around a run (main thread only). The first signal
    cuts ``deadline`` and says so; a second exits at once with 128 + its number (``os._exit``:
    the calls still in flight are abandoned, nothing more is printed)."""

    SIGNALS: ClassVar[dict[int, str]] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def __init__(self, deadline: InterruptibleDeadline, display: ProgressDisplay) -> None:
        self.deadline = deadline
        self.display = display
        self.interrupted_in: str | None = None  # the phase the first signal came in
        self.by: str | None = None  # what interrupted: "Ctrl-C" or "SIGTERM"
        self.exit_status: int | None = None  # 128 + the first signal's number

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.interrupted_in is not None:
            self.display.stream.write("\njobjanitor: interrupted again: exiting now, without a report\n")
            self.display.stream.flush()
            sys.stdout.flush()
            os._exit(128 + signum)
        self.interrupted_in = self.display.phase
        self.by = self.SIGNALS.get(signum, signal.Signals(signum).name)
        self.exit_status = 128 + signum
        self.deadline.cut()
        again = "Ctrl-C again" if signum == signal.SIGINT else "a second SIGTERM or Ctrl-C"
        self.display.line(
            f"jobjanitor: interrupted ({self.by}): no more cancels are sent; finishing the calls in flight, then the "
            f"report ({again} to exit at once)"
        )

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
