"""The CLI given a reader, custom or instance endpoint (issue 20, "reader endpoints"): readers
refuse cancels, so it refuses before any request and names the endpoint to use (exit 2). Run as
the operator runs it, through ``--via`` to a reader of the test bed's cluster.

Failed on the code before: the sweep went to the reader, whose 405s left every job running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clirun import cli_env, run_cli
from jobjanitor_testbed.neptune import NeptuneEmulator
from jobjanitor_testbed.server import TestBed

ID = "abc123def456"
WRITER = f"https://graph.cluster-{ID}.us-east-1.neptune.amazonaws.com:8182"


@pytest.fixture
def emulator(aws_env: TestBed) -> Iterator[NeptuneEmulator]:
    with NeptuneEmulator(lifecycle=aws_env.lifecycle) as own:
        yield own


@pytest.mark.parametrize(
    ("given", "use"),
    [
        (f"https://graph.cluster-ro-{ID}.us-east-1.neptune.amazonaws.com:8182", WRITER),
        (f"https://graph-2.{ID}.us-east-1.neptune.amazonaws.com:8182", f"https://<cluster>.cluster-{ID}."),
        (
            f"https://nightly.cluster-custom-{ID}.us-east-1.neptune.amazonaws.com:8182",
            f"https://<cluster>.cluster-{ID}.",
        ),
    ],
    ids=["reader", "instance", "custom"],
)
def test_a_sweep_given_a_reader_endpoint_is_refused_naming_the_cluster_endpoint(
    emulator: NeptuneEmulator, given: str, use: str
) -> None:
    reader = emulator.add_listener()  # read-only: refuses cancels, as a reader does
    job = emulator.seed_ml_job("modeltraining", "ml-train", status="InProgress")
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=reader)
    proc = run_cli("sweep", "--neptune-endpoint", given, "--via", reader, "--kinds", "neptune-ml-training",
                   "--id-prefix", "ml-", "--max-wait", "10", "--yes", env=env)  # fmt: skip

    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "argument --neptune-endpoint:" in proc.stderr
    assert f"use the cluster endpoint {use}" in proc.stderr, proc.stderr
    assert emulator.log.count() == 0, "a request was sent before the endpoint was checked"
    assert emulator.job("modeltraining", job).status == "InProgress"


def test_the_cluster_endpoint_is_used_as_given(emulator: NeptuneEmulator) -> None:
    job = emulator.seed_ml_job("modeltraining", "ml-train", status="InProgress")
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=emulator.url)
    proc = run_cli("sweep", "--neptune-endpoint", WRITER, "--via", emulator.url, "--kinds", "neptune-ml-training",
                   "--id-prefix", "ml-", "--no-wait", "--yes", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert emulator.job("modeltraining", job).status in {"Stopping", "Stopped"}
