"""Fixtures for driving the guard as CloudFormation would (see jobjanitor_testbed.guard_driver).

Everything AWS goes to the test bed's moto server (DynamoDB for idempotency, Events and
Lambda for crhelper's polling, Glue); Neptune goes to the emulator; responses go to a
loopback receiver standing in for the presigned S3 URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jobjanitor_testbed.cfn import ResponseReceiver
from jobjanitor_testbed.guard_driver import TABLE, prepare_aws


@pytest.fixture
def receiver() -> Iterator[ResponseReceiver]:
    with ResponseReceiver() as r:
        yield r


@pytest.fixture
def guard_env(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """AWS pointed at the test bed, the idempotency table and the guard function in moto,
    and a fresh guard (built on first invocation under this environment)."""
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "JobJanitorTest")
    prepare_aws()
    import jobjanitor.guard.app as guard_app

    monkeypatch.setattr(guard_app, "_app", None)
    return aws_env
