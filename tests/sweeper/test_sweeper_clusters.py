"""One install, several Neptune clusters: the sweeper sweeps each configured cluster on every
run, reports each in its own section and metric target, and a stack deletion sweeps only the
cluster the stack names. Two Neptune emulators stand in for two clusters (moto has both
clusters' management-API side)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jobjanitor import observability
from jobjanitor.errors import ConfigError
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.clusters import STAND_IN, create_stand_in_cluster, delete_cluster
from jobjanitor_testbed.neptune import NeptuneEmulator
from test_sweeper import _stack, _stack_event, event, invoke, invoke_logged

OLD_S = 2 * 3600


@pytest.fixture
def second(sweeper_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[NeptuneEmulator]:
    emulator = NeptuneEmulator(lifecycle=sweeper_env.lifecycle).start()
    try:
        create_stand_in_cluster(emulator.url, "graph-two")
        monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", f"{STAND_IN},graph-two")
        monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", f"{sweeper_env.neptune_url},{emulator.url}")
        yield emulator
    finally:
        emulator.stop()


def old_load(emulator: NeptuneEmulator) -> str:
    return emulator.seed_load(started_at=time.time() - OLD_S, status="LOAD_IN_PROGRESS")


def test_every_configured_cluster_is_swept_each_its_own_section(
    sweeper_env: Any, second: NeptuneEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    first_load, second_load = old_load(sweeper_env.neptune), old_load(second)
    young = second.seed_load(started_at=time.time() - 60, status="LOAD_IN_PROGRESS")
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    capfd.readouterr()
    try:
        result = invoke(event("sweeper-rule.json"))
    finally:
        handler.setStream(previous)

    assert result["ok"] is True, result
    assert set(result["sections"]) == {STAND_IN, "graph-two", "glue"}
    for name in (STAND_IN, "graph-two"):
        assert result["sections"][name]["byKind"]["neptune-loader"]["cancelled"] == 1, result
    assert sweeper_env.neptune.job("loader", first_load).status == "LOAD_CANCELLED_BY_USER"
    assert second.job("loader", second_load).status == "LOAD_CANCELLED_BY_USER"
    assert second.job("loader", young).status == "LOAD_IN_PROGRESS"
    # One metric target per cluster.
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    targets = sorted(line["target"] for line in emf if "JobsCancelled" in line)
    assert targets == sorted([STAND_IN, "graph-two"])


def test_a_stack_deletion_sweeps_only_the_cluster_it_names(
    sweeper_env: Any, second: NeptuneEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "exp")  # stacks claim only under a configured prefix
    second.seed_ml_job("modeltraining", "exp-1", status="InProgress")
    sweeper_env.neptune.seed_ml_job("modeltraining", "exp-1", status="InProgress")
    stack_id = _stack({"jobjanitor:job-id-prefix": "exp-", "jobjanitor:neptune-endpoint": second.url})
    result = invoke(_stack_event(stack_id, "evt-two"))
    assert result["ok"] is True, result
    assert set(result["sections"]) == {"graph-two"}
    assert second.job("modeltraining", "exp-1").status in ("Stopping", "Stopped")
    assert sweeper_env.neptune.job("modeltraining", "exp-1").status == "InProgress"


def test_a_stack_on_a_multi_cluster_sweeper_must_name_its_cluster(sweeper_env: Any, second: NeptuneEmulator) -> None:
    stack_id = _stack({"jobjanitor:job-id-prefix": "exp-"})
    with pytest.raises(ConfigError, match=r"jobjanitor:neptune-endpoint: required: this sweeper serves several"):
        invoke(_stack_event(stack_id, "evt-ambiguous"))


# -- issue 20, point 9: a configured cluster gone ------------------------------------------
def test_a_configured_cluster_gone_is_reported_and_the_rest_swept(
    sweeper_env: Any, second: NeptuneEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    first_load = old_load(sweeper_env.neptune)
    run = moto_glue.seed_task_run(sweeper_env.sweep_transform, started_on=time.time() - OLD_S, status="RUNNING")
    delete_cluster("graph-two")  # its consumer stack was deleted

    result, lines = invoke_logged(event("sweeper-scheduler.json", executionId="run-after-graph-two-went"), capfd)

    assert result["status"] == "swept", result
    assert result["ok"] is False, result
    sections = result["sections"]
    assert set(sections) == {STAND_IN, "graph-two", "glue"}
    assert sections[STAND_IN]["ok"] is True
    assert sections["glue"]["ok"] is True
    assert sections["graph-two"]["ok"] is False
    assert (
        "graph-two: configured in JOBJANITOR_NEPTUNE_CLUSTERS but no longer exists"
        in sections["graph-two"]["errors"][0]
    )
    assert sweeper_env.neptune.job("loader", first_load).status == "LOAD_CANCELLED_BY_USER"
    assert sweeper_env.aws_log.count(operation="CancelMLTaskRun") == 1, run
    assert second.log.count() == 0, "the sweeper talked to a cluster that is gone"
    assert any(line.get("ClustersMissing") == [1.0] for line in lines if "_aws" in line)


def test_the_only_configured_cluster_gone_still_sweeps_glue(sweeper_env: Any) -> None:
    delete_cluster(STAND_IN)
    moto_glue.seed_task_run(sweeper_env.sweep_transform, started_on=time.time() - OLD_S, status="RUNNING")

    result = invoke(event("sweeper-scheduler.json", executionId="run-after-the-cluster-went"))

    assert set(result["sections"]) == {STAND_IN, "glue"}, result
    assert result["sections"]["glue"]["byKind"]["glue-ml-task-run"]["cancelled"] == 1, result
    assert result["sections"][STAND_IN]["ok"] is False
    # A schedule narrowed to Glue does not report the cluster.
    narrowed = invoke(event("sweeper-scheduler.json", executionId="glue-only", narrow={"kinds": "glue-ml-task-run"}))
    assert set(narrowed["sections"]) == {"glue"}, narrowed
    assert narrowed["ok"] is True, narrowed


def test_nothing_left_to_sweep_is_an_error_naming_the_missing_cluster(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    delete_cluster(STAND_IN)
    monkeypatch.setenv("JOBJANITOR_KINDS", "neptune-loader,neptune-ml-training")
    with pytest.raises(ConfigError) as caught:
        invoke(event("sweeper-scheduler.json"))
    assert caught.value.field == "JOBJANITOR_NEPTUNE_CLUSTERS"
    assert STAND_IN in caught.value.message
