"""What the guard reads about its stack before a Delete cancels anything, driven as
CloudFormation drives it (issue 20, point 5 and the update that removes the guard together with
what it guards).

- ``DescribeStacks`` throttled or failing with 5xx is read again within the time the request
  allows; only when that is spent is the case unreadable, and the answer says so.
- An Update's cleanup (or a failed Update's rollback cleanup) that removes the guard AND the
  Neptune cluster or Glue transform it guards sweeps the jobs on the removed targets (no hook
  runs on a cleanup); a cleanup that removes only the guard cancels nothing.

Every test here failed on the code before this change: the first read gave up after botocore's
three attempts (about a second) and a cleanup Delete never cancelled anything.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from jobjanitor_testbed import moto_cfn, moto_glue
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver
from jobjanitor_testbed.clusters import point_at_emulator
from jobjanitor_testbed.guard_driver import deliver
from jobjanitor_testbed.stacks import replace_template
from test_guard import PREFIX, assert_contract, clients, create, guarded, make_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer-stack.yaml"
CLEANUP = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
ROLLBACK_CLEANUP = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"


def _delete(g: Any, receiver: ResponseReceiver, status: str = "DELETE_IN_PROGRESS") -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    delivery = deliver(make_event("Delete", g.properties, receiver, stack=g.stack, physical_id=g.pid), receiver)
    return assert_contract(delivery), time.monotonic() - started


# -- point 5: a throttled DescribeStacks is read again within the request's budget -----------
@pytest.mark.parametrize(
    ("code", "status"), [("Throttling", 400), ("InternalFailure", 500), ("ServiceUnavailable", 503)]
)
@pytest.mark.parametrize("fail_on_error", ["false", "true"])
def test_a_throttled_or_failing_describe_stacks_is_read_again_and_the_teardown_sweeps(
    guard_env: Any, receiver: ResponseReceiver, code: str, status: int, fail_on_error: str
) -> None:
    testbed = guard_env
    g = guarded(testbed, receiver, out_of_scope_per_kind=1, FailOnError=fail_on_error)
    # Eight failed answers: botocore's three attempts per call would give up after the third.
    testbed.faults_aws.inject(code, status=status, times=8, operations={"DescribeStacks"})
    body, _ = _delete(g, receiver)
    assert body["Status"] == "SUCCESS", body
    assert body.get("Reason", "") == "", body["Reason"]
    assert testbed.aws_log.count(operation="DescribeStacks", fault="inject") == 8
    assert testbed.aws_log.count(operation="DescribeStacks", status=200) == 1
    # Through boto3, as a user would look: every job in scope stopped, the rest run on.
    assert sc.in_states(sc.statuses(g.neptune, g.glue, g.jobs.in_scope, g.jobs.transform_id), sc.STOPPED) == []
    others = sc.statuses(g.neptune, g.glue, g.jobs.out_of_scope, g.jobs.transform_id, g.jobs.other_transform_id)
    assert sc.in_states(others, sc.RUNNING) == []


@pytest.mark.parametrize("fail_on_error", ["true", "false"])
def test_describe_stacks_throttled_past_the_budget_cancels_nothing_and_says_why(
    guard_env: Any, receiver: ResponseReceiver, fail_on_error: str
) -> None:
    testbed = guard_env
    # MaxWaitSeconds 6: the reads may use 3 s of it (the rest is kept for cancels).
    g = guarded(testbed, receiver, FailOnError=fail_on_error, MaxWaitSeconds="6")
    testbed.faults_aws.inject("Throttling", times=100_000, operations={"DescribeStacks"})
    body, took = _delete(g, receiver)
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    reason = body["Reason"]
    assert reason.startswith("cancelled nothing: could not read the stack's status (DescribeStacks throttled for"), (
        reason
    )
    assert "all the time this request allows: Throttling" in reason, reason
    assert body["Data"]["Skipped"] == "stack status unknown"
    assert 2.5 <= took < 10, took  # retried for the budget, then answered
    assert testbed.aws_log.count(operation="DescribeStacks") > 8
    assert sc.in_states(sc.statuses(g.neptune, g.glue, g.jobs.in_scope, g.jobs.transform_id), sc.RUNNING) == []
    assert testbed.neptune_log.count(method="DELETE") == 0
    assert testbed.aws_log.count(operation="CancelMLTaskRun") == 0


# -- an update that removes the guard together with what it guards -----------------------
class Consumer(NamedTuple):
    """A consumer stack in moto (cluster, transform, guard) with jobs, and its created guard."""

    stack: str
    cluster: str  # DBClusterIdentifier
    transform: str
    properties: dict[str, Any]
    pid: str
    jobs: dict[str, list[str]]  # jobjanitor kind -> ids, all outstanding, all in the guard's scope
    other_ml: str  # another team's training job on the cluster: never touched
    neptune: Any
    glue: Any


def _consumer(testbed: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Consumer:
    moto_cfn.install()
    template = {
        "Resources": {
            "NeptuneCluster": {"Type": "AWS::Neptune::DBCluster", "Properties": {}},
            "MatchTransform": {
                "Type": "AWS::Glue::MLTransform",
                "Properties": {
                    "Name": "people-match",
                    "Role": f"arn:aws:iam::{sc.ACCOUNT}:role/glue-ml",
                    "InputRecordTables": {"GlueTables": [{"DatabaseName": "db", "TableName": "people"}]},
                    "TransformParameters": {
                        "TransformType": "FIND_MATCHES",
                        "FindMatchesParameters": {"PrimaryKeyColumnName": "id"},
                    },
                },
            },
            "JobGuard": {"Type": "AWS::CloudFormation::WaitConditionHandle", "DependsOn": ["NeptuneCluster"]},
        }
    }
    cfn = boto3.client("cloudformation")
    stack = cfn.create_stack(StackName="ml-pipeline", TemplateBody=json.dumps(template))["StackId"]
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    }
    cluster, transform = physical["NeptuneCluster"], physical["MatchTransform"]
    # The stack's cluster is the install's one cluster, reached at the emulator.
    point_at_emulator(cluster, testbed.neptune_url)
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", cluster)
    neptune, glue = clients(testbed)
    jobs = {
        "neptune-ml-training": [testbed.neptune.seed_ml_job("modeltraining", f"{PREFIX}train", status="InProgress")],
        "neptune-loader": [testbed.neptune.seed_load(status="LOAD_IN_PROGRESS")],
        "glue-ml-task-run": [moto_glue.seed_task_run(transform, status="RUNNING")],
    }
    other = testbed.neptune.seed_ml_job("modeltraining", "other-team-train", status="InProgress")
    properties = {
        "NeptuneEndpoint": testbed.neptune_url,
        "Kinds": "neptune-loader,neptune-ml-training,glue-ml-task-run",
        "JobIdPrefix": PREFIX,
        "GlueTransformIds": [transform],
        "GlueRegion": "us-east-1",
        "MaxWaitSeconds": "120",
        **extra,
    }
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    testbed.neptune_log.clear()
    testbed.aws_log.clear()
    return Consumer(stack, cluster, transform, properties, pid, jobs, other, neptune, glue)


def _without(text: str, *logical_ids: str) -> str:
    """The example template's YAML text without these resources (as an Update removes them)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        block = re.match(r"^  ([A-Za-z0-9]+):", line)
        if block:
            skipping = block.group(1) in logical_ids
        elif line and not line.startswith(" "):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def _cleanup(c: Consumer, receiver: ResponseReceiver, status: str = CLEANUP) -> dict[str, Any]:
    event = make_event("Delete", c.properties, receiver, stack=c.stack, physical_id=c.pid)
    return assert_contract(deliver(event, receiver, stack_status=status))


