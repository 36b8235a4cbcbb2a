"""The guard when a configured cluster is gone, and when it is given a reader or an instance
endpoint (issue 20, points 4 and 11 and "reader endpoints"), driven as CloudFormation drives it.

Each test failed on the code before: a missing entry of JOBJANITOR_NEPTUNE_CLUSTERS made every
guard's teardown cancel nothing; cancels went to the endpoint given, which a reader refuses;
the prefix registry was keyed by the endpoint string.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import jobjanitor.guard.app as guard_app
import pytest
from jobjanitor import observability
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.clusters import (
    STAND_IN,
    ClusterEndpoints,
    create_stand_in_cluster,
    delete_cluster,
    model_endpoints,
)
from jobjanitor_testbed.guard_driver import deliver
from jobjanitor_testbed.neptune import NeptuneEmulator
from test_guard import assert_contract, create, guarded, make_event

SECOND = "graph-two"


@pytest.fixture
def second(guard_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[NeptuneEmulator]:
    """A second configured cluster with reader and instance endpoints (all admitted)."""
    with NeptuneEmulator(lifecycle=guard_env.lifecycle) as emulator:
        create_stand_in_cluster(emulator.url, SECOND, instances=2)
        emulator.endpoints = model_endpoints(SECOND, emulator)  # type: ignore[attr-defined]
        allowed = [guard_env.neptune_url, *emulator.endpoints.all]  # type: ignore[attr-defined]
        monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", f"{STAND_IN},{SECOND}")
        monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", ",".join(allowed))
        yield emulator


def endpoints_of(emulator: NeptuneEmulator) -> ClusterEndpoints:
    found: ClusterEndpoints = emulator.endpoints  # type: ignore[attr-defined]
    return found


def new_execution_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_app, "_app", None)


def emitted(capfd: pytest.CaptureFixture[str], run: Any) -> tuple[Any, list[dict[str, Any]]]:
    """What ``run()`` returns, and the JSON lines (logs, EMF) the handler printed meanwhile."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    capfd.readouterr()
    try:
        result = run()
    finally:
        handler.setStream(previous)
    return result, [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]


# -- 4. a configured cluster gone ---------------------------------------------------------
def test_a_configured_cluster_gone_leaves_the_others_protected(
    guard_env: Any,
    second: NeptuneEmulator,
    receiver: ResponseReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    testbed = guard_env
    neptune, glue, jobs, stack, properties, pid = guarded(testbed, receiver)
    delete_cluster(SECOND)  # its consumer stack was deleted, as docs/deploy.md recommends
    new_execution_environment(monkeypatch)

    delivery, lines = emitted(
        capfd, lambda: deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver)
    )

    body = assert_contract(delivery)
    assert body["Status"] == "SUCCESS", body
    assert "Error" not in body["Data"], body
    assert sc.in_states(sc.statuses(neptune, glue, jobs.in_scope, jobs.transform_id), sc.STOPPED) == []
    assert any(line.get("ClustersMissing") == [1.0] for line in lines if "_aws" in line)
    assert any(line.get("missing") == [SECOND] for line in lines if "_aws" not in line)
    # Create and Update of guards on the cluster that exists go on working.
    new_execution_environment(monkeypatch)
    other = create(testbed, receiver, {**properties, "JobIdPrefix": "stack-b-"}, stack_id("other"))
    assert other["Status"] == "SUCCESS"


