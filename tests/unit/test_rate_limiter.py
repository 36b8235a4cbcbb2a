"""The rate every call to one service shares (ratelimit.RateLimiter), driven answer by answer on a
fake clock: it converges on what a service with a hard limit accepts (AIMD on throttles), and
gives back a cut that did not help when throttling does not follow the rate."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from jobjanitor.clients import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def window(limiter: RateLimiter, clock: Clock, *, sent: int, throttled: int, seconds: float = 0.25) -> None:
    """``sent`` requests over ``seconds`` (a window), ``throttled`` of them throttled (spread
    evenly). Sends are counted as ``turn()`` counts them, without its sleep."""
    step = seconds / sent * 1.001
    for i in range(sent):
        limiter._count_send(clock.now)
        clock.now += step
        limiter.answered(i * throttled // sent != (i + 1) * throttled // sent)


def note(limiter: RateLimiter, clock: Clock) -> None:
    """The first throttled answers of an unlimited client: noted (perhaps a burst the service
    let through), not yet a cut; the next window decides."""
    window(limiter, clock, sent=RateLimiter.MIN_ANSWERS, throttled=RateLimiter.MIN_ANSWERS // 2, seconds=0.05)
    assert limiter.rate is None


class TokenBucket:
    """A service that accepts ``rate`` requests a second (``burst`` at once), whatever is sent."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, 0.0

    def __call__(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def drive(
    limiter: RateLimiter, clock: Clock, *, seconds: float, demand: float, accept: Callable[[float], bool]
) -> tuple[int, int]:
    """A client with ``demand`` requests a second to send, sending as fast as the limiter lets
    it; ``accept(now)`` is the service's answer. Returns (sent, throttled)."""
    sent = throttled = 0
    credit, tick = 0.0, 0.001
    for _ in range(int(seconds / tick)):
        clock.now += tick
        credit += min(demand, limiter.rate or demand) * tick
        while credit >= 1:
            credit -= 1
            limiter._count_send(clock.now)
            ok = accept(clock.now)
            limiter.answered(not ok)
            sent += 1
            throttled += not ok
    return sent, throttled


@pytest.mark.parametrize(("limit", "demand"), [(20.0, 400.0), (100.0, 2000.0), (500.0, 600.0)])
def test_a_hard_limit_is_found_and_held(limit: float, demand: float) -> None:
    """A service that accepts ``limit`` requests a second whatever the client does: the limiter
    settles near it, and throttling after the first seconds stays rare."""
    clock = Clock()
    limiter = RateLimiter("test", clock)
    bucket = TokenBucket(limit, burst=limit)
    drive(limiter, clock, seconds=3.0, demand=demand, accept=bucket)  # finding it
    sent, throttled = drive(limiter, clock, seconds=30.0, demand=demand, accept=bucket)
    accepted = (sent - throttled) / 30.0
    assert accepted >= 0.8 * limit, (accepted, limiter.rate)
    assert throttled / sent <= 0.1, (throttled, sent)


def test_finding_a_hard_limit_costs_a_fraction_of_a_second() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    bucket = TokenBucket(20.0, burst=20.0)
    _, throttled = drive(limiter, clock, seconds=1.5, demand=400.0, accept=bucket)
    assert limiter.rate is not None
    assert limiter.rate <= 25.0
    assert throttled <= 150  # about half a second at 400 requests/s, not thirty cuts of 30%


def test_throttling_that_does_not_follow_the_rate_costs_little() -> None:
    """30% of answers throttled whatever is sent: the cuts are given back, and the client sends
    nearly as fast as it would unlimited."""
    clock = Clock()
    limiter = RateLimiter("test", clock)
    draw = random.Random(7)
    sent, _ = drive(limiter, clock, seconds=30.0, demand=400.0, accept=lambda _: draw.random() >= 0.3)
    assert sent >= 0.85 * 400.0 * 30.0


def test_throttling_that_does_not_follow_the_rate_costs_one_trial() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    note(limiter, clock)
    window(limiter, clock, sent=100, throttled=30)  # 400 requests/s, 30% throttled: cut
    assert limiter.rate is not None
    assert 250 < limiter.rate < 300  # to 0.7 of the rate sent
    window(limiter, clock, sent=70, throttled=21)  # slower, and still 30%: not our rate
    assert limiter.rate is None  # back to unlimited
    for _ in range(RateLimiter.HOLD):
        window(limiter, clock, sent=100, throttled=30)
        assert limiter.rate is None  # held: no new trial yet
    window(limiter, clock, sent=100, throttled=30)
    assert limiter.rate is not None  # a new trial
    assert limiter.cuts == 2


def test_a_cut_is_kept_when_the_service_accepts_as_much_as_before() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    note(limiter, clock)
    window(limiter, clock, sent=100, throttled=95)  # 400/s sent, 20/s accepted
    assert limiter.rate is not None
    assert limiter.rate == pytest.approx(0.95 * 20, rel=0.01)  # straight to what was accepted
    window(limiter, clock, sent=20, throttled=1, seconds=1.0)  # 20/s, as many accepted: kept
    assert limiter.rate is not None
    assert limiter.rate < 20


def test_throttling_that_follows_the_rate_keeps_the_cuts_then_grows_back() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    note(limiter, clock)
    window(limiter, clock, sent=100, throttled=45)  # 400/s, 45% throttled: over the service's limit
    first = limiter.rate
    assert first is not None
    window(limiter, clock, sent=70, throttled=10)  # slower: much less throttling, so it was our rate
    assert limiter.rate is not None
    assert limiter.rate < first  # and still throttled: cut again
    second = limiter.rate
    window(limiter, clock, sent=50, throttled=0)  # the trial ends: no throttling at this rate
    assert limiter.rate == second
    window(limiter, clock, sent=50, throttled=0)
    assert limiter.rate > second  # growing back
    for _ in range(40):
        window(limiter, clock, sent=20, throttled=0, seconds=0.25)
    assert limiter.rate is None  # far above what is sent: unlimited again


def test_a_rate_left_cut_by_chance_comes_back_when_going_faster_gets_more_through() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    limiter.rate = 100.0  # cut earlier, by a window that looked like it helped
    for _ in range(12):
        sent = int(min(limiter.rate or 400.0, 400.0) / 4)
        window(limiter, clock, sent=sent, throttled=int(sent * 0.3))  # 30% whatever the rate
        if limiter.rate is None:
            break
    assert limiter.rate is None


def test_going_faster_that_gets_no_more_through_goes_back() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    limiter.rate = 100.0
    window(limiter, clock, sent=25, throttled=2)  # limited, a little throttling: try faster
    assert limiter.rate is not None
    assert limiter.rate > 100.0
    window(limiter, clock, sent=35, throttled=12)  # faster, and no more accepted: the service's limit
    assert limiter.rate == 100.0
    window(limiter, clock, sent=25, throttled=2)  # throttled again: now a cut
    assert limiter.rate < 100.0
