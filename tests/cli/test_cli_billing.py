"""Does the bill stop? A sweep reports a Neptune ML job or an inference endpoint as stopped only
when SageMaker agrees (issue 22, part 2), run as the operator runs it against the test bed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clirun import run_cli
from jobjanitor_testbed.server import TestBed


def sweep(bed: TestBed, *extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    proc = run_cli(
        "sweep", "--neptune-endpoint", bed.neptune_url, "--id-prefix", "team-a-", "--yes", "--json", *extra
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.returncode, {r["job_id"]: r for r in json.loads(proc.stdout)["results"]}


@pytest.fixture
def training(aws_env: TestBed) -> TestBed:
    aws_env.neptune.seed_ml_job("modeltraining", "team-a-training", status="InProgress")
    return aws_env


def test_a_stopped_job_is_billing_stopped_once_sagemaker_agrees(training: TestBed) -> None:
    code, results = sweep(training, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0
    job = results["team-a-training"]
    assert (job["outcome"], job["final_status"], job["outstanding"]) == ("cancelled", "Stopped", False)
    assert job["billing"] == "billing stopped"
    # Every SageMaker job its Get named was read, once Neptune said Stopped.
    assert training.aws_log.count(operation="DescribeProcessingJob") == 1
    assert training.aws_log.count(operation="DescribeHyperParameterTuningJob") == 1


def test_when_sagemaker_lags_neptune_the_sweep_waits_for_sagemaker(training: TestBed) -> None:
    training.neptune.state.sagemaker_lag = 2.0  # SageMaker reads Stopping 2 s after Neptune reads Stopped
    code, results = sweep(training, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0
    job = results["team-a-training"]
    assert (job["final_status"], job["outstanding"], job["billing"]) == ("Stopped", False, "billing stopped")
    assert training.aws_log.count(operation="DescribeHyperParameterTuningJob") >= 2  # read while it lagged


def test_sagemaker_still_running_at_the_deadline_is_still_stopping_by_its_name(training: TestBed) -> None:
    training.neptune.state.sagemaker_lag = 600.0
    code, results = sweep(training, "--kinds", "neptune-ml-training", "--max-wait", "3")
    assert code == 1  # still running at the deadline
    job = results["team-a-training"]
    assert (job["outcome"], job["final_status"], job["outstanding"]) == ("cancelled", "Stopped", True)
    assert job["billing"].startswith("SageMaker still running: ")
    assert "team-a-training-training-prep: Stopping" in job["billing"]  # the SageMaker name
    assert "hpoJob team-a-training-hpo: Stopping" in job["billing"]


def test_a_deleted_endpoint_is_billing_stopped_when_sagemaker_no_longer_has_it(aws_env: TestBed) -> None:
    aws_env.neptune.seed_ml_endpoint("team-a-endpoint", status="InService")
    code, results = sweep(aws_env, "--kinds", "neptune-ml-endpoint", "--max-wait", "60")
    assert code == 0
    endpoint = results["team-a-endpoint"]
    assert (endpoint["outcome"], endpoint["outstanding"], endpoint["billing"]) == (
        "cancelled",
        False,
        "billing stopped",
    )
    assert [u["member"] for u in endpoint["underlying"]] == ["endpoint", "endpointConfig"]


def test_an_endpoint_config_left_behind_is_reported_by_name(aws_env: TestBed) -> None:
    """Whether DeleteMLEndpoint removes the endpoint config and model is not documented: when the
    config outlives the endpoint, the report names it (and the model it names), deleting nothing."""
    aws_env.neptune.state.endpoints.leave_config_and_model = True
    aws_env.neptune.seed_ml_endpoint("team-a-endpoint", status="InService")
    code, results = sweep(aws_env, "--kinds", "neptune-ml-endpoint", "--max-wait", "60")
    assert code == 0
    assert results["team-a-endpoint"]["billing"] == (
        "billing stopped; left behind (not billed): endpoint config team-a-endpoint-endpoint-config "
        "(model team-a-endpoint-endpoint-model)"
    )
    assert aws_env.aws_log.count(operation="DeleteEndpointConfig") == 0
    assert aws_env.aws_log.count(operation="DeleteModel") == 0


# -- verified in batches (issue 24: the SageMaker reads count in the requests per cancelled job)
SAGEMAKER_READS = (
    "DescribeProcessingJob",
    "DescribeHyperParameterTuningJob",
    "DescribeTrainingJob",
    "DescribeTransformJob",
    "ListProcessingJobs",
    "ListHyperParameterTuningJobs",
    "ListTrainingJobs",
    "ListTransformJobs",
)


def sagemaker_reads(bed: TestBed) -> dict[str, int]:
    counts = {op: bed.aws_log.count(operation=op) for op in SAGEMAKER_READS}
    return {op: n for op, n in counts.items() if n}


@pytest.fixture
def many_training(aws_env: TestBed) -> list[str]:
    """30 Neptune ML training jobs, each running on a processing job and a tuning job in moto."""
    seed = aws_env.neptune.seed_ml_job
    return [seed("modeltraining", f"team-a-training-{i}", status="InProgress") for i in range(30)]


def test_a_whole_sweep_verifies_sagemaker_with_far_fewer_reads_than_jobs(
    aws_env: TestBed, many_training: list[str]
) -> None:
    code, results = sweep(aws_env, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0
    assert {(r["outcome"], r["outstanding"], r["billing"]) for r in results.values()} == {
        ("cancelled", False, "billing stopped")
    }
    assert len(results) == len(many_training)
    # 60 SageMaker jobs (a processing and a tuning job per training job) read by one listing of
    # each type, not one Describe each.
    reads = sagemaker_reads(aws_env)
    assert sum(reads.values()) <= 4, reads
    assert reads.get("ListProcessingJobs"), reads
    assert reads.get("ListHyperParameterTuningJobs"), reads


def test_a_check_reads_each_sagemaker_type_at_once(aws_env: TestBed, many_training: list[str]) -> None:
    """The processing jobs' listing and the tuning jobs' are read side by side, not one after the
    other (at a sweep's end, one after the other, they were its last half second)."""
    listings = ("ListProcessingJobs", "ListHyperParameterTuningJobs")
    aws_env.faults_aws.set(latency=0.5, operations=listings)
    code, results = sweep(aws_env, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0
    assert {r["billing"] for r in results.values()} == {"billing stopped"}
    (processing,), (tuning,) = (aws_env.aws_log.entries(operation=op) for op in listings)
    assert processing.duration >= 0.5
    assert tuning.duration >= 0.5
    # Each started before the other was answered.
    assert processing.timestamp < tuning.timestamp + tuning.duration
    assert tuning.timestamp < processing.timestamp + processing.duration


def test_sagemaker_still_running_is_held_and_named_when_read_by_listing(
    aws_env: TestBed, many_training: list[str]
) -> None:
    aws_env.neptune.state.sagemaker_lag = 600.0  # Neptune reads Stopped; SageMaker Stopping
    code, results = sweep(aws_env, "--kinds", "neptune-ml-training", "--max-wait", "3")
    assert code == 1  # still running at the deadline
    for job_id in many_training:
        job = results[job_id]
        assert (job["outcome"], job["final_status"], job["outstanding"]) == ("cancelled", "Stopped", True)
        assert f"processingJob {job_id}-training-prep: Stopping" in job["billing"]
        assert f"hpoJob {job_id}-hpo: Stopping" in job["billing"]
    reads = sagemaker_reads(aws_env)
    assert set(reads) == {"ListProcessingJobs", "ListHyperParameterTuningJobs"}, reads  # no Describe


def test_a_listing_that_fails_leaves_the_jobs_billing_unverified(aws_env: TestBed, many_training: list[str]) -> None:
    aws_env.faults_aws.inject(
        "AccessDeniedException",
        times=1000,
        operations=["ListProcessingJobs"],
        message="User is not authorized to perform: sagemaker:ListProcessingJobs",
    )
    code, results = sweep(aws_env, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0, results  # nothing seen running: the sweep did its work; the note says what it could not read
    for job_id in many_training:
        job = results[job_id]
        # Not held (Neptune reads it stopped, nothing was seen running), not silently ok.
        assert (job["outcome"], job["final_status"], job["outstanding"]) == ("cancelled", "Stopped", False)
        assert job["billing"].startswith("billing unverified: ListProcessingJobs: AccessDeniedException"), job
    assert aws_env.aws_log.count(operation="DescribeProcessingJob") == 0


def test_a_listing_stops_paging_where_describing_costs_less(aws_env: TestBed) -> None:
    """Three training jobs whose SageMaker jobs lie past 400 newer ones: the listing of
    processing jobs stops after as many pages as it has names to find, and describes those."""
    sagemaker = aws_env.aws_client("sagemaker")
    for i in range(400):
        sagemaker.create_processing_job(
            ProcessingJobName=f"other-team-{i}",
            AppSpecification={"ImageUri": "image"},
            ProcessingResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
            },
            RoleArn="arn:aws:iam::123456789012:role/other",
        )
    jobs = [aws_env.neptune.seed_ml_job("modeltraining", f"team-a-training-{i}", status="InProgress") for i in range(3)]
    aws_env.aws_log.clear()
    code, results = sweep(aws_env, "--kinds", "neptune-ml-training", "--max-wait", "60")
    assert code == 0
    assert {results[j]["billing"] for j in jobs} == {"billing stopped"}
    # A whole listing is five pages (403 processing jobs); three names: three pages, then
    # the three names described. The three tuning jobs: one page.
    assert sagemaker_reads(aws_env) == {
        "ListProcessingJobs": 3,
        "DescribeProcessingJob": 3,
        "ListHyperParameterTuningJobs": 1,
    }


def test_sagemaker_is_checked_while_other_kinds_are_still_stopping(aws_env: TestBed) -> None:
    """The check of what an ML job ran on waits for nothing of other kinds: a Glue run that
    takes 4 s to stop does not hold the training job's SageMaker check until it has stopped
    (before, the check waited until nothing else was left, or 5 s)."""
    import boto3
    from jobjanitor_testbed import moto_glue
    from jobjanitor_testbed.scenario import create_transform

    transform = create_transform(boto3.client("glue"), "team-a-transform")
    run = moto_glue.seed_task_run(transform, status="RUNNING", stop_delay=4.0)
    aws_env.lifecycle.stop_delay = 0.2  # Neptune's training job
    aws_env.neptune.seed_ml_job("modeltraining", "team-a-training", status="InProgress")
    kinds = ("--kinds", "neptune-ml-training,glue-ml-task-run", "--glue-transform", transform, "--max-wait", "60")
    code, results = sweep(aws_env, *kinds)
    assert code == 0, results
    assert results["team-a-training"]["billing"] == "billing stopped"
    assert results[run]["final_status"] == "STOPPED"
    checked = min(e.timestamp for e in aws_env.aws_log.entries(operation="DescribeHyperParameterTuningJob"))
    run_stopped = max(e.timestamp for e in aws_env.aws_log.entries(operation="GetMLTaskRun"))
    cancelled = min(e.timestamp for e in aws_env.aws_log.entries(operation="CancelMLTaskRun"))
    assert run_stopped - cancelled >= 4.0  # the run did take its 4 s
    assert checked < cancelled + 3.0, (checked - cancelled, run_stopped - cancelled)  # before: after 4 s
