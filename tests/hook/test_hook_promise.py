"""What the hook promises, through the real handler against the test bed (docs/hook.md, "What
the hook promises"): a condition no retry can change never holds a delete; jobs that accepted
their cancel hold only a transform's delete, and only with Fail; Audit cancels nothing."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from jobjanitor import observability
from jobjanitor_testbed import lifecycle
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.hook_driver import HookDriver, delete_stack, hook_event
from test_hook import GLUE, all_in, neptune_event, run_statuses, start_neptune_jobs, start_runs

LOADS_CAPPED = "neptune-loader: ListLoaderJobs returned its cap of 100 ids; older loads cannot be seen"
TRAINING_CAPPED = "neptune-ml-training: ListMLModelTrainingJobs returned its cap of 1024 ids; older jobs cannot be seen"


@pytest.fixture
def hook_mode(monkeypatch: pytest.MonkeyPatch, fresh_hook: Any) -> Any:
    def set_mode(mode: str) -> None:
        monkeypatch.setenv("JOBJANITOR_HOOK_MODE", mode)
        fresh_hook()

    return set_mode


@contextmanager
def structured_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[list[dict[str, Any]]]:
    """The handler's JSON log lines written inside the block, available after it (Powertools
    holds the stdout of import time: it is pointed at the captured one meanwhile)."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    capfd.readouterr()
    lines: list[dict[str, Any]] = []
    previous = handler.setStream(sys.stdout)
    try:
        yield lines
    finally:
        handler.setStream(previous)
    lines.extend(json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{"))


# ---------------------------------------------------------------- a cap no retry can change
def seed_loads(testbed: Any, n: int) -> list[tuple[str, str]]:
    old = testbed.lifecycle.now() - 7200
    return [("loader", testbed.neptune.seed_load(started_at=old, status="LOAD_COMPLETED")) for _ in range(n)]


def seed_training(testbed: Any, n: int) -> list[tuple[str, str]]:
    old = testbed.lifecycle.now() - 7200
    ids = [
        testbed.neptune.seed_ml_job("modeltraining", f"done-{i:04}", started_at=old, status="Completed")
        for i in range(n)
    ]
    return [("modeltraining", job_id) for job_id in ids]


@pytest.mark.parametrize(
    ("seed", "capped"),
    [
        pytest.param(seed_loads, LOADS_CAPPED, id="ListLoaderJobs"),
        pytest.param(seed_training, TRAINING_CAPPED, id="ListMLModelTrainingJobs"),
    ],
)
def test_a_cap_reached_by_finished_history_is_named_and_does_not_hold_the_delete(
    stacks: Any, driver: HookDriver, testbed: Any, seed: Any, capped: str
) -> None:
    """Finished jobs only (120 loads, or 1,030 training jobs), nothing running: the listing comes
    back at its cap on every invocation, whatever the hook does. With Fail, that must not stop
    the delete forever."""
    history = seed(testbed, 120 if seed is seed_loads else 1030)

    deletion = delete_stack("graph", driver)
    run = deletion.runs["GraphCluster"]

    assert driver.failure_mode == "FAIL"
    assert run.status == "SUCCESS", run.reason
    assert run.proceeds
    assert deletion.status == "DELETE_COMPLETE"
    assert len(run.answers) <= driver.max_invocations
    message = run.last["message"]
    assert capped in message, message
    assert "not complete" not in message
    finished = {"loader": "LOAD_COMPLETED", "modeltraining": "Completed"}
    assert all(testbed.neptune.job(api, job_id).status == finished[api] for api, job_id in history)


# ---------------------------------------------------------------- jobs still stopping
@pytest.mark.parametrize("mode", ["Warn", "Fail"])
@pytest.mark.usefixtures("virtual_deadlines")  # the hook waits on a virtual clock
def test_a_clusters_slow_stop_does_not_hold_its_delete(
    stacks: Any, testbed: Any, testbed_clock: Any, hook_mode: Any, mode: str
) -> None:
    """SageMaker takes longer to stop than the hook can wait: every job accepted its cancel, and
    a cluster's deletion does not need them stopped, so even Fail lets it go, naming them."""
    hook_mode(mode)
    lifecycle.configure(stop_delay=24 * 3600.0)
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    driver = HookDriver(failure_mode=mode.upper(), lambda_timeout=5.0, clock=testbed_clock)

    deletion = delete_stack("graph", driver)
    run = deletion.runs["GraphCluster"]

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert deletion.status == "DELETE_COMPLETE"
    message = run.last["message"]
    ml_jobs = [job_id for kind, ids in on_a.items() if kind != "neptune-loader" for job_id in ids]
    assert all(job_id in message for job_id in ml_jobs), message
    assert f"every job accepted its cancel; {len(ml_jobs)} still stopping" in message
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []
    assert testbed.neptune_log.count(method="DELETE") == sum(len(ids) for ids in on_a.values())


@pytest.mark.parametrize("mode", ["Warn", "Fail"])
@pytest.mark.usefixtures("virtual_deadlines")  # the hook waits on a virtual clock
def test_a_transforms_slow_stop_holds_its_delete_only_with_fail(
    stacks: Any, testbed: Any, testbed_clock: Any, hook_mode: Any, mode: str
) -> None:
    """A task run is readable and cancellable only through its transform: Fail keeps the
    transform until its runs stopped (the message says to delete again then); Warn lets it go."""
    hook_mode(mode)
    lifecycle.configure(stop_delay=24 * 3600.0)
    runs = start_runs(stacks.glue, stacks.graph["MatchTransform"], 3)
    driver = HookDriver(failure_mode=mode.upper(), lambda_timeout=5.0, clock=testbed_clock)

    run = driver.run(hook_event(GLUE, "MatchTransform", stacks.graph["StackId"]))

    assert [a["hookStatus"] for a in run.answers] == ["IN_PROGRESS", "IN_PROGRESS", "FAILED"]
    message = run.last["message"]
    assert "3 task run(s) accepted their cancel and are still stopping" in message, message
    assert all(run_id in message for run_id in runs)
    assert run_statuses(stacks.glue, stacks.graph["MatchTransform"], runs) == {"STOPPING"}
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == len(runs), "a run was cancelled twice"
    if mode == "Fail":
        assert not run.proceeds
        assert "delete again once they have stopped" in message
    else:
        assert run.proceeds
        assert "the delete proceeds" in (run.warning or "")


# ---------------------------------------------------------------- Audit
def test_audit_cancels_nothing_and_says_what_it_would_cancel(
    stacks: Any, testbed: Any, driver: HookDriver, hook_mode: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    hook_mode("Audit")
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    runs = start_runs(stacks.glue, stacks.graph["MatchTransform"], 2)
    driver.failure_mode = "WARN"  # the template's FailureMode for Audit; Audit answers SUCCESS anyway

    with structured_logs(capfd) as lines:
        deletion = delete_stack("graph", driver)

    assert deletion.status == "DELETE_COMPLETE"
    cluster, transform = deletion.runs["GraphCluster"], deletion.runs["MatchTransform"]
    assert [a["hookStatus"] for a in cluster.answers] == ["SUCCESS"]
    assert [a["hookStatus"] for a in transform.answers] == ["SUCCESS"]
    # Nothing was cancelled: every job still runs (read through boto3), and no cancel was sent.
    assert all_in(stacks.neptune_a, on_a, sc.RUNNING) == []
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0
    total = sum(len(ids) for ids in on_a.values())
    message = cluster.last["message"]
    assert f"audit (TeardownHook=Audit), nothing cancelled: Neptune cluster {stacks.graph['GraphCluster']}" in message
    assert f"would cancel {total} job(s)" in message, message
    assert all(job_id in message for ids in on_a.values() for job_id in ids)
    assert all(run_id in transform.last["message"] for run_id in runs)
    # What docs/hook.md's Logs Insights query reads: one dry-run line per job it would cancel.
    would = [line for line in lines if line.get("action") == "dry-run" and line.get("outcome") == "would_cancel"]
    assert {line["job_id"] for line in would} == {job_id for ids in on_a.values() for job_id in ids} | set(runs)
    assert {line["logical_id"] for line in would} == {"GraphCluster", "MatchTransform"}
    assert {line["stack"] for line in would} == {"graph"}
    assert all(line["kind"] and line["status"] for line in would)
    metric = [line for line in lines if "JobsWouldCancel" in line and line.get("source") == "hook"]
    assert sum(line["JobsWouldCancel"][0] for line in metric) == total + len(runs)


def test_audit_answers_success_even_when_it_cannot_look(stacks: Any, testbed: Any, hook_mode: Any) -> None:
    hook_mode("Audit")
    from test_hook import invoke, malformed

    for event, field in malformed(stacks):
        answer = invoke(event)
        assert answer["hookStatus"] == "SUCCESS", field
        assert f"malformed request: {field}:" in answer["message"]
        assert "nothing cancelled" in answer["message"]
    testbed.faults_aws.inject("InternalFailure", status=500, times=8, operations=["DescribeStackResource"])
    answer = invoke(neptune_event(stacks))
    assert answer["hookStatus"] == "SUCCESS"
    assert "could not resolve GraphCluster" in answer["message"]
