"""The request rate every call to one service shares (see :mod:`jobjanitor.retry`).

Client-side rate limiting shared by every call to one service (all the threads of a
sweep use one client), so that throttling slows the sweep, not each call alone.

Every attempt (retries too) takes its turn at the current rate (``before-send``); every
answer is counted (``needs-retry``), throttled or not. Once per window of answers it
compares what was sent with what the service accepted (answers not throttled):

- **AIMD on throttles.** Throttled answers (more than ``TOLERATE`` of them): cut the rate,
  multiplicatively, to ``CUT`` of the busiest rate sent lately, or to ``BELOW_ACCEPTED`` of
  what the service accepted if that is lower (a service that accepts 20 requests a second
  whatever is sent gets 19 at once, not ten cuts of 30%). No throttled answer: grow, by
  ``GROW`` a window while well below the rate that throttled last, then additively by
  ``ADD`` of the rate a window (unlimited again once far above what is sent).
- **Each cut is put on trial**, because throttling does not always follow our rate (a
  service having a bad minute throttles a share of whatever it gets). The cut is kept if
  the service then accepts about as much as before (``KEEP``: it caps what it accepts), or
  if the throttled share fell (``HELPED``: it limits our rate); otherwise what was accepted
  fell with what was sent, the throttling is not ours, and the rate goes back to what it
  was before the cut and holds for ``HOLD`` windows.
- **A rate left cut by chance comes back:** throttled while limited, with no growth since
  the last decision, try a faster rate (undo one cut); keep it if the service then accepts
  more (``UP_KEEP``), else go back and cut next time. If the calls did not go faster, the
  rate is not what holds them back: it is dropped.
- **A burst is not a rate:** services let a burst through before they throttle, so the
  first throttled answers of an unlimited client overstate what they accept: they are only
  noted (after half of ``MIN_ANSWERS`` throttled, without waiting out the window), and the
  next window decides (early too, once ``EARLY_ACCEPTED`` accepted answers among more
  throttled ones say what the service accepts).

A window longer than ``SPARSE_S`` while the rate is not what holds the calls back (a few
requests now and then) changes nothing, and a change not judged within its time (too
little to send to tell) is undone: a rate cut from a trickle would hold back the busy
minutes after it.

botocore's own ``adaptive`` mode cuts on every throttled answer and grows back on a cubic
over seconds: under a steady share of throttling that does not depend on the rate it cuts
to its floor of 0.5 requests per second and stays there (see docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobjanitor.deadline import CURRENT_DEADLINE

__all__ = ["RateLimiter"]

log = logging.getLogger("jobjanitor.clients")
# The turn this thread took: at which version of the rate, and when.
_taken = threading.local()

# An attempt never waits for its turn past this long before the run's deadline.
TURN_HEADROOM_S = 1.0


@dataclass(frozen=True, slots=True)
class _Window:
    """What one window of answers showed: rates per second, and the throttled share."""

    sent: float
    accepted: float
    share: float


@dataclass(frozen=True, slots=True)
class _Trial:
    """A change of rate on trial: which way, the rate before it, and the window before it."""

    up: bool
    before_rate: float | None
    before: _Window
    at: float


class RateLimiter:
    """Client-side rate limiting shared by every call to one service (see the module docstring)."""

    WINDOW_S = 0.25
    MIN_ANSWERS = 20
    EARLY_ACCEPTED = 8  # accepted answers enough to tell what an unlimited client may send
    CUT = 0.7
    BELOW_ACCEPTED = 0.95
    KEEP = 0.85
    HELPED = 0.7
    UP_KEEP = 1.2
    GROW = 1.25
    ADD = 0.05
    TOLERATE = 0.02
    HOLD = 4
    MIN_RATE = 1.0
    PEAK_DECAY = 0.9  # per window
    TRIAL_S = 1.0  # a change of rate not judged within this long (plus two windows' answers) is undone
    SPARSE_S = 1.0  # a window this long (few requests) changes nothing
    PACING = 0.5  # sending at least this share of the rate: the rate is what holds calls back

    def __init__(self, service: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self._clock = clock
        self._lock = threading.Lock()
        self.rate: float | None = None  # requests per second; None: not limited
        self._next = 0.0
        self._started = clock()
        self._sent = self._answers = self._throttled = 0
        self._trial: _Trial | None = None
        self._up_hurt = False  # the last faster rate did not get more accepted
        self._grew = False  # grown since the last cut or trial
        self._noted = False  # the first throttled window of an unlimited client was seen
        self._ceiling: float | None = None  # what the service accepted when it last throttled us
        self._peak = 0.0
        self._hold = 0
        self._version = 0  # changes with the rate: turns taken before are taken again
        self.cuts = 0

    def turn(self, **_: Any) -> None:
        """``before-send``: wait for this attempt's turn (never past the run's deadline). A turn
        taken at a rate that has changed since is taken again, at the new rate."""
        while True:
            with self._lock:
                now = self._clock()
                taken = getattr(_taken, "slot", None)
                if self.rate is None or (taken is not None and taken[0] == self._version and now >= taken[1]):
                    self._count_send(now)
                    return
                if taken is not None and taken[0] == self._version:
                    at = taken[1]  # woken early: the same turn
                else:
                    at = max(now, self._next)
                    self._next = at + 1.0 / self.rate
                    _taken.slot = (self._version, at)
            wait = at - now
            deadline = CURRENT_DEADLINE.get()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline.remaining() - TURN_HEADROOM_S))
            if wait <= 0:  # the deadline allows no more waiting
                with self._lock:
                    self._count_send(self._clock())
                return
            time.sleep(wait)

    def _count_send(self, now: float) -> None:
        _taken.slot = None
        if not self._sent:
            self._started = now  # a window starts with its first request
        self._sent += 1

    def _set_rate(self, rate: float | None) -> None:
        self.rate = rate
        self._version += 1
        if rate is not None:
            self._next = min(self._next, self._clock() + 1.0 / rate)

    def answered(self, throttled: bool) -> None:
        with self._lock:
            self._answers += 1
            self._throttled += throttled
            now = self._clock()
            if (
                self._sent
                and self._answers >= self.MIN_ANSWERS
                and (now - self._started >= self.WINDOW_S or self._alarm())
            ):
                self._adjust(now)
            elif self._trial is not None and now - self._trial.at > self._trial_time():
                # Too few requests to judge the change (little to send): undo it.
                self._set_rate(self._trial.before_rate)
                self._trial, self._hold = None, self.HOLD

    def _alarm(self) -> bool:
        """An unlimited client being throttled need not wait out the window: a few throttled
        answers note it (a limit, or a burst the service let through), and once noted, a few
        answers accepted among more throttled ones say what the service accepts."""
        if self.rate is not None or self._trial is not None or self._hold:
            return False
        if not self._noted:
            return 2 * self._throttled >= self.MIN_ANSWERS
        accepted = self._answers - self._throttled
        return accepted >= self.EARLY_ACCEPTED and self._throttled >= accepted

    def _trial_time(self) -> float:
        return self.TRIAL_S + 2 * self.MIN_ANSWERS / (self.rate or self.MIN_ANSWERS / self.WINDOW_S)

    def _adjust(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-3)
        window = _Window(
            self._sent / elapsed, (self._answers - self._throttled) / elapsed, self._throttled / self._answers
        )
        # The busiest rate lately: while there is little to send, what is sent says nothing of
        # what the service takes, and a cut from it would hold back the busy windows after.
        self._peak = max(window.sent, self._peak * self.PEAK_DECAY)
        self._started, self._sent, self._answers, self._throttled = now, 0, 0, 0
        pacing = self.rate is not None and window.sent >= self.PACING * self.rate
        if elapsed > self.SPARSE_S and self._trial is None and not pacing:
            return  # a few requests now and then: not a load that throttling could be about
        if self._trial is not None:
            self._judge(window)
        elif window.share <= self.TOLERATE:
            self._noted = False
            if window.share == 0 and self.rate is not None:
                self._grow(window.sent, elapsed)
        elif self._hold:
            self._hold -= 1
        elif self.rate is None and not self._noted:
            self._noted = True  # perhaps a burst the service let through: the next window decides
        elif self.rate is not None and not self._grew and not self._up_hurt:
            # Limited and still throttled at a steady rate: does a faster rate get more through?
            self._start_trial(up=True, window=window)
            self._set_rate(self.rate / self.CUT)
        else:
            self._cut(window)

    def _judge(self, window: _Window) -> None:
        """The window after a change of rate: keep the change, or go back."""
        trial, self._trial = self._trial, None
        if trial is None:
            return
        before = trial.before
        if trial.up:
            if window.sent < (trial.before_rate or 0.0) * self.UP_KEEP:
                # No faster than before: what holds the calls back is not the rate. Drop it.
                self._up_hurt, self._ceiling = False, None
                self._set_rate(None)
                return
            self._up_hurt = window.accepted < before.accepted * self.UP_KEEP
            if self._up_hurt:
                self._set_rate(trial.before_rate)  # no more got through: the service's limit
            return
        if window.accepted >= before.accepted * self.KEEP or window.share <= before.share * self.HELPED:
            # The service accepts as much at the lower rate (it caps what it accepts), or throttles
            # less (it limits our rate): keep the cut, and cut again while throttling goes on.
            self._up_hurt = False
            self._ceiling = max(before.accepted, window.accepted)
            if window.share > self.TOLERATE:
                self._cut(window)
            return
        self._set_rate(trial.before_rate)
        self._hold = self.HOLD
        log.info(
            "%s: throttling does not follow our request rate: back to %s requests/s",
            self.service,
            f"{self.rate:.0f}" if self.rate else "unlimited",
        )

    def _start_trial(self, *, up: bool, window: _Window) -> None:
        self._trial = _Trial(up, self.rate, window, self._clock())
        self._grew = False

    def _grow(self, sent_rate: float, elapsed: float) -> None:
        """Multiplicative (``GROW`` per ``WINDOW_S``, at most doubling) while well below where the
        service last throttled us, then additive (``ADD`` of the rate a window)."""
        if self.rate is None:
            return
        factor = min(2.0, self.GROW ** (elapsed / self.WINDOW_S))
        if self._ceiling is not None and self.rate * factor > self._ceiling * self.BELOW_ACCEPTED:
            factor = max(1 + self.ADD, min(factor, self._ceiling * self.BELOW_ACCEPTED / self.rate))
        self._grew = True
        rate: float | None = self.rate * factor
        if rate is not None and rate > 2 * sent_rate:
            rate, self._ceiling = None, None  # far above what is sent: not limiting
        self._set_rate(rate)

    def _cut(self, window: _Window) -> None:
        self._start_trial(up=False, window=window)
        current = min(self.rate, self._peak) if self.rate is not None else self._peak
        self._set_rate(max(self.MIN_RATE, min(current * self.CUT, window.accepted * self.BELOW_ACCEPTED)))
        self.cuts += 1
        log.info("%s: throttled (%.0f%% of answers): %.0f requests/s", self.service, window.share * 100, self.rate)
