"""The rate every call to one service shares (clients.RateLimiter), driven answer by answer on a
fake clock: it slows down while slowing down helps, and only then."""

from __future__ import annotations

from jobjanitor.clients import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def window(limiter: RateLimiter, clock: Clock, *, sent: int, throttled: int, seconds: float = 0.25) -> None:
    """``sent`` requests over ``seconds`` (a window), ``throttled`` of them throttled. Sends are
    counted as ``turn()`` counts them, without its sleep."""
    step = seconds / sent * 1.001
    for i in range(sent):
        if not limiter._sent:
            limiter._started = clock.now
        limiter._sent += 1
        clock.now += step
        limiter.answered(i < throttled)


def test_throttling_that_does_not_follow_the_rate_costs_one_trial() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    window(limiter, clock, sent=100, throttled=30)  # 400 requests/s, 30% throttled
    assert limiter.rate is not None
    assert 250 < limiter.rate < 300  # cut to 0.7 of the rate sent
    window(limiter, clock, sent=70, throttled=21)  # slower, and still 30%: not our rate
    assert limiter.rate is None  # back to unlimited
    for _ in range(RateLimiter.HOLD):
        window(limiter, clock, sent=100, throttled=30)
        assert limiter.rate is None  # held: no new trial yet
    window(limiter, clock, sent=100, throttled=30)
    assert limiter.rate is not None  # a new trial
    assert limiter.cuts == 2


def test_throttling_that_follows_the_rate_keeps_the_cuts_then_grows_back() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    window(limiter, clock, sent=100, throttled=50)  # 400/s, half throttled: over the service's limit
    first = limiter.rate
    assert first is not None
    window(limiter, clock, sent=70, throttled=10)  # slower: much less throttling, so it was our rate
    assert limiter.rate is not None
    assert limiter.rate < first  # and still throttled: cut again
    second = limiter.rate
    window(limiter, clock, sent=50, throttled=0)  # the trial ends: no throttling at this rate
    assert limiter.rate == second
    window(limiter, clock, sent=50, throttled=0)
    assert limiter.rate == second * RateLimiter.GROW  # growing back
    for _ in range(10):
        window(limiter, clock, sent=20, throttled=0, seconds=0.25)
    assert limiter.rate is None  # far above what is sent: unlimited again


def test_a_rate_left_cut_by_chance_comes_back_when_going_faster_throttles_no_more() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    limiter.rate = 100.0  # cut earlier, by a window that looked like it helped
    for _ in range(12):
        sent = int(min(limiter.rate or 400.0, 400.0) / 4)
        window(limiter, clock, sent=sent, throttled=int(sent * 0.3))  # 30% whatever the rate
        if limiter.rate is None:
            break
    assert limiter.rate is None


def test_going_faster_that_throttles_more_goes_back() -> None:
    clock = Clock()
    limiter = RateLimiter("test", clock)
    limiter.rate = 100.0
    window(limiter, clock, sent=25, throttled=2)  # limited, a little throttling: try faster
    assert limiter.rate is not None
    assert limiter.rate > 100.0
    window(limiter, clock, sent=35, throttled=12)  # faster throttles far more: the service's limit
    assert limiter.rate == 100.0