@pytest.mark.parametrize("fail_on_error", ["false", "true"])
def test_a_guard_whose_own_cluster_is_gone_cancels_nothing_and_says_so(
    guard_env: Any,
    second: NeptuneEmulator,
    receiver: ResponseReceiver,
    monkeypatch: pytest.MonkeyPatch,
    fail_on_error: str,
) -> None:
    own = second.seed_ml_job("modeltraining", "stack-a-train", status="InProgress")
    properties = {
        "NeptuneEndpoint": second.url,
        "Kinds": "neptune-ml-training",
        "JobIdPrefix": "stack-a-",
        "MaxWaitSeconds": "60",
        "FailOnError": fail_on_error,
    }
    stack = stack_id()
    pid = create(guard_env, receiver, properties, stack)["PhysicalResourceId"]
    delete_cluster(SECOND)
    new_execution_environment(monkeypatch)
    second.log.clear()

    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))

    assert body["Status"] == ("FAILED" if fail_on_error == "true" else "SUCCESS"), body
    reason = body["Reason"]
    assert "NeptuneEndpoint: " in reason, reason
    assert f"cluster '{SECOND}' no longer exists" in reason, reason
    assert "SageMaker" in reason, reason
    assert second.log.count() == 0, "the guard talked to a cluster that is gone"
    assert second.job("modeltraining", own).status == "InProgress"
    # A new guard on it fails its Create, saying why.
    again = assert_contract(deliver(make_event("Create", properties, receiver, stack=stack_id("new")), receiver))
    assert again["Status"] == "FAILED"
    assert "no longer exist" in again["Reason"], again["Reason"]


# -- reader endpoints: cancels go to the writer -------------------------------------------
@pytest.mark.parametrize("which", ["reader", "reader instance", "writer instance"])
def test_a_guard_given_a_reader_or_instance_endpoint_cancels_at_the_writer(
    guard_env: Any, second: NeptuneEmulator, receiver: ResponseReceiver, which: str
) -> None:
    endpoints = endpoints_of(second)
    given = {
        "reader": endpoints.reader,
        "reader instance": next(u for u in endpoints.instances.values() if u != endpoints.writer_instance),
        "writer instance": endpoints.writer_instance,
    }[which]
    mine = [second.seed_ml_job("modeltraining", f"stack-a-train-{i}", status="InProgress") for i in range(3)]
    theirs = second.seed_ml_job("modeltraining", "stack-b-train", status="InProgress")
    properties = {"NeptuneEndpoint": given, "Kinds": "neptune-ml-training", "JobIdPrefix": "stack-a-"}
    properties["MaxWaitSeconds"] = "60"
    stack = stack_id()
    created = create(guard_env, receiver, properties, stack)
    assert created["Data"]["Outstanding"] == "3"

    body = assert_contract(
        deliver(
            make_event("Delete", properties, receiver, stack=stack, physical_id=created["PhysicalResourceId"]), receiver
        )
    )

    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["Cancelled"] == "3", body
    assert {second.job("modeltraining", j).status for j in mine} == {"Stopped"}
    assert second.job("modeltraining", theirs).status == "InProgress"
    deletes = second.log.entries(method="DELETE")
    assert {entry.endpoint for entry in deletes} == {second.url}, "a cancel went to another endpoint than the writer"
    assert all(entry.status == 200 for entry in deletes)


# -- 11. the prefix registry is keyed by the cluster --------------------------------------
def test_guards_reaching_one_cluster_through_different_endpoints_warn_each_other(
    guard_env: Any, second: NeptuneEmulator, receiver: ResponseReceiver
) -> None:
    endpoints = endpoints_of(second)
    base = {"Kinds": "neptune-ml-training", "MaxWaitSeconds": "60"}
    ml = create(
        guard_env, receiver, {**base, "NeptuneEndpoint": endpoints.writer, "JobIdPrefix": "ml-"}, stack_id("ml")
    )
    assert "Warning" not in ml["Data"]
    staging = create(
        guard_env,
        receiver,
        {**base, "NeptuneEndpoint": endpoints.reader, "JobIdPrefix": "ml-staging-"},
        stack_id("ml-staging"),
    )
    assert "'ml-' (ml)" in staging["Data"]["Warning"], staging["Data"]
    by_instance = create(
        guard_env,
        receiver,
        {**base, "NeptuneEndpoint": endpoints.writer_instance, "JobIdPrefix": "ml-staging-x-"},
        stack_id("ml-staging-x"),
    )
    warning = by_instance["Data"]["Warning"]
    assert "'ml-' (ml)" in warning, warning
    assert "'ml-staging-' (ml-staging)" in warning, warning
    # Another cluster's guards are not mentioned.
    stand_in = create(
        guard_env, receiver, {**base, "NeptuneEndpoint": guard_env.neptune_url, "JobIdPrefix": "ml-"}, stack_id("x")
    )
    assert "Warning" not in stand_in["Data"], stand_in["Data"]
