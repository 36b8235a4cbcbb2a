"""The ``jobjanitor-testbed`` command, run as a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from jobjanitor_testbed.pytest_plugin import make_client

LOAD = {"source": "s3://b/x", "format": "csv", "s3BucketRegion": "us-east-1", "iamRoleArn": "arn:aws:iam::1:role/r"}


@pytest.fixture
def command() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def launch(started: list[subprocess.Popen[str]], *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "jobjanitor_testbed", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(2)]
    urls = dict(line.split("=", 1) for line in lines)
    assert set(urls) == {"neptune", "aws"}, lines
    for url in urls.values():
        assert url.startswith("http://127.0.0.1:")
    return proc, urls


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_and_stops_cleanly(command: list[subprocess.Popen[str]], sig: signal.Signals) -> None:
    proc, urls = launch(command, "--job-duration", "60", "--stop-delay", "0.2", "--ml-not-found-404")
    neptune = make_client("neptunedata", urls["neptune"])
    load_id = neptune.start_loader_job(**LOAD)["payload"]["loadId"]
    assert neptune.cancel_loader_job(loadId=load_id)["status"] == "200 OK"
    status = neptune.get_loader_job_status(loadId=load_id)["payload"]["overallStatus"]["status"]
    assert status == "LOAD_CANCELLED_BY_USER"
    neptune.start_ml_model_training_job(id="t", dataProcessingJobId="d", trainModelS3Location="s3://t")
    assert neptune.cancel_ml_model_training_job(id="t")["status"] == "Stopping"
    with pytest.raises(neptune.exceptions.MLResourceNotFoundException):
        neptune.get_ml_model_training_job(id="unknown")
    glue = make_client("glue", urls["aws"])
    assert glue.get_ml_transforms()["Transforms"] == []

    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 0
    assert proc.stdout is not None
    assert proc.stdout.read() == ""  # exactly two lines


def test_iam_flag(command: list[subprocess.Popen[str]]) -> None:
    from botocore import UNSIGNED
    from botocore.config import Config
    from jobjanitor_testbed.cli import build_parser

    assert build_parser().parse_args([]).iam  # verified by default
    assert not build_parser().parse_args(["--no-iam"]).iam
    proc, urls = launch(command, "--neptune-port", "0", "--aws-port", "0")
    unsigned = make_client("neptunedata", urls["neptune"], config=Config(signature_version=UNSIGNED))
    with pytest.raises(unsigned.exceptions.AccessDeniedException):
        unsigned.list_loader_jobs()
    wrong = boto3.client("neptunedata", endpoint_url=urls["neptune"], region_name="us-east-1",
                         aws_access_key_id="someone", aws_secret_access_key="else")  # fmt: skip
    with pytest.raises(wrong.exceptions.AccessDeniedException):
        wrong.list_loader_jobs()
    assert make_client("neptunedata", urls["neptune"]).list_loader_jobs()["payload"]["loadIds"] == []
    wrong_glue = boto3.client("glue", endpoint_url=urls["aws"], region_name="us-east-1",
                              aws_access_key_id="someone", aws_secret_access_key="else")  # fmt: skip
    with pytest.raises(ClientError, match="UnrecognizedClientException"):
        wrong_glue.get_ml_transforms()  # Glue's signatures verified too
    assert make_client("glue", urls["aws"]).get_ml_transforms()["Transforms"] == []
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    proc, urls = launch(command, "--no-iam")  # neither verifies
    wrong = boto3.client("neptunedata", endpoint_url=urls["neptune"], region_name="us-east-1",
                         aws_access_key_id="someone", aws_secret_access_key="else")  # fmt: skip
    assert wrong.list_loader_jobs()["payload"]["loadIds"] == []
    wrong_glue = boto3.client("glue", endpoint_url=urls["aws"], region_name="us-east-1",
                              aws_access_key_id="someone", aws_secret_access_key="else")  # fmt: skip
    assert wrong_glue.get_ml_transforms()["Transforms"] == []
    proc.terminate()
    assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--throttle-rate", "1.5"], "between 0 and 1"),
        (["--drop-rate", "-0.1"], "between 0 and 1"),
        (["--error-rate", "x"], "not a number"),
        (["--latency-ms", "-5"], "must be >= 0"),
        (["--aws-port", "70000"], "between 0 and 65535"),
        (["--seed", "-1"], "between 0 and 100000"),
        (["--seed", "two"], "not a whole number"),
        (["--clock", "yesterday"], "not epoch seconds, ISO 8601 or 'now'"),
    ],
)
def test_bad_flags_are_rejected(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from jobjanitor_testbed.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_seed_starts_jobs_of_every_kind(command: list[subprocess.Popen[str]]) -> None:
    proc, urls = launch(command, "--seed", "4")
    neptune = make_client("neptunedata", urls["neptune"])
    glue = make_client("glue", urls["aws"])
    sagemaker = make_client("sagemaker", urls["aws"])
    training = neptune.list_ml_model_training_jobs(maxItems=1024)["ids"]
    assert {i for i in training if i.startswith("stack-a-") and "-done-" not in i} >= {
        "stack-a-neptune-ml-training-0",
        "stack-a-neptune-ml-training-old-0",
    }
    assert any(i.startswith("stack-b-") for i in training)
    old = neptune.get_ml_model_training_job(id="stack-a-neptune-ml-training-old-0")
    created = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=old["hpoJob"]["name"])
    new = neptune.get_ml_model_training_job(id="stack-a-neptune-ml-training-0")
    created_new = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=new["hpoJob"]["name"])
    assert (created_new["CreationTime"] - created["CreationTime"]).total_seconds() >= 6 * 3600 - 60
    assert len(neptune.list_loader_jobs()["payload"]["loadIds"]) == 4 + 1  # 4 outstanding, 1 finished
    transforms = {t["Name"]: t["TransformId"] for t in glue.get_ml_transforms()["Transforms"]}
    runs = glue.get_ml_task_runs(TransformId=transforms["jj-dedupe"])["TaskRuns"]
    statuses = {r["Status"] for r in runs}
    assert "SUCCEEDED" in statuses
    assert statuses & {"STARTING", "RUNNING"}
    assert len([r for r in runs if r["Status"] != "SUCCEEDED"]) == 4  # 2 started now, 2 seeded old
    assert glue.get_ml_task_runs(TransformId=transforms["jj-dedupe-other"])["TaskRuns"]
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    assert proc.stderr is not None
    assert "seeded" in proc.stderr.read()


def test_clock_flag_makes_jobs_old_without_sleeping(command: list[subprocess.Popen[str]]) -> None:
    import json
    import urllib.request

    proc, urls = launch(command, "--clock", "2026-01-01T00:00:00Z", "--job-duration", "7200")
    neptune = make_client("neptunedata", urls["neptune"])
    sagemaker = make_client("sagemaker", urls["aws"])
    neptune.start_ml_data_processing_job(id="dp-1", inputDataS3Location="s3://i", processedDataS3Location="s3://p")

    def clock(body: dict[str, float] | None = None) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{urls['neptune']}/testbed/clock", data=data)  # noqa: S310 - loopback
        with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback test server
            return dict(json.loads(resp.read()))

    assert clock() == {"now": 1767225600.0, "fake": True}
    assert clock({"advance": 3600}) == {"now": 1767229200.0, "fake": True}
    job = neptune.get_ml_data_processing_job(id="dp-1")
    assert job["status"] == "InProgress"
    created = sagemaker.describe_processing_job(ProcessingJobName=job["processingJob"]["name"])["CreationTime"]
    assert created.timestamp() == 1767225600.0
    clock({"advance": 3600})
    assert neptune.get_ml_data_processing_job(id="dp-1")["status"] == "Completed"
    proc.terminate()
    assert proc.wait(timeout=20) == 0


def test_the_real_clock_cannot_be_moved(command: list[subprocess.Popen[str]]) -> None:
    import json
    import urllib.error
    import urllib.request

    proc, urls = launch(command)
    req = urllib.request.Request(f"{urls['neptune']}/testbed/clock", data=b'{"advance": 10}')  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)  # noqa: S310 - loopback test server
    assert info.value.code == 400
    assert "--clock" in json.loads(info.value.read())["message"]
    proc.terminate()
    assert proc.wait(timeout=20) == 0
