"""A deadline runs on the clock it is given, and the engine waits on its deadline's clock: a
Lambda's minute on the test bed's clock passes in a moment, with the same outcomes."""

from __future__ import annotations

import time
from collections.abc import Callable

from jobjanitor import engine
from jobjanitor.cli_progress import InterruptibleDeadline
from jobjanitor.clients import Clients
from jobjanitor.deadline import SYSTEM_CLOCK, Deadline, default_clock, use_clock
from jobjanitor.model import Outcome
from jobjanitor.policy import Policy
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_deadline_reads_and_waits_on_its_own_clock() -> None:
    clock = FakeClock(100.0)
    deadline = Deadline.after(60, clock)
    assert (deadline.at, deadline.remaining(), deadline.clock) == (160.0, 60.0, clock)
    time.sleep(0.05)  # real time does not move it
    assert deadline.remaining() == 60.0
    clock.sleep(59.5)
    assert (deadline.remaining(), deadline.expired()) == (0.5, False)
    sooner = deadline.earlier(0.25)
    assert (sooner.at, sooner.clock) == (159.75, clock)
    clock.advance(0.5)
    assert (deadline.remaining(), deadline.expired(), sooner.expired()) == (0.0, True, True)
    lambda_deadline = Deadline.from_lambda_context(Context(), margin_s=10.0, clock=clock)
    assert lambda_deadline.remaining() == 50.0


def test_use_clock_sets_the_clock_of_deadlines_made_without_one_and_restores_it() -> None:
    clock = FakeClock(0.0)
    assert default_clock() is SYSTEM_CLOCK
    with use_clock(clock):
        made = Deadline.after(30)
        interruptible = InterruptibleDeadline.after(30)
        assert made.clock is clock
        assert interruptible.clock is clock
        assert made.remaining() == interruptible.remaining() == 30.0
        clock.sleep(10)
        assert interruptible.earlier(5).remaining() == 5.0
        interruptible.cut()
        assert (interruptible.remaining(), interruptible.at) == (0.0, 10.0)
    assert default_clock() is SYSTEM_CLOCK
    assert Deadline.after(30).clock is SYSTEM_CLOCK


def test_waiting_on_the_test_beds_clock_takes_a_moment_and_sees_the_same_stops(
    aws_env: TestBed,
    testbed_clock: FakeClock,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    bed = aws_env
    bed.lifecycle.stop_delay = 40.0  # on the test bed's clock: the wait must see 40 s pass
    bed.neptune.seed_ml_job("modeltraining", "jj-slow", status="InProgress")
    bed.neptune.seed_ml_job("dataprocessing", "jj-other", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training,neptune-ml-dataprocessing", max_wait=3600)
    started, real_started = testbed_clock.now, time.monotonic()

    first = engine.sweep(policy, deadline=Deadline.after(60, testbed_clock), clients=make_clients(policy))

    real = time.monotonic() - real_started
    results = {r.ref.job_id: r for r in first.results}
    assert (results["jj-slow"].outcome, results["jj-slow"].final_status) == (Outcome.CANCELLED, "Stopped")
    assert not results["jj-slow"].outstanding
    # The wait saw the 40 s stops pass on the test bed's clock, in far less real time.
    assert 40.0 <= testbed_clock.now - started <= 60.0
    assert real < 20.0, f"{real:.1f} s of real time for a minute on the test bed's clock"
    assert results["jj-other"].final_status == "Stopped"
    assert first.ok

    bed.lifecycle.stop_delay = 24 * 3600.0
    bed.neptune.seed_ml_job("modeltraining", "jj-stuck", status="InProgress")
    deadline = Deadline.after(60, testbed_clock)
    stuck = engine.sweep(policy, deadline=deadline, clients=make_clients(policy))
    (result,) = [r for r in stuck.results if r.ref.job_id == "jj-stuck"]
    assert (result.outcome, result.final_status, result.outstanding) == (Outcome.CANCELLED, "Stopping", True)
    assert deadline.expired(), "the wait ends at the deadline, on the test bed's clock"
    assert [ref.job_id for ref in stuck.still_running] == ["jj-stuck"]
