"""The scheduled sweeper end to end: the Lambda handler with the example events, against the
test bed and moto (DynamoDB for idempotency and the first-seen ledger, CloudFormation for tags)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from jobjanitor import engine, observability
from jobjanitor.errors import ConfigError
from jobjanitor.sweeper.config import SweeperConfig
from jobjanitor.sweeper.logic import Sweeper
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
STOPPED_OR_STOPPING = sc.STOPPING_OR_STOPPED


def event(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    data.update(changes)
    return data


def invoke(evt: dict[str, Any], *, timeout: float = 300.0) -> dict[str, Any]:
    from jobjanitor.handlers.sweeper import lambda_handler

    result: dict[str, Any] = lambda_handler(
        evt, LambdaContext(function_name="jobjanitor-sweeper", timeout_seconds=timeout)
    )
    return result


def invoke_logged(evt: dict[str, Any], capfd: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[Any]]:
    """``invoke`` with Powertools' log lines (EMF included) captured: the result and the JSON
    lines it printed. Powertools' handler holds the stdout of import time, so it is pointed at
    the captured one for the call."""
    capfd.readouterr()
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    try:
        result = invoke(evt)
    finally:
        handler.setStream(previous)
    return result, [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]


def states(bed: Any, jobs: dict[str, list[str]], transform_id: str) -> dict[tuple[str, str], str]:
    neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    return sc.statuses(neptune, boto3.client("glue"), jobs, transform_id)


def cancel_requests(bed: Any) -> int:
    return bed.neptune_log.count(method="DELETE") + bed.aws_log.count(operation="CancelMLTaskRun")


@pytest.mark.parametrize("name", ["sweeper-scheduler.json", "sweeper-rule.json"])
def test_a_schedule_cancels_exactly_the_old_jobs_once(
    sweeper_env: Any, seed_aged: Callable[..., Any], name: str
) -> None:
    bed = sweeper_env
    aged = seed_aged()
    first = invoke(event(name))
    assert first["status"] == "swept"
    assert first["ok"] is True, first
    assert int(first["summary"]["Cancelled"]) == aged.count("old")
    assert sc.in_states(states(bed, aged.old, aged.transform_id), STOPPED_OR_STOPPING) == []
    assert sc.in_states(states(bed, aged.young, aged.transform_id), sc.RUNNING) == []
    cancels = cancel_requests(bed)
    assert cancels == aged.count("old")
    # The same event again (a retry or a duplicate delivery): the first result, nothing swept.
    second = invoke(event(name))
    assert second == first
    assert cancel_requests(bed) == cancels


def test_dry_run_cancels_nothing(
    sweeper_env: Any, seed_aged: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env
    monkeypatch.setenv("JOBJANITOR_DRY_RUN", "true")
    aged = seed_aged()
    result = invoke(event("sweeper-rule.json"))
    assert result["dryRun"] is True
    assert int(result["summary"]["WouldCancel"]) == aged.count("old")
    assert int(result["summary"]["Cancelled"]) == 0
    assert cancel_requests(bed) == 0
    assert sc.in_states(states(bed, aged.old, aged.transform_id), sc.RUNNING) == []


def test_schedule_input_narrows_and_may_not_widen(sweeper_env: Any, seed_aged: Callable[..., Any]) -> None:
    bed = sweeper_env
    aged = seed_aged()
    narrowed = invoke(
        event("sweeper-scheduler.json", executionId="exec-narrow", narrow={"kinds": ["glue-ml-task-run"]})
    )
    assert narrowed["byKind"].keys() == {"glue-ml-task-run"}
    assert (
        sc.in_states(
            states(bed, {"glue-ml-task-run": aged.old["glue-ml-task-run"]}, aged.transform_id), STOPPED_OR_STOPPING
        )
        == []
    )
    assert (
        sc.in_states(
            states(bed, {k: v for k, v in aged.old.items() if k != "glue-ml-task-run"}, aged.transform_id), sc.RUNNING
        )
        == []
    )
    before = cancel_requests(bed)
    for narrow, field in [
        ({"maxAge": "10m"}, "narrow.maxAge"),
        ({"kinds": ["spark"]}, "narrow.kinds"),
        ({"glueTransformIds": ["tfm-elsewhere"]}, "narrow.glueTransformIds"),
        ({"everything": True}, "narrow.everything"),
    ]:
        with pytest.raises(ConfigError) as caught:
            invoke(event("sweeper-scheduler.json", executionId=f"exec-{field}", narrow=narrow))
        assert str(caught.value).startswith(field)
    assert cancel_requests(bed) == before


def test_bad_configuration_fails_every_invocation_naming_the_variable(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in [
        ("JOBJANITOR_MAX_AGE", ""),
        ("JOBJANITOR_MAX_AGE", "soon"),
        ("JOBJANITOR_NEPTUNE_ENDPOINT", "https://cluster:8182"),  # replaced by the cluster list
        ("JOBJANITOR_NEPTUNE_CLUSTERS", "testbed-graph,,graph-b"),
        ("JOBJANITOR_KINDS", "neptune-loader,spark"),
        ("JOBJANITOR_DRY_RUN", "perhaps"),
    ]:
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            for _ in range(2):
                with pytest.raises(ConfigError) as caught:
                    SweeperConfig.from_env(dict(os.environ))
                assert str(caught.value).startswith(name), caught.value


def test_concurrent_duplicate_does_not_sweep_twice(sweeper_env: Any, seed_aged: Callable[..., Any]) -> None:
    bed = sweeper_env
    aged = seed_aged()
    bed.faults_neptune.set(latency=0.3)
    config = SweeperConfig.from_env(dict(os.environ))
    results: list[dict[str, Any]] = []
    evt = event("sweeper-rule.json")

    def run() -> None:
        results.append(Sweeper(config).handle(dict(evt), LambdaContext(timeout_seconds=300)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    threads[0].start()
    time.sleep(0.5)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=120)
    bed.faults_neptune.clear()
    assert sorted(r["status"] for r in results) == ["duplicate-in-progress", "swept"]
    assert cancel_requests(bed) == aged.count("old")


class _Killed(BaseException):
    """What a Lambda timeout is to the code: it stops, no exception handler runs."""


def test_a_run_that_timed_out_can_be_retried(
    sweeper_env: Any, seed_aged: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env
    aged = seed_aged()
    config = SweeperConfig.from_env(dict(os.environ))
    evt = event("sweeper-rule.json")

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(engine, "sweep", killed)
        with pytest.raises(_Killed):
            Sweeper(config).handle(dict(evt), LambdaContext(timeout_seconds=2))
    # Before the killed run's Lambda deadline passes, its record still says in progress.
    assert Sweeper(config).handle(dict(evt), LambdaContext(timeout_seconds=300))["status"] == "duplicate-in-progress"
    time.sleep(2.2)
    retried = Sweeper(config).handle(dict(evt), LambdaContext(timeout_seconds=300))
    assert retried["status"] == "swept"
    assert cancel_requests(bed) == aged.count("old")


def test_a_throttling_storm_still_cancels_everything_in_scope(sweeper_env: Any, seed_aged: Callable[..., Any]) -> None:
    bed = sweeper_env
    aged = seed_aged(per_kind=3)
    bed.faults_neptune.set(throttle_rate=0.4, error_rate=0.1, drop_rate=0.05, seed=11)
    bed.faults_aws.set(throttle_rate=0.3, seed=12)
    result = invoke(event("sweeper-rule.json"))
    bed.faults_neptune.clear()
    bed.faults_aws.clear()
    assert result["ok"] is True, result
    assert sc.in_states(states(bed, aged.old, aged.transform_id), STOPPED_OR_STOPPING) == []
    assert sc.in_states(states(bed, aged.young, aged.transform_id), sc.RUNNING) == []
    assert bed.neptune_log.count(status=429) > 0


def test_never_runs_past_its_own_timeout(sweeper_env: Any, seed_aged: Callable[..., Any]) -> None:
    bed = sweeper_env
    bed.lifecycle.stop_delay = 600.0
    aged = seed_aged()
    started = time.monotonic()
    result = invoke(event("sweeper-rule.json"), timeout=14)
    elapsed = time.monotonic() - started
    assert elapsed < 14
    assert result["ok"] is False
    assert int(result["summary"]["StillRunning"]) > 0
    assert sc.in_states(states(bed, aged.old, aged.transform_id), STOPPED_OR_STOPPING) == []


def _stack(tags: dict[str, str]) -> str:
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    cfn = boto3.client("cloudformation")
    name = f"exp-{int(time.time() * 1000) % 10**9}"
    stack_id: str = cfn.create_stack(
        StackName=name, TemplateBody=json.dumps(template), Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )["StackId"]
    return stack_id


def _stack_event(stack_id: str, event_id: str) -> dict[str, Any]:
    evt = event("sweeper-stack-delete.json", id=event_id, resources=[stack_id])
    evt["detail"] = {**evt["detail"], "stack-id": stack_id}
    return evt


def test_stack_deletion_sweeps_the_scope_the_stack_declares(sweeper_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bed = sweeper_env
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "exp")  # stacks claim only under a configured prefix
    for api_kind in sc.ML_KINDS.values():
        bed.neptune.seed_ml_job(api_kind, f"exp-{api_kind}", status="InProgress")  # young: no age limit here
        bed.neptune.seed_ml_job(api_kind, f"prod-{api_kind}", status="InProgress")
    load = bed.neptune.seed_load(status="LOAD_IN_PROGRESS")
    stack_id = _stack({"jobjanitor:job-id-prefix": "exp-", "jobjanitor:neptune-endpoint": bed.neptune_url})
    result = invoke(_stack_event(stack_id, "stack-evt-1"))
    assert result["status"] == "swept", result
    for api_kind in sc.ML_KINDS.values():
        assert bed.neptune.job(api_kind, f"exp-{api_kind}").status in ("Stopping", "Stopped")
        assert bed.neptune.job(api_kind, f"prod-{api_kind}").status == "InProgress"
    # A prefix cannot scope loads: a stack's sweep leaves the cluster's loads alone.
    assert bed.neptune.job("loader", load).status == "LOAD_IN_PROGRESS"


def test_stacks_that_do_not_opt_in_or_declare_too_much_are_left_alone(sweeper_env: Any) -> None:
    bed = sweeper_env
    bed.neptune.seed_ml_job("modeltraining", "exp-1", status="InProgress")
    untagged = _stack({"team": "ml"})
    assert invoke(_stack_event(untagged, "stack-evt-2"))["status"] == "not-opted-in"
    everything = _stack({"jobjanitor:neptune-endpoint": bed.neptune_url})
    with pytest.raises(ConfigError, match="jobjanitor:job-id-prefix"):
        invoke(_stack_event(everything, "stack-evt-3"))
    elsewhere = _stack({"jobjanitor:job-id-prefix": "exp-", "jobjanitor:neptune-endpoint": "https://other:8182"})
    with pytest.raises(ConfigError, match="jobjanitor:neptune-endpoint"):
        invoke(_stack_event(elsewhere, "stack-evt-4"))
    other_status = event("sweeper-stack-delete.json", id="stack-evt-5")
    other_status["detail"] = {**other_status["detail"], "status-details": {"status": "CREATE_COMPLETE"}}
    assert invoke(other_status)["status"] == "ignored"
    assert bed.neptune.job("modeltraining", "exp-1").status == "InProgress"


def test_metrics_and_log_lines(
    sweeper_env: Any, seed_aged: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    aged = seed_aged()
    capfd.readouterr()
    evt = event("sweeper-rule.json")
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    try:
        invoke(evt)
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    cancelled = {line["kind"]: line["JobsCancelled"] for line in emf if "JobsCancelled" in line}
    assert cancelled == {kind: [float(len(ids))] for kind, ids in aged.old.items()}
    assert all(line["source"] == "sweeper" for line in emf if "JobsCancelled" in line)
    targets = {line["kind"]: line["target"] for line in emf if "JobsCancelled" in line}
    assert targets == {kind: "glue" if kind == "glue-ml-task-run" else "testbed-graph" for kind in aged.old}
    actions = [line for line in lines if line.get("action") == "cancel"]
    assert len(actions) == aged.count("old")
    assert {line["correlation_id"] for line in actions} == {evt["id"]}


SAGEMAKER_DESCRIBES = (
    "DescribeProcessingJob",
    "DescribeHyperParameterTuningJob",
    "DescribeTrainingJob",
    "DescribeTransformJob",
)


def test_neptune_ml_ages_come_from_sagemaker_and_the_ledger_only_for_jobs_still_starting(
    sweeper_env: Any, seed_aged: Callable[..., Any], still_starting: Callable[..., None]
) -> None:
    bed = sweeper_env
    aged = seed_aged()
    bed.neptune.seed_ml_job("modeltraining", "jj-starting", status="InProgress")
    still_starting(bed, "modeltraining", "jj-starting")
    result = invoke(event("sweeper-scheduler.json"))
    assert result["ok"] is True, result
    assert int(result["summary"]["Cancelled"]) == aged.count("old")
    assert sc.in_states(states(bed, aged.young, aged.transform_id), sc.RUNNING) == []
    assert bed.neptune.job("modeltraining", "jj-starting").status == "InProgress"
    # One SageMaker read per Neptune ML job that names one (old and young), none for the other;
    # then the SageMaker jobs the cancelled jobs' Gets name are read together, to see that the
    # bill stopped (jobjanitor.billing): every one names a processing job (three or more: one
    # listing), training and transform one more each (fewer than three of a type: a Describe each).
    ml_jobs = sum(len(aged.old[k]) + len(aged.young[k]) for k in aged.old if k.startswith("neptune-ml-"))
    processing = sum(len(aged.old[k]) for k in aged.old if k.startswith("neptune-ml-"))
    assert processing >= 3
    others = len(aged.old["neptune-ml-training"]) + len(aged.old["neptune-ml-transform"])
    assert 0 < len(aged.old["neptune-ml-training"]) < 3
    assert 0 < len(aged.old["neptune-ml-transform"]) < 3
    assert sum(bed.aws_log.count(operation=op) for op in SAGEMAKER_DESCRIBES) == ml_jobs + others
    assert bed.aws_log.count(operation="ListProcessingJobs") == 1
    # The ledger dated only the job naming no SageMaker job yet, and the result says so.
    ledger = boto3.client("dynamodb").scan(TableName=sc_table())["Items"]
    assert [item["id"]["S"].rsplit("#", 1)[1] for item in ledger if "first-seen" in item["id"]["S"]] == ["jj-starting"]
    assert any("named no SageMaker job yet" in w and "jj-starting" in w for w in result["warnings"])


def sc_table() -> str:
    from jobjanitor_testbed.guard_driver import TABLE

    return TABLE