def _status(c: Consumer, kind: str, job_id: str) -> str:
    return sc.status_of(c.neptune, c.glue, kind, job_id, c.transform)


@pytest.mark.parametrize("status", [CLEANUP, ROLLBACK_CLEANUP])
def test_a_cleanup_that_also_removes_the_guarded_cluster_sweeps_its_jobs(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    c = _consumer(guard_env, receiver, monkeypatch)
    # The new template (the example's own YAML) has neither the guard nor the cluster; the
    # cluster is still the stack's until this cleanup deletes it, after the guard.
    replace_template(c.stack, _without(EXAMPLE.read_text(), "JobGuard", "NeptuneCluster", "NeptuneInstance"))
    body = _cleanup(c, receiver, status)
    assert body["Status"] == "SUCCESS", body
    assert json.loads(body["Data"]["RemovedWithGuard"]) == {"cluster": c.cluster, "transforms": []}
    for kind in ("neptune-ml-training", "neptune-loader"):
        assert _status(c, kind, c.jobs[kind][0]) in sc.STOPPED[kind], kind
    # The transform stays, and so do its runs; another team's job on the cluster is not in scope.
    assert _status(c, "glue-ml-task-run", c.jobs["glue-ml-task-run"][0]) == "RUNNING"
    assert _status(c, "neptune-ml-training", c.other_ml) == "InProgress"
    assert guard_env.aws_log.count(operation="CancelMLTaskRun") == 0


def test_a_cleanup_that_also_removes_the_guarded_transform_sweeps_only_its_runs(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _consumer(guard_env, receiver, monkeypatch)
    new = {"Resources": {"NeptuneCluster": {"Type": "AWS::Neptune::DBCluster", "Properties": {}}}}
    replace_template(c.stack, json.dumps(new))  # a JSON template this time
    body = _cleanup(c, receiver)
    assert body["Status"] == "SUCCESS", body
    assert json.loads(body["Data"]["RemovedWithGuard"]) == {"cluster": None, "transforms": [c.transform]}
    assert _status(c, "glue-ml-task-run", c.jobs["glue-ml-task-run"][0]) == "STOPPED"
    assert _status(c, "neptune-ml-training", c.jobs["neptune-ml-training"][0]) == "InProgress"
    assert _status(c, "neptune-loader", c.jobs["neptune-loader"][0]) == "LOAD_IN_PROGRESS"
    assert guard_env.neptune_log.count(method="DELETE") == 0


def test_a_cleanup_that_removes_only_the_guard_cancels_nothing(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _consumer(guard_env, receiver, monkeypatch)
    replace_template(c.stack, _without(EXAMPLE.read_text(), "JobGuard"))
    body = _cleanup(c, receiver)
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["Skipped"] == f"stack is {CLEANUP}, not being deleted"
    for kind, ids in c.jobs.items():
        assert _status(c, kind, ids[0]) in sc.RUNNING[kind], kind
    assert guard_env.neptune_log.count(method="DELETE") == 0
    assert guard_env.aws_log.count(operation="CancelMLTaskRun") == 0


def test_a_throttled_template_read_is_retried_and_the_cleanup_still_sweeps(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _consumer(guard_env, receiver, monkeypatch)
    replace_template(c.stack, _without(EXAMPLE.read_text(), "JobGuard", "NeptuneCluster"))
    guard_env.faults_aws.inject("Throttling", times=5, operations={"GetTemplate"})
    guard_env.faults_aws.inject("InternalFailure", status=500, times=4, operations={"ListStackResources"})
    body = _cleanup(c, receiver)
    assert body["Status"] == "SUCCESS", body
    assert _status(c, "neptune-ml-training", c.jobs["neptune-ml-training"][0]) == "Stopped"


@pytest.mark.parametrize(
    "fault",
    [
        ("GetTemplate", "Throttling", 100_000, "GetTemplate throttled for"),
        ("ListStackResources", "AccessDenied", 1, "ListStackResources: AccessDenied"),
    ],
    ids=["throttled-past-the-budget", "access-denied"],
)
@pytest.mark.parametrize("fail_on_error", ["true", "false"])
def test_a_cleanup_whose_targets_cannot_be_read_cancels_nothing_and_says_so(
    guard_env: Any,
    receiver: ResponseReceiver,
    monkeypatch: pytest.MonkeyPatch,
    fault: tuple[str, str, int, str],
    fail_on_error: str,
) -> None:
    operation, code, times, cause = fault
    c = _consumer(guard_env, receiver, monkeypatch, MaxWaitSeconds="4", FailOnError=fail_on_error)
    replace_template(c.stack, _without(EXAMPLE.read_text(), "JobGuard", "NeptuneCluster"))
    guard_env.faults_aws.inject(code, times=times, operations={operation})
    body = _cleanup(c, receiver)
    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS")
    reason = body["Reason"]
    assert reason.startswith(
        f"cancelled nothing: could not tell whether this {CLEANUP} also removes the guarded cluster or transforms"
    ), reason
    assert cause in reason, reason
    assert body["Data"]["Skipped"] == "cleanup targets unknown"
    for kind, ids in c.jobs.items():
        assert _status(c, kind, ids[0]) in sc.RUNNING[kind], kind
    assert guard_env.neptune_log.count(method="DELETE") == 0
