"""The teardown hook, driven as CloudFormation drives a Lambda Hook, against the test bed.

Every test goes through the real handler (``jobjanitor.handlers.hook.lambda_handler``) with
requests shaped as CloudFormation sends them, resolves the resource through moto's
CloudFormation and Neptune, and stops jobs on the Neptune emulators and moto's Glue.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from jobjanitor_testbed import lifecycle
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import LambdaContext
from jobjanitor_testbed.hook_driver import HookDriver, delete_stack, hook_event

NEPTUNE = "AWS::Neptune::DBCluster"
GLUE = "AWS::Glue::MLTransform"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def start_neptune_jobs(neptune: Any, tag: str, per_kind: int = 2) -> dict[str, list[str]]:
    """Jobs of every Neptune kind, with ids of several owners: the hook's scope is the cluster."""
    jobs: dict[str, list[str]] = {kind: [] for kind in sc.ML_KINDS}
    for owner in ("x", "y"):
        for i in range(per_kind):
            for kind in sc.ML_KINDS:  # training before transform: a transform names its training job
                training = jobs["neptune-ml-training"][-1] if kind == "neptune-ml-transform" else None
                job_id = f"{owner}-{tag}-{kind.removeprefix('neptune-ml-')}-{i}"
                jobs[kind].append(sc.start_ml_job(neptune, kind, job_id, training_job_id=training))
    jobs["neptune-loader"] = [sc.start_load(neptune) for _ in range(per_kind)]
    return jobs


def status(neptune: Any, kind: str, job_id: str) -> str:
    return sc.status_of(neptune, None, kind, job_id)


def all_in(neptune: Any, jobs: dict[str, list[str]], allowed: dict[str, set[str]]) -> list[str]:
    return [
        f"{kind} {job_id}: {status(neptune, kind, job_id)}"
        for kind, ids in jobs.items()
        for job_id in ids
        if status(neptune, kind, job_id) not in allowed[kind]
    ]


def start_runs(glue: Any, transform_id: str, n: int = 2) -> list[str]:
    return [str(glue.start_ml_evaluation_task_run(TransformId=transform_id)["TaskRunId"]) for _ in range(n)]


def run_statuses(glue: Any, transform_id: str, ids: list[str]) -> set[str]:
    return {glue.get_ml_task_run(TransformId=transform_id, TaskRunId=i)["Status"] for i in ids}


def neptune_event(stacks: Any, which: str = "graph", **kwargs: Any) -> dict[str, Any]:
    stack = getattr(stacks, which)
    return hook_event(NEPTUNE, "GraphCluster", stack["StackId"], **kwargs)


# ---------------------------------------------------------------- scope
def test_every_job_on_the_cluster_is_stopped_and_nothing_elsewhere(
    stacks: Any, driver: HookDriver, testbed: Any
) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a")
    on_b = start_neptune_jobs(stacks.neptune_b, "b")
    runs = start_runs(stacks.glue, stacks.graph["MatchTransform"])

    run = driver.run(neptune_event(stacks))

    assert run.status == "SUCCESS", run.reason
    assert run.proceeds
    # The clock stands still during an invocation: the ML jobs are still stopping at its end.
    # Every one accepted its cancel, and a cluster's deletion does not wait for them.
    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []
    assert all_in(stacks.neptune_b, on_b, sc.RUNNING) == [], "a job on another cluster was touched"
    assert stacks.emulator_b.log.count(method="DELETE") == 0
    assert run_statuses(stacks.glue, stacks.graph["MatchTransform"], runs) <= {"STARTING", "RUNNING"}
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0
    assert "every job accepted its cancel; 12 still stopping" in run.last["message"], run.last["message"]


def test_a_cluster_outside_the_configuration_is_answered_at_once_untouched(
    stacks: Any, driver: HookDriver, testbed: Any
) -> None:
    on_b = start_neptune_jobs(stacks.neptune_b, "b")
    before = stacks.emulator_b.log.count()

    run = driver.run(neptune_event(stacks, "other"))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert "not one of the clusters this deployment is configured for" in run.last["message"]
    assert stacks.emulator_b.log.count() == before, "the hook talked to a cluster it is not configured for"
    assert all_in(stacks.neptune_b, on_b, sc.RUNNING) == []


