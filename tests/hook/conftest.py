"""Fixtures for driving the teardown hook as CloudFormation would (jobjanitor_testbed.hook_driver).

Two stacks in moto, neither with a guard: ``graph`` holds Neptune cluster A (the test bed's
emulator) and a Glue ML transform; ``other`` holds cluster B (a second emulator) and another
transform. Both clusters point at their emulators (DescribeDBClusters gives the emulator's host
and port; its URL is allow-listed). The deployment is configured for cluster A and the first transform only, unless a
test says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.clusters import point_at_emulator
from jobjanitor_testbed.hook_driver import HookDriver, create_stack
from jobjanitor_testbed.neptune import NeptuneEmulator
from jobjanitor_testbed.pytest_plugin import make_client

TABLE = "jobjanitor-idempotency"
LAMBDA_TIMEOUT = 5.0


@dataclass
class Stacks:
    graph: dict[str, str]  # StackId, GraphCluster, MatchTransform -> physical ids
    other: dict[str, str]
    neptune_a: Any  # neptunedata clients of the two clusters
    neptune_b: Any
    emulator_b: NeptuneEmulator
    glue: Any


@pytest.fixture
def second_cluster(testbed: Any) -> Iterator[NeptuneEmulator]:
    emulator = NeptuneEmulator(lifecycle=testbed.lifecycle).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def stacks(aws_env: Any, second_cluster: NeptuneEmulator, monkeypatch: pytest.MonkeyPatch) -> Stacks:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    graph = create_stack("graph", name="dedupe")
    other = create_stack("other", name="dedupe-other")
    point_at_emulator(graph["GraphCluster"], aws_env.neptune_url)
    point_at_emulator(other["GraphCluster"], second_cluster.url)
    env = {
        "IDEMPOTENCY_TABLE_NAME": TABLE,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "JobJanitorTest",
        "JOBJANITOR_ALLOWED_ENDPOINTS": f"{aws_env.neptune_url},{second_cluster.url}",
        "JOBJANITOR_NEPTUNE_CLUSTERS": graph["GraphCluster"],
        "JOBJANITOR_GLUE_TRANSFORM_IDS": graph["MatchTransform"],
        "JOBJANITOR_NEPTUNE_IAM_ROLE_ARN": sc.ROLE,
        "JOBJANITOR_HOOK_MODE": "Fail",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _rebuild_hook(monkeypatch)
    return Stacks(
        graph=graph,
        other=other,
        neptune_a=make_client("neptunedata", aws_env.neptune_url),
        neptune_b=make_client("neptunedata", second_cluster.url),
        emulator_b=second_cluster,
        glue=boto3.client("glue"),
    )


def _rebuild_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    import jobjanitor.hook.app as hook_app

    monkeypatch.setattr(hook_app, "_app", None)


@pytest.fixture
def fresh_hook(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The hook's app is built once per execution environment: call this after changing the
    environment, and the next invocation builds a new one from it."""
    return lambda: _rebuild_hook(monkeypatch)


@pytest.fixture
def driver(testbed_clock: FakeClock, virtual_deadlines: FakeClock) -> HookDriver:
    """CloudFormation with the hook in FAIL mode. The test bed's clock moves only when the driver
    waits callbackDelaySeconds: a job stops between invocations, never during one. Each
    invocation's Lambda has 5 s, spent on the virtual clock of the hook's deadlines (so a wait
    that cannot end ends at once, while each request still gets its real time)."""
    return HookDriver(failure_mode="FAIL", lambda_timeout=LAMBDA_TIMEOUT, clock=testbed_clock)
