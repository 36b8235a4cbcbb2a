"""pytest fixtures for the test bed. Enable with ``pytest_plugins = ["jobjanitor_testbed.pytest_plugin"]``.

- ``testbed``: a :class:`~jobjanitor_testbed.server.TestBed` with fresh state for each test
  (servers are started once per session and reset before every test: no jobs, empty
  request logs, moto backends reset, no faults, IAM DB authentication on (every Neptune and
  every Glue request's SigV4 signature verified: :mod:`jobjanitor_testbed.sigv4`; only the test
  bed's credentials accepted), ``job_duration=3600``, ``stop_delay=0.3``, real clock).
- ``testbed_clock``: a :class:`~jobjanitor_testbed.clock.FakeClock` installed as the test
  bed's clock (Neptune emulator and Glue task runs alike) for this test.
- ``virtual_deadlines``: the janitor's deadlines made during this test without a clock of
  their own (a handler's, from its Lambda context) run on a FakeClock of their own, which the
  engine's waits advance instead of sleeping: a Lambda's minute of waiting passes in
  milliseconds. The test bed's jobs keep their own time (with ``testbed_clock``, they stand
  still during an invocation's wait, as they would were it short).
- ``deadlines_on_testbed_clock``: those deadlines run on ``testbed_clock`` itself: the engine's
  waits advance the test bed's time, so jobs stop "during" a handler's wait as they would on
  real seconds (a cancelled job's ``stop_delay`` passes while the guard waits or polls).
- ``neptune_client`` / ``glue_client`` / ``sagemaker_client``: boto3 clients pointed at the test bed
  (us-east-1, dummy credentials, botocore's default retry settings).
- ``aws_env``: sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION=us-east-1
  and AWS_ENDPOINT_URL=<aws_url> so plain ``boto3.client("glue")`` reaches moto; also
  NEPTUNE_ENDPOINT=<neptune_url>, and JOBJANITOR_ALLOWED_ENDPOINTS=<neptune_url> (the janitor
  accepts only https Neptune endpoints besides the ones listed there). Returns the test bed.
- ``no_retry_delay``: botocore's default (standard) retries keep their attempts but skip
  the backoff sleeps, so retry tests stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.retries.standard import ExponentialBackoff
from jobjanitor.deadline import use_clock

from .clock import FakeClock
from .server import TestBed
from .sigv4 import ACCESS_KEY, SECRET_KEY

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
DEFAULTS: dict[str, Any] = {"job_duration": 3600.0, "stop_delay": 0.3}


@pytest.fixture(scope="session")
def _testbed_session() -> Iterator[TestBed]:
    with TestBed(**DEFAULTS) as bed:
        yield bed


@pytest.fixture
def testbed(_testbed_session: TestBed) -> Iterator[TestBed]:
    _testbed_session.reset()
    yield _testbed_session
    _testbed_session.reset()
    _testbed_session.restore_lifecycle()  # other tests see lifecycle.DEFAULT as they left it


@pytest.fixture
def testbed_clock(testbed: TestBed) -> FakeClock:
    clock = FakeClock(1_700_000_000.0)
    testbed.lifecycle.clock = clock
    return clock  # testbed.reset() restores the real clock


@pytest.fixture
def virtual_deadlines() -> Iterator[FakeClock]:
    clock = FakeClock(0.0)
    with use_clock(clock):
        yield clock


@pytest.fixture
def deadlines_on_testbed_clock(testbed_clock: FakeClock) -> Iterator[FakeClock]:
    with use_clock(testbed_clock):
        yield testbed_clock


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries without their backoff sleeps (same attempts, same requests)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def make_client(service: str, endpoint_url: str, **kwargs: Any) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION, **CREDENTIALS, **kwargs)


@pytest.fixture
def neptune_client(testbed: TestBed) -> Any:
    return make_client("neptunedata", testbed.neptune_url)


@pytest.fixture
def glue_client(testbed: TestBed) -> Any:
    return make_client("glue", testbed.aws_url)


@pytest.fixture
def sagemaker_client(testbed: TestBed) -> Any:
    return make_client("sagemaker", testbed.aws_url)


@pytest.fixture
def aws_env(testbed: TestBed, monkeypatch: pytest.MonkeyPatch) -> TestBed:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", testbed.aws_url)
    monkeypatch.setenv("NEPTUNE_ENDPOINT", testbed.neptune_url)
    monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", testbed.allowed_endpoints)
    return testbed