def test_no_configured_cluster_means_no_neptune_cluster_is_touched(
    stacks: Any, driver: HookDriver, testbed: Any, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", "")
    fresh_hook()
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    before = testbed.neptune_log.count()

    run = driver.run(neptune_event(stacks))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert testbed.neptune_log.count() == before, "the hook talked to a cluster it is not configured for"
    assert all_in(stacks.neptune_a, on_a, sc.RUNNING) == []


def test_a_transforms_task_runs_stop_and_nothing_else(stacks: Any, driver: HookDriver, testbed: Any) -> None:
    mine = start_runs(stacks.glue, stacks.graph["MatchTransform"], 3)
    other = start_runs(stacks.glue, stacks.other["MatchTransform"], 2)
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)

    run = driver.run(hook_event(GLUE, "MatchTransform", stacks.graph["StackId"]))

    assert run.status == "SUCCESS", run.reason
    assert run_statuses(stacks.glue, stacks.graph["MatchTransform"], mine) == {"STOPPED"}
    assert run_statuses(stacks.glue, stacks.other["MatchTransform"], other) <= {"STARTING", "RUNNING"}
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert all_in(stacks.neptune_a, on_a, sc.RUNNING) == []


def test_an_unconfigured_transform_is_untouched(stacks: Any, driver: HookDriver, testbed: Any) -> None:
    other = start_runs(stacks.glue, stacks.other["MatchTransform"], 2)

    run = driver.run(hook_event(GLUE, "MatchTransform", stacks.other["StackId"]))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0
    assert run_statuses(stacks.glue, stacks.other["MatchTransform"], other) <= {"STARTING", "RUNNING"}


