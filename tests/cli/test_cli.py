"""The ``jobjanitor`` command against the test bed: in-process via main([...]) and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from clirun import run_cli
from jobjanitor.cli import main
from jobjanitor.model import JobKindName, JobRef
from jobjanitor.store.first_seen import DynamoDBFirstSeen
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.scenario import create_transform
from jobjanitor_testbed.server import TestBed

CANCEL_OPS = ("CancelLoaderJob", "CancelMLDataProcessingJob", "CancelMLModelTrainingJob", "CancelMLModelTransformJob")


@pytest.fixture
def seeded(aws_env: TestBed) -> dict[str, str]:
    bed = aws_env
    bed.neptune.seed_load("load-1", status="LOAD_IN_PROGRESS")
    bed.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    bed.neptune.seed_ml_job("modeltraining", "keep-train", status="InProgress")
    bed.neptune.seed_ml_job("dataprocessing", "jj-dp-done", status="Completed")
    transform = create_transform(boto3.client("glue", region_name="us-east-1"), "jj-cli")
    run = moto_glue.seed_task_run(transform, status="RUNNING")
    return {"transform": transform, "run": run}


def neptune_cancels(bed: TestBed) -> int:
    return sum(bed.neptune_log.count(operation=op) for op in CANCEL_OPS)


def test_list_json(aws_env: TestBed, seeded: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["list", "--neptune-endpoint", aws_env.neptune_url, "--glue-transform-prefix", "jj-",
                 "--id-prefix", "jj-", "--kinds", "all", "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    outcomes = {r["job_id"]: r["outcome"] for r in data["results"]}
    assert outcomes["jj-train"] == "would_cancel"
    assert outcomes["keep-train"] == "skipped"
    assert outcomes[seeded["run"]] == "would_cancel"
    assert outcomes["load-1"] == "would_cancel"
    assert neptune_cancels(aws_env) == 0


def test_sweep_dry_run_then_sweep(aws_env: TestBed, seeded: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["sweep", "--neptune-endpoint", aws_env.neptune_url, "--glue-transform", seeded["transform"],
            "--id-prefix", "jj-", "--kinds", "all", "--max-wait", "30"]  # fmt: skip
    assert main([*base, "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "would_cancel" in captured.out
    assert neptune_cancels(aws_env) == 0
    assert aws_env.aws_log.count(operation="CancelMLTaskRun") == 0
    assert aws_env.neptune.job("modeltraining", "jj-train").status == "InProgress"

    assert main([*base, "--yes"]) == 0
    captured = capsys.readouterr()
    assert "cancel neptune-ml-training jj-train: cancelled" in captured.err  # progress on stderr
    assert "KIND" in captured.out
    assert "cancelled" in captured.out
    assert aws_env.neptune.job("modeltraining", "jj-train").status == "Stopped"
    assert aws_env.neptune.job("modeltraining", "keep-train").status == "InProgress"
    assert aws_env.neptune.job("loader", "load-1").status == "LOAD_CANCELLED_BY_USER"


def test_sweep_exit_1_when_a_cancel_fails(
    aws_env: TestBed, seeded: dict[str, str], capsys: pytest.CaptureFixture[str], no_retry_delay: None
) -> None:
    aws_env.faults_neptune.inject("ClientTimeoutException", times=100, operations={"CancelMLModelTrainingJob"})
    code = main(["sweep", "--neptune-endpoint", aws_env.neptune_url, "--kinds", "neptune-ml-training",
                 "--id", "jj-train", "--json", "--quiet", "--yes"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    data = json.loads(captured.out)
    assert data["ok"] is False
    assert data["counts"]["failed"] == 1
    assert captured.err == ""


def test_sweep_exit_1_when_jobs_still_running(
    aws_env: TestBed, seeded: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    aws_env.lifecycle.stop_delay = 600.0
    code = main(["sweep", "--neptune-endpoint", aws_env.neptune_url, "--kinds", "neptune-ml-training",
                 "--id", "jj-train", "--max-wait", "1", "--quiet", "--yes"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "still running at the deadline: 1" in out


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["sweep", "--neptune-endpoint", "http://127.0.0.1:1", "--max-wait", "abc"], "--max-wait"),
        (["sweep", "--neptune-endpoint", "not-a-url"], "--neptune-endpoint"),
        (["list", "--neptune-endpoint", "http://127.0.0.1:1", "--older-than", "soon"], "--older-than"),
        (["list", "--neptune-endpoint", "http://127.0.0.1:1", "--kinds", "neptune-everything"], "--kinds"),
        (["list", "--kinds", "neptune-loader"], "--neptune-endpoint"),
        (["list", "--neptune-endpoint", "http://127.0.0.1:1", "--concurrency", "0"], "--concurrency"),
        (["sweep", "--bogus"], "--bogus"),
        (["list"], "--neptune-endpoint"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert "error:" in err


def test_subprocess_sweep(aws_env: TestBed, seeded: dict[str, str]) -> None:
    """The installed command, in its own process, against the running test bed."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-m", "jobjanitor", "sweep", "--neptune-endpoint", aws_env.neptune_url,
            "--glue-transform", seeded["transform"], "--id-prefix", "jj-", "--kinds", "all",
            "--json", "--max-wait", "30", "--yes"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)  # noqa: S603
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    outcomes = {r["job_id"]: r["outcome"] for r in data["results"]}
    assert outcomes["jj-train"] == "cancelled"
    assert outcomes[seeded["run"]] == "cancelled"
    assert outcomes["keep-train"] == "skipped"
    assert "jobjanitor: cancel" in proc.stderr
    assert aws_env.neptune.job("modeltraining", "jj-train").status == "Stopped"
    assert aws_env.aws_log.count(operation="CancelMLTaskRun") == 1


