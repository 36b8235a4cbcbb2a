"""``jobjanitor list`` and ``sweep`` with Neptune ML inference endpoints, run as a process against
the test bed: chosen only by name and with a scope, listed with their SageMaker creation time,
shown apart in a live sweep's plan, deleted only when confirmed."""

from __future__ import annotations

import json

import pytest
from clirun import PROMPT, on_a_terminal, run_cli
from jobjanitor_testbed.server import TestBed


@pytest.fixture
def endpoints(aws_env: TestBed) -> TestBed:
    aws_env.neptune.seed_ml_endpoint("team-a-endpoint", status="InService", created_at=1_700_000_000.0)
    aws_env.neptune.seed_ml_endpoint("team-b-endpoint", status="InService")
    aws_env.neptune.seed_ml_job("modeltraining", "team-a-training", status="InProgress")
    return aws_env


def test_list_shows_endpoints_in_scope_dated_by_sagemaker(endpoints: TestBed) -> None:
    bed = endpoints
    proc = run_cli(
        "list", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-endpoint", "--id-prefix", "team-a-",
        "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    results = {r["job_id"]: r for r in json.loads(proc.stdout)["results"]}
    assert results["team-a-endpoint"]["kind"] == "neptune-ml-endpoint"
    assert results["team-a-endpoint"]["outcome"] == "would_cancel"
    assert results["team-a-endpoint"]["started_at"] == "2023-11-14T22:13:20+00:00"
    assert (results["team-b-endpoint"]["outcome"], results["team-b-endpoint"]["skip_reason"]) == ("skipped", "prefix")
    assert bed.neptune_log.count(method="DELETE") == 0


def test_the_kind_without_a_scope_is_a_usage_error(endpoints: TestBed) -> None:
    proc = run_cli("list", "--neptune-endpoint", endpoints.neptune_url, "--kinds", "neptune-ml-endpoint")
    assert proc.returncode == 2, proc.stderr
    assert "--id-prefix" in proc.stderr
    assert "deletes inference endpoints" in proc.stderr
    assert endpoints.neptune_log.count() == 0


def test_a_live_sweep_shows_endpoints_apart_and_deletes_them_when_confirmed(endpoints: TestBed) -> None:
    bed = endpoints
    code, shown = on_a_terminal(
        "sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training,neptune-ml-endpoint",
        "--id-prefix", "team-a-", "--max-wait", "30", answer="y",
    )  # fmt: skip
    assert code == 0, shown
    plan = shown[: shown.index(PROMPT)]
    assert "will cancel 1 job(s)" in plan
    assert "will DELETE 1 Neptune ML inference endpoint(s)" in plan
    assert "team-a-endpoint  InService, created 2023-11-14 22:13Z" in plan
    assert "team-b-endpoint" not in plan
    assert "Cancel these 1 job(s) and delete these 1 inference endpoint(s)? [y/N]" in shown
    assert bed.neptune.ml_endpoint("team-a-endpoint").status == "Deleted"
    assert bed.neptune.ml_endpoint("team-b-endpoint").status == "InService"
    assert bed.neptune.job("modeltraining", "team-a-training").status == "Stopped"


def test_declining_deletes_nothing(endpoints: TestBed) -> None:
    code, shown = on_a_terminal(
        "sweep", "--neptune-endpoint", endpoints.neptune_url, "--kinds", "neptune-ml-endpoint", "--id-prefix", "*",
        answer="n",
    )  # fmt: skip
    assert code == 1, shown
    assert "Delete these 2 inference endpoint(s)? [y/N]" in shown
    assert "job-id prefix: * (every id)" in shown
    assert endpoints.neptune_log.count(operation="DeleteMLEndpoint") == 0


def test_a_sweep_of_the_default_kinds_never_deletes_an_endpoint(endpoints: TestBed) -> None:
    bed = endpoints
    proc = run_cli("sweep", "--neptune-endpoint", bed.neptune_url, "--id-prefix", "team-a-", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert bed.neptune.job("modeltraining", "team-a-training").status == "Stopped"
    assert bed.neptune.ml_endpoint("team-a-endpoint").status == "InService"
    assert bed.neptune_log.count(operation="DeleteMLEndpoint") == 0
    assert bed.neptune_log.count(operation="ListMLEndpoints") == 0
