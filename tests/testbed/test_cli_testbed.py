"""The ``jobjanitor-testbed`` command, run as a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
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

    proc, urls = launch(command, "--iam", "--neptune-port", "0", "--aws-port", "0")
    unsigned = make_client("neptunedata", urls["neptune"], config=Config(signature_version=UNSIGNED))
    with pytest.raises(unsigned.exceptions.AccessDeniedException):
        unsigned.list_loader_jobs()
    assert make_client("neptunedata", urls["neptune"]).list_loader_jobs()["payload"]["loadIds"] == []
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