def test_a_transform_configured_by_name_prefix(
    stacks: Any, driver: HookDriver, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    monkeypatch.setenv("JOBJANITOR_GLUE_TRANSFORM_IDS", "")
    monkeypatch.setenv("JOBJANITOR_GLUE_TRANSFORM_NAME_PREFIX", "dedupe-o")
    fresh_hook()
    mine = start_runs(stacks.glue, stacks.graph["MatchTransform"], 1)  # named "dedupe": no match
    other = start_runs(stacks.glue, stacks.other["MatchTransform"], 2)  # "dedupe-other": matches

    assert driver.run(hook_event(GLUE, "MatchTransform", stacks.graph["StackId"])).answers[0]["hookStatus"] == "SUCCESS"
    assert run_statuses(stacks.glue, stacks.graph["MatchTransform"], mine) <= {"STARTING", "RUNNING"}
    assert driver.run(hook_event(GLUE, "MatchTransform", stacks.other["StackId"])).status == "SUCCESS"
    assert run_statuses(stacks.glue, stacks.other["MatchTransform"], other) == {"STOPPED"}


# ---------------------------------------------------------------- the stack deletion
def test_the_stack_deletes_once_its_jobs_accepted_their_cancels(stacks: Any, driver: HookDriver, testbed: Any) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    runs = start_runs(stacks.glue, stacks.graph["MatchTransform"], 2)

    deletion = delete_stack("graph", driver)

    assert deletion.status == "DELETE_COMPLETE"
    assert {lid: r.status for lid, r in deletion.runs.items()} == {
        "GraphCluster": "SUCCESS",
        "MatchTransform": "SUCCESS",
    }
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []
    # The transform's runs had stopped before it was deleted: its first answer waited for them.
    assert deletion.runs["MatchTransform"].answers[0]["hookStatus"] == "IN_PROGRESS"
    # The transform is gone with the stack; its runs were cancelled before it was deleted.
    assert {e.status for e in testbed.aws_log.entries(operation="CancelMLTaskRun")} == {200}
    assert len(testbed.aws_log.entries(operation="CancelMLTaskRun")) == len(runs)


@pytest.mark.parametrize("target", [NEPTUNE, GLUE])
def test_the_message_stays_within_cloudformations_limit(
    stacks: Any, driver: HookDriver, testbed: Any, target: str
) -> None:
    """150 jobs still stopping: named in a cluster's SUCCESS, and in a transform's final FAILED."""
    lifecycle.configure(stop_delay=24 * 3600.0)
    if target == NEPTUNE:
        ids = [sc.start_ml_job(stacks.neptune_a, "neptune-ml-training", f"{'t' * 40}-{i:05d}") for i in range(150)]
        expected, said = "SUCCESS", "150 still stopping"
        run = driver.run(neptune_event(stacks))
    else:
        ids = start_runs(stacks.glue, stacks.graph["MatchTransform"], 150)
        expected, said = "FAILED", "150 task run(s) accepted their cancel"
        run = driver.run(hook_event(GLUE, "MatchTransform", stacks.graph["StackId"]))

    assert run.status == expected
    assert not run.violations
    message = run.last["message"]
    assert len(message) <= 4096
    assert said in message
    assert "more)" in message
    assert sum(job_id in message for job_id in ids) > 20
    assert testbed.neptune_log.count(method="DELETE") + testbed.aws_log.count(operation="CancelMLTaskRun") == 150


# ---------------------------------------------------------------- requests
def invoke(event: Any, timeout: float = 5.0) -> dict[str, Any]:
    from jobjanitor.handlers.hook import lambda_handler

    answer: dict[str, Any] = lambda_handler(
        event, LambdaContext(function_name="jobjanitor-hook", timeout_seconds=timeout)
    )
    return answer


def malformed(stacks: Any) -> list[tuple[Any, str]]:
    good = neptune_event(stacks)
    no_stack = {k: v for k, v in good.items() if k != "stackId"}
    bad_logical = {**good, "requestData": {**good["requestData"], "targetLogicalId": "../x"}}
    no_data = {k: v for k, v in good.items() if k != "requestData"}
    bad_invocation = {**good, "requestContext": {"invocation": "first", "callbackContext": None}}
    return [
        (no_stack, "stackId"),
        (bad_logical, "requestData.targetLogicalId"),
        (no_data, "requestData"),
        (bad_invocation, "requestContext.invocation"),
        ([], "request"),
        ({**good, "clientRequestToken": ""}, "clientRequestToken"),
    ]


def test_malformed_requests_are_answered_naming_the_field(stacks: Any, testbed: Any) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    starts = testbed.neptune_log.count()
    for event, field in malformed(stacks):
        answer = invoke(event)
        assert answer["hookStatus"] == "FAILED", field
        assert answer["errorCode"] == "InternalFailure"
        assert f"malformed request: {field}:" in answer["message"], answer["message"]
        assert answer["clientRequestToken"] == (event.get("clientRequestToken", "") if isinstance(event, dict) else "")
    assert testbed.neptune_log.count() == starts, "a malformed request reached the cluster"
    assert all_in(stacks.neptune_a, on_a, sc.RUNNING) == []


def test_requests_the_hook_does_not_act_on_succeed_untouched(stacks: Any, testbed: Any) -> None:
    start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    starts = testbed.neptune_log.count()
    for event in (
        neptune_event(stacks, point="UPDATE_PRE_PROVISION"),
        hook_event("AWS::S3::Bucket", "Bucket", stacks.graph["StackId"]),
    ):
        answer = invoke(event)
        assert answer["hookStatus"] == "SUCCESS"
        assert "nothing done" in answer["message"]
    assert testbed.neptune_log.count() == starts


def test_a_bad_configuration_fails_naming_the_variable(
    stacks: Any, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    monkeypatch.setenv("JOBJANITOR_HOOK_MODE", "Sometimes")
    fresh_hook()
    answer = invoke(neptune_event(stacks))
    assert answer["hookStatus"] == "FAILED"
    assert answer["errorCode"] == "InternalFailure"
    assert "JOBJANITOR_HOOK_MODE" in answer["message"]


def test_a_duplicate_delivery_gets_the_same_answer_and_cancels_nothing_more(stacks: Any, testbed: Any) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    event = neptune_event(stacks)

    first = invoke(event)
    cancels = testbed.neptune_log.count(method="DELETE")
    second = invoke(json.loads(json.dumps(event)))

    assert first == second
    assert cancels == sum(len(v) for v in on_a.values())
    assert testbed.neptune_log.count(method="DELETE") == cancels, "the duplicate sent cancels again"


def test_a_duplicate_while_the_first_is_at_work_watches_without_cancelling(
    stacks: Any, testbed: Any, testbed_clock: Any
) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    total = sum(len(v) for v in on_a.values())
    event = neptune_event(stacks)
    answers: dict[str, Any] = {}
    first = threading.Thread(target=lambda: answers.update(first=invoke(event)))
    first.start()
    # The test bed's clock stands still: the first delivery's jobs stay Stopping while it waits.
    for _ in range(400):
        if testbed.neptune_log.count(method="DELETE") == total:
            break
        time.sleep(0.01)
    second = invoke(json.loads(json.dumps(event)))
    first.join()

    assert testbed.neptune_log.count(method="DELETE") == total, "the duplicate sent cancels"
    # Both saw every job accepting its cancel (the duplicate: stopping, by the first's cancels).
    assert second["hookStatus"] == answers["first"]["hookStatus"] == "SUCCESS"
    assert second["clientRequestToken"] == event["clientRequestToken"]


def test_a_later_invocation_reads_each_job_once_and_cancels_only_what_is_not_stopping(
    stacks: Any, testbed: Any
) -> None:
    """After an IN_PROGRESS answer the earlier invocations have cancelled, so most jobs are
    stopping: the next one describes every job first, once, in one engine run, and cancels only
    a job not yet stopping (a cancel that failed, a job started since)."""
    lifecycle.configure(stop_delay=24 * 3600.0)  # a job cancelled earlier is still stopping
    ids = [sc.start_ml_job(stacks.neptune_a, "neptune-ml-training", f"x-later-{i}") for i in range(4)]
    stopping, running = ids[:2], ids[2:]
    for job_id in stopping:
        stacks.neptune_a.cancel_ml_model_training_job(id=job_id)
    testbed.neptune_log.clear()

    answer = invoke(neptune_event(stacks, invocation=2, callback_context={"inProgressAnswers": 1}))

    assert answer["hookStatus"] == "SUCCESS", answer
    log = testbed.neptune_log.entries()
    cancelled = {job_id for job_id in ids for e in log if e.method == "DELETE" and job_id in e.path}
    assert cancelled == set(running), "a job still stopping got a second cancel"
    for job_id in running:
        reads = [e.method for e in log if e.path.rstrip("/").endswith(job_id)]
        assert reads[: reads.index("DELETE")] == ["GET"], f"{job_id}: {reads}"


def test_an_aws_fault_while_resolving_is_retried_at_the_next_invocation(
    stacks: Any, driver: HookDriver, testbed: Any
) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    testbed.faults_aws.inject("InternalFailure", status=500, times=4, operations=["DescribeStackResource"])

    run = driver.run(neptune_event(stacks))

    first = run.answers[0]
    assert first["hookStatus"] == "IN_PROGRESS"
    assert "could not resolve GraphCluster" in first["message"]
    assert run.status == "SUCCESS", run.reason
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []


def test_a_stack_resource_never_created_has_nothing_to_stop(stacks: Any, driver: HookDriver) -> None:
    run = driver.run(hook_event(NEPTUNE, "NotInTheStack", stacks.graph["StackId"]))
    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert "nothing to stop" in run.last["message"]


# ---------------------------------------------------------------- example events
@pytest.mark.parametrize(
    ("name", "logical_id"),
    [("hook-delete-neptune-cluster.json", "GraphCluster"), ("hook-delete-ml-transform.json", "MatchTransform")],
)
def test_the_example_events_are_requests_the_hook_acts_on(
    stacks: Any, driver: HookDriver, name: str, logical_id: str
) -> None:
    event = json.loads((EVENTS / name).read_text())
    assert event["requestData"]["targetLogicalId"] == logical_id
    event["stackId"] = stacks.graph["StackId"]  # moto's stack ids are random
    runs = start_runs(stacks.glue, stacks.graph["MatchTransform"], 1)
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)

    run = driver.run(event)

    assert run.status == "SUCCESS", run.reason
    if logical_id == "GraphCluster":
        assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []
    else:
        assert run_statuses(stacks.glue, stacks.graph["MatchTransform"], runs) == {"STOPPED"}


# ---------------------------------------------------------------- inference endpoints
def test_a_cluster_being_deleted_takes_its_endpoints_with_it(stacks: Any, driver: HookDriver, testbed: Any) -> None:
    """Every Neptune ML inference endpoint on the cluster, whoever made it: its SageMaker endpoint
    would bill on with no Neptune API left to delete it through. Nothing on another cluster."""
    on_a = [testbed.neptune.seed_ml_endpoint(f"{owner}-endpoint", status="InService") for owner in ("x", "y")]
    failed = testbed.neptune.seed_ml_endpoint("z-endpoint", status="Failed")
    on_b = stacks.emulator_b.seed_ml_endpoint("b-endpoint", status="InService")

    run = driver.run(neptune_event(stacks))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"], run.reason
    assert {testbed.neptune.ml_endpoint(i).status for i in [*on_a, failed]} == {"Deleting"}
    assert testbed.neptune.ml_endpoint(on_a[0]).delete_count == 1
    assert stacks.emulator_b.ml_endpoint(on_b).status == "InService"
    assert stacks.emulator_b.log.count(method="DELETE") == 0
    assert "3 still stopping" in run.last["message"], run.last["message"]
    assert "neptune-ml-endpoint:x-endpoint" in run.last["message"]
