"""Fixtures for driving the guard as CloudFormation would (see jobjanitor_testbed.guard_driver).

Everything AWS goes to the test bed's moto server (DynamoDB for idempotency, Events and
Lambda for the guard's polling, Glue); Neptune goes to the emulator; responses go to a
loopback receiver standing in for the presigned S3 URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jobjanitor_testbed.cfn import ResponseReceiver
from jobjanitor_testbed.clusters import STAND_IN, create_stand_in_cluster, stand_in_environment
from jobjanitor_testbed.guard_driver import TABLE, prepare_aws


@pytest.fixture
def receiver() -> Iterator[ResponseReceiver]:
    with ResponseReceiver() as r:
        yield r


@pytest.fixture
def guard_env(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """AWS pointed at the test bed, the idempotency table and the guard function in moto, a
    Neptune cluster in moto standing for the emulator (the install's one cluster), and a fresh
    guard (built on first invocation under this environment)."""
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "JobJanitorTest")
    prepare_aws()
    # The install serves one Neptune cluster: a moto cluster whose endpoint is the emulator.
    for key, value in stand_in_environment(aws_env.neptune_url).items():
        monkeypatch.setenv(key, value)
    import jobjanitor.guard.app as guard_app

    monkeypatch.setattr(guard_app, "_app", None)
    return aws_env


@pytest.fixture
def dead_neptune(guard_env: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A second configured cluster whose endpoint does not answer (the discard port)."""
    dead = "http://127.0.0.1:9"
    create_stand_in_cluster(dead, "dead-graph")
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", f"{STAND_IN},dead-graph")
    monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", f"{guard_env.neptune_url},{dead}")
    return dead
