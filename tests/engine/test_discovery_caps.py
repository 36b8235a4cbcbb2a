"""A listing that comes back holding its cap of ids (ListML*Jobs 1,024, ListLoaderJobs 100, no
paging) cannot show what lies past it: the report is not ok and says which kind and which cap;
after cancelling, the engine lists the capped kinds again and acts on what is new."""

from __future__ import annotations

from collections.abc import Callable

from jobjanitor import engine
from jobjanitor.clients import Clients
from jobjanitor.deadline import Deadline
from jobjanitor.model import Outcome
from jobjanitor.policy import Policy
from jobjanitor_testbed.server import TestBed

LOADS_CAPPED = "neptune-loader: ListLoaderJobs returned its cap of 100 ids; older loads cannot be seen"
TRAINING_CAPPED = "neptune-ml-training: ListMLModelTrainingJobs returned its cap of 1024 ids; older jobs cannot be seen"


def test_jobs_past_the_cap_make_the_sweep_not_ok(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "jj-own", status="InProgress")  # the oldest: listed last
    for i in range(1030):
        bed.neptune.seed_ml_job("modeltraining", f"other-{i:04}", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", job_id_prefix="jj-", wait=False)
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    assert report.incomplete == [TRAINING_CAPPED]
    assert not report.ok
    assert "jj-own" not in {r.ref.job_id for r in report.results}
    assert bed.neptune.job("modeltraining", "jj-own").status == "InProgress"
    assert f"incomplete: {TRAINING_CAPPED}" in report.render_table()
    assert report.summary()["DiscoveryIncomplete"] == "1"
    # Nothing was cancelled, so one more listing could show nothing new: one relisting at most.
    assert bed.neptune_log.count(operation="ListMLModelTrainingJobs") == 1


def test_listing_again_after_cancelling_reaches_loads_past_the_cap(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """Queued loads are listed first: a list of 100 queued ids may hide more queue (the test
    bed is seeded past Neptune's 64). Once those are cancelled, the next listing shows the 50
    behind them. The listing stays full (cancelled loads stay listed), so still not ok."""
    bed = aws_env
    loads = [bed.neptune.seed_load(status="LOAD_IN_QUEUE") for _ in range(150)]
    policy = make_policy(kinds="neptune-loader", wait=False)
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    cancelled = {r.ref.job_id for r in report.results if r.outcome is Outcome.CANCELLED}
    assert cancelled == set(loads)
    assert {bed.neptune.job("loader", load).status for load in loads} == {"LOAD_CANCELLED_BY_USER"}
    assert report.incomplete == [LOADS_CAPPED]
    assert not report.ok
    # Three rounds of two calls (with and without the queue): 100 queued; the 50 still queued
    # first; then nothing new.
    assert bed.neptune_log.count(operation="ListLoaderJobs") == 6


def test_a_listing_short_of_its_cap_is_complete(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    bed = aws_env
    for i in range(99):
        bed.neptune.seed_load(f"load-{i:03}", status="LOAD_COMPLETED")
    bed.neptune.seed_ml_job("modeltraining", "jj-t", status="InProgress")
    policy = make_policy(kinds="neptune-loader,neptune-ml-training", wait=False)
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    assert report.incomplete == []
    assert report.ok
    assert bed.neptune_log.count(operation="ListLoaderJobs") == 1


def test_after_cancelling_a_full_list_it_is_listed_once_more_and_stops_when_nothing_is_new(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """Cancelled ML jobs stay listed while Neptune lists them: the second listing shows the
    same 1,024 ids, so the engine stops there, cancelled what it saw, and says it is capped."""
    bed = aws_env
    ids = [bed.neptune.seed_ml_job("modeltraining", f"jj-{i:04}", status="InProgress") for i in range(1030)]
    policy = make_policy(kinds="neptune-ml-training", job_id_prefix="jj-", wait=False)
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    assert report.counts()["cancelled"] == 1024
    assert report.incomplete == [TRAINING_CAPPED]
    assert {bed.neptune.job("modeltraining", job_id).status for job_id in ids[:6]} == {"InProgress"}
    assert bed.neptune_log.count(operation="ListMLModelTrainingJobs") == 2