def test_older_than_ages_ml_jobs_from_sagemaker(aws_env: TestBed) -> None:
    """The CLI as a process: --older-than acts on the SageMaker jobs' CreationTime."""
    bed = aws_env
    started = bed.lifecycle.now() - 7200
    bed.neptune.seed_ml_job("modeltraining", "jj-old", status="InProgress", started_at=started)
    bed.neptune.seed_ml_job("modeltraining", "jj-new", status="InProgress")
    proc = run_cli("sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training",
                   "--older-than", "1h", "--no-wait", "--json", "-q", "--yes")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = {r["job_id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["jj-old"]["outcome"] == "cancelled"
    assert abs(datetime.fromisoformat(results["jj-old"]["started_at"]).timestamp() - started) < 5
    assert results["jj-new"]["skip_reason"] == "too_young"
    assert bed.neptune.job("modeltraining", "jj-new").status == "InProgress"


def test_list_reads_the_ledger_and_never_writes_it(
    aws_env: TestBed, still_starting: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    bed = aws_env
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for job_id in ("jj-seen", "jj-unseen"):  # both still starting: no SageMaker job named yet
        bed.neptune.seed_ml_job("modeltraining", job_id, status="InProgress")
        still_starting(bed, "modeltraining", job_id)
    # An earlier sweep (the deployed sweeper, say) first saw jj-seen two hours ago.
    seen = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "jj-seen", bed.neptune_url)
    DynamoDBFirstSeen("ledger").first_seen(seen, datetime.now(UTC) - timedelta(hours=2))
    before = dynamodb.scan(TableName="ledger")["Items"]
    argv = ["--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training", "--older-than", "1h",
            "--first-seen-table", "ledger", "--json", "-q"]  # fmt: skip
    assert main(["list", *argv]) == 0
    listed = json.loads(capsys.readouterr().out)
    outcomes = {r["job_id"]: r["outcome"] for r in listed["results"]}
    assert outcomes == {"jj-seen": "would_cancel", "jj-unseen": "skipped"}
    assert any("first-seen ledger" in w for w in listed["warnings"])
    assert dynamodb.scan(TableName="ledger")["Items"] == before  # list wrote nothing
    assert bed.aws_log.count(operation="UpdateItem") == 1  # the seeding above, only
    # A sweep records the sighting it makes.
    assert main(["sweep", "--no-wait", "--yes", *argv]) == 0
    assert len(dynamodb.scan(TableName="ledger")["Items"]) == 2
