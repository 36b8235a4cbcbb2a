"""The first-seen ledger dates Neptune ML jobs (their API gives no start time) for min_age."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from jobjanitor import engine
from jobjanitor.clients import Clients
from jobjanitor.deadline import Deadline
from jobjanitor.model import JobKindName, JobRef, Outcome, SkipReason
from jobjanitor.policy import Policy
from jobjanitor.store.first_seen import DynamoDBFirstSeen
from jobjanitor_testbed.server import TestBed

TABLE = "jobjanitor-idempotency"


@pytest.fixture
def ledger(aws_env: TestBed) -> DynamoDBFirstSeen:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoDBFirstSeen(TABLE)


def outcomes(report: engine.Report) -> dict[str, tuple[Outcome, SkipReason | None]]:
    return {r.ref.job_id: (r.outcome, r.skip_reason) for r in report.results}


def test_ml_jobs_are_aged_from_their_first_sighting(
    aws_env: TestBed,
    ledger: DynamoDBFirstSeen,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    aws_env.neptune.seed_ml_job("modeltraining", "jj-old", status="InProgress")
    aws_env.neptune.seed_ml_job("modeltraining", "jj-new", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", min_age="1h", wait="false")
    clients = make_clients(policy)

    # Without a ledger, an ML job's age is unknown: never selected by an age policy.
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=clients)
    assert outcomes(report)["jj-old"] == (Outcome.SKIPPED, SkipReason.AGE_UNKNOWN)

    # An earlier sweep saw jj-old two hours ago.
    now = datetime.now(UTC)
    target = aws_env.neptune_url
    old_ref = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "jj-old", target)
    assert ledger.first_seen(old_ref, now - timedelta(hours=2)) <= now - timedelta(hours=2) + timedelta(seconds=1)

    report = engine.sweep(policy, deadline=Deadline.after(30), clients=clients, first_seen=ledger)
    assert outcomes(report)["jj-old"][0] is Outcome.CANCELLED
    assert outcomes(report)["jj-new"] == (Outcome.SKIPPED, SkipReason.TOO_YOUNG)
    assert aws_env.neptune.job("modeltraining", "jj-old").status in ("Stopping", "Stopped")
    assert aws_env.neptune.job("modeltraining", "jj-new").status == "InProgress"
    # The sweep recorded jj-new's first sighting, and a later sighting keeps the first one.
    new_ref = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "jj-new", target)
    first = ledger.first_seen(new_ref, now + timedelta(hours=5))
    assert abs((first - now).total_seconds()) < 60


def test_a_failing_ledger_is_a_reported_failure_not_a_skip(
    aws_env: TestBed,
    virtual_deadlines: object,  # the second passes' pauses pass at once
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    aws_env.neptune.seed_ml_job("modeltransform", "jj-x", status="InProgress")
    policy = make_policy(kinds="neptune-ml-transform", min_age="1h", wait="false")
    missing = DynamoDBFirstSeen("no-such-table")
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy), first_seen=missing)
    result = {r.ref.job_id: r for r in report.results}["jj-x"]
    assert result.outcome is Outcome.FAILED
    assert "first-seen ledger failed" in (result.error or "")
    assert not report.ok
    assert aws_env.neptune.job("modeltransform", "jj-x").status == "InProgress"
