"""Neptune ML jobs dated by the SageMaker jobs under them (the test bed starts those in moto,
with CreationTime = the Neptune job's start), the ledger only as the fallback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from jobjanitor import engine
from jobjanitor.model import JobKindName, JobRef, Outcome, SkipReason, UnderlyingJob
from jobjanitor.policy import Policy
from jobjanitor.sagemaker_dating import SageMakerDating, sagemaker_job
from jobjanitor.store.first_seen import DynamoDBFirstSeen
from jobjanitor_testbed.scenario import ML_KINDS
from jobjanitor_testbed.server import TestBed

DESCRIBES = ("DescribeProcessingJob", "DescribeHyperParameterTuningJob", "DescribeTrainingJob", "DescribeTransformJob")
TWO_HOURS = 7200.0


def describes(bed: TestBed) -> int:
    return sum(bed.aws_log.count(operation=op) for op in DESCRIBES)


def run(policy: Policy, **kwargs: object) -> engine.Report:
    return engine.sweep(policy, deadline=engine.Deadline.after(60), dating=SageMakerDating(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def aged_ml(aws_env: TestBed) -> dict[str, tuple[str, str]]:
    """Per ML kind: (a job started two hours ago, one started now), both InProgress."""
    bed = aws_env
    now = bed.lifecycle.now()
    jobs = {}
    for kind, api_kind in ML_KINDS.items():
        old = bed.neptune.seed_ml_job(api_kind, f"jj-old-{api_kind}", status="InProgress", started_at=now - TWO_HOURS)
        young = bed.neptune.seed_ml_job(api_kind, f"jj-young-{api_kind}", status="InProgress")
        jobs[kind] = (old, young)
    return jobs


def test_min_age_acts_on_the_sagemaker_creation_time(
    aws_env: TestBed, aged_ml: dict[str, tuple[str, str]], make_policy: Callable[..., Policy]
) -> None:
    report = run(make_policy(kinds=",".join(ML_KINDS), min_age="1h", wait=False))
    assert report.ok, report.render_table()
    by_id = {r.ref.job_id: r for r in report.results}
    started = datetime.fromtimestamp(aws_env.lifecycle.now() - TWO_HOURS, UTC)
    for old, young in aged_ml.values():
        assert by_id[old].outcome is Outcome.CANCELLED
        assert abs(by_id[old].started_at - started) < timedelta(seconds=5)  # type: ignore[operator]
        assert by_id[young].skip_reason is SkipReason.TOO_YOUNG
    # One extra read per ML job, and no ledger involved.
    assert describes(aws_env) == 2 * len(ML_KINDS)
    assert report.warnings == []


def test_no_age_filter_no_sagemaker_read(
    aws_env: TestBed, aged_ml: dict[str, tuple[str, str]], make_policy: Callable[..., Policy]
) -> None:
    report = run(make_policy(kinds=",".join(ML_KINDS), job_id_prefix="jj-old-", wait=False))
    assert report.counts()["cancelled"] == len(ML_KINDS)
    assert describes(aws_env) == 0


@pytest.mark.parametrize("api_kind", sorted(ML_KINDS.values()))
def test_every_member_a_get_names_dates_the_job(aws_env: TestBed, api_kind: str) -> None:
    """Each SageMaker job type under each kind is described with its own call (by its arn)."""
    bed = aws_env
    start = bed.lifecycle.now() - TWO_HOURS
    bed.neptune.seed_ml_job(api_kind, "jj-x", status="InProgress", started_at=start)
    neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    get = {
        "dataprocessing": neptune.get_ml_data_processing_job,
        "modeltraining": neptune.get_ml_model_training_job,
        "modeltransform": neptune.get_ml_model_transform_job,
    }[api_kind](id="jj-x")
    members = [m for m in ("processingJob", "baseProcessingJob", "hpoJob", "remoteModelTransformJob") if m in get]
    assert members
    dating = SageMakerDating(boto3.client("sagemaker"))
    for member in members:
        job = UnderlyingJob(member, get[member]["name"], get[member]["arn"])
        assert sagemaker_job(job) is not None
        assert abs(dating.started_at((job,)).timestamp() - start) < 5  # type: ignore[union-attr]


def test_the_describe_follows_the_arn_type() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:{}/x-1"
    assert sagemaker_job(UnderlyingJob("remoteModelTransformJob", "x-1", arn.format("processing-job"))) == (
        "processing-job",
        "x-1",
    )
    assert sagemaker_job(UnderlyingJob("modelTransformJob", "", arn.format("training-job"))) == ("training-job", "x-1")
    assert sagemaker_job(UnderlyingJob("hpoJob", "h", None)) == ("hyper-parameter-tuning-job", "h")
    assert sagemaker_job(UnderlyingJob("modelTransformJob", "m", None)) is None  # type unknown: not guessed
    assert sagemaker_job(UnderlyingJob("processingJob", "p", arn.format("endpoint"))) is None


def test_a_job_naming_no_sagemaker_job_yet_falls_back_to_the_ledger(
    aws_env: TestBed, make_policy: Callable[..., Policy], still_starting: Callable[..., None]
) -> None:
    bed = aws_env
    boto3.client("dynamodb").create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    bed.neptune.seed_ml_job("modeltraining", "jj-starting", status="InProgress")
    still_starting(bed, "modeltraining", "jj-starting")
    policy = make_policy(kinds="neptune-ml-training", min_age="1h", wait=False)
    ledger = DynamoDBFirstSeen("ledger")
    # Seen two hours ago by an earlier sweep.
    ref = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "jj-starting", bed.neptune_url)
    ledger.first_seen(ref, datetime.now(UTC) - timedelta(hours=2))
    report = run(policy, first_seen=ledger)
    (result,) = report.results
    assert result.outcome is Outcome.CANCELLED
    assert describes(bed) == 0  # nothing to describe
    assert len(report.warnings) == 1
    assert "named no SageMaker job yet" in report.warnings[0]
    assert "first-seen ledger" in report.warnings[0]
    assert "jj-starting" in report.warnings[0]
    # Without a ledger such a job cannot be dated: never matched by an age filter.
    bed.neptune.seed_ml_job("modeltraining", "jj-starting-2", status="InProgress")
    still_starting(bed, "modeltraining", "jj-starting-2")
    again = run(policy)
    assert {r.ref.job_id: r.skip_reason for r in again.results}["jj-starting-2"] is SkipReason.AGE_UNKNOWN


def test_a_sagemaker_fault_is_a_reported_failure(
    aws_env: TestBed,
    aged_ml: dict[str, tuple[str, str]],
    make_policy: Callable[..., Policy],
    no_retry_delay: None,
    virtual_deadlines: object,  # the second passes' pauses pass at once
) -> None:
    aws_env.faults_aws.inject("AccessDeniedException", times=10_000, operations={"DescribeProcessingJob"}, status=400)
    report = run(make_policy(kinds="neptune-ml-dataprocessing", min_age="1h", wait=False))
    assert not report.ok
    failed = {r.ref.job_id: r for r in report.failures}
    assert set(failed) == set(aged_ml["neptune-ml-dataprocessing"])
    for result in failed.values():
        assert result.error is not None
        assert result.error.startswith("dating from processingJob ")
        assert "AccessDenied" in result.error
    assert aws_env.neptune_log.count(method="DELETE") == 0  # nothing undatable was cancelled
