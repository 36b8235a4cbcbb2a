"""The hook and the cluster registry (issue 20, points 2 and 10): which configured entry names
the cluster being deleted, and what the hook answers for a cluster it cannot reach whatever it
retries. Driven as CloudFormation drives a Lambda Hook (FailureMode FAIL), against the test bed.

Each test failed on the code before: the hook compared resource ids case-folded (and cancelled
every job on a cluster it was not configured for), answered a stopped cluster FAILED after three
invocations (so the stack could never be deleted), and said nothing of what a cluster that is
gone leaves running.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.clusters import delete_cluster, point_at_emulator, stop_cluster
from jobjanitor_testbed.hook_driver import HookDriver, create_stack, hook_event
from test_hook import NEPTUNE, all_in, neptune_event, start_neptune_jobs


def resource_id(identifier: str) -> str:
    (cluster,) = boto3.client("neptune").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    return str(cluster["DbClusterResourceId"])


# -- 2. resource ids compare exactly; identifiers fold case -------------------------------
def test_a_resource_id_never_names_a_cluster_whose_identifier_is_its_lower_case(
    stacks: Any, driver: HookDriver, testbed: Any, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    configured = resource_id(stacks.graph["GraphCluster"])  # cluster-ABC...
    assert configured == configured.upper().replace("CLUSTER-", "cluster-")
    lookalike = create_stack("lookalike", cluster_identifier=configured.lower(), transform=False)
    assert lookalike["GraphCluster"] == configured.lower()  # identifier cluster-abc...
    point_at_emulator(lookalike["GraphCluster"], stacks.emulator_b.url)
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", configured)
    fresh_hook()
    on_lookalike = start_neptune_jobs(stacks.neptune_b, "b", per_kind=1)
    on_configured = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)

    run = driver.run(hook_event(NEPTUNE, "GraphCluster", lookalike["StackId"]))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    assert "not one of the clusters this deployment is configured for" in run.last["message"]
    assert stacks.emulator_b.log.count(method="DELETE") == 0, "a job on an unconfigured cluster was cancelled"
    assert all_in(stacks.neptune_b, on_lookalike, sc.RUNNING) == []
    # The configured cluster, named by its resource id, is still served.
    assert driver.run(neptune_event(stacks)).status == "SUCCESS"
    assert all_in(stacks.neptune_a, on_configured, sc.STOPPING_OR_STOPPED) == []


def test_an_identifier_entry_folds_case(
    stacks: Any, driver: HookDriver, testbed: Any, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", stacks.graph["GraphCluster"].upper())
    fresh_hook()
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    assert driver.run(neptune_event(stacks)).status == "SUCCESS"
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []


# -- 10. a stopped cluster, a cluster that is gone: answered at once -----------------------
def test_a_stopped_cluster_is_answered_at_once_naming_what_cannot_be_seen(
    stacks: Any, driver: HookDriver, testbed: Any
) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    stop_cluster(stacks.graph["GraphCluster"], testbed.neptune)
    testbed.neptune_log.clear()

    run = driver.run(neptune_event(stacks))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"], run.answers
    assert run.proceeds, "with FailureMode FAIL a stopped cluster could never be deleted"
    message = run.last["message"]
    assert f"Neptune cluster {stacks.graph['GraphCluster']}: it is stopped" in message, message
    assert "Neptune ML jobs started on it earlier may still run in SageMaker" in message, message
    assert testbed.neptune_log.count() == 0, "the hook waited on endpoints that cannot answer"
    testbed.neptune.stopped = False
    assert all_in(stacks.neptune_a, on_a, sc.RUNNING) == []


def test_a_configured_cluster_that_no_longer_exists_is_answered_at_once_naming_what_cannot_be_seen(
    stacks: Any, driver: HookDriver, testbed: Any
) -> None:
    delete_cluster(stacks.graph["GraphCluster"])
    testbed.neptune_log.clear()

    run = driver.run(neptune_event(stacks))

    assert [a["hookStatus"] for a in run.answers] == ["SUCCESS"]
    message = run.last["message"]
    assert "it no longer exists" in message, message
    assert "may still run in SageMaker" in message, message
    assert testbed.neptune_log.count() == 0
