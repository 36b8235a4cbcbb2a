"""The whole test bed: the Neptune emulator and moto's server on loopback, with faults and logs.

    with TestBed(job_duration=2, stop_delay=0.3) as bed:
        neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url, ...)
        glue = boto3.client("glue", endpoint_url=bed.aws_url, ...)
        bed.faults_neptune.set(throttle_rate=0.2)
        bed.neptune.seed_ml_job("modeltraining", "old", started_at=bed.lifecycle.now() - 86400,
                                status="InProgress")
        ...
        bed.neptune_log.count(operation="CancelLoaderJob")

moto's backends (and the Glue ML task-run extension, which reads
``lifecycle.DEFAULT``) are process-wide, so the test bed drives ``lifecycle.DEFAULT``: one
clock and one set of durations for both sides. Its settings are restored on :meth:`close`.

Callers in another process set the test bed up through its control API on the Neptune URL
(``/testbed/clock``, ``/testbed/clusters``, ``/testbed/stacks``, ``/testbed/transforms``,
``/testbed/jobs``: :mod:`jobjanitor_testbed.control`, docs/testbed.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Literal

import boto3

from . import lifecycle as lifecycle_module
from .aws import AwsServer
from .control import Control
from .faults import Faults, RequestLog
from .lifecycle import Lifecycle
from .neptune import NeptuneEmulator
from .sigv4 import ACCESS_KEY, SECRET_KEY


class TestBed:
    """Neptune emulator + moto server. Context manager; also :meth:`start` / :meth:`close`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        job_duration: float = 3600.0,
        stop_delay: float = 2.0,
        starting_delay: float | None = None,
        clock: Callable[[], float] | None = None,
        latency: float = 0.0,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        seed: int | None = None,
        iam: bool = True,
        ml_not_found_style: Literal["400", "404"] = "400",
        neptune_port: int = 0,
        aws_port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.lifecycle: Lifecycle = lifecycle_module.DEFAULT
        self._saved = {f.name: getattr(self.lifecycle, f.name) for f in fields(Lifecycle)}
        self._settings: dict[str, Any] = {"job_duration": job_duration, "stop_delay": stop_delay}
        if starting_delay is not None:
            self._settings["starting_delay"] = starting_delay
        self._settings["clock"] = clock if clock is not None else time.time
        knobs = {
            "latency": latency,
            "throttle_rate": throttle_rate,
            "error_rate": error_rate,
            "drop_rate": drop_rate,
        }
        self._knobs = knobs
        self._seed = seed
        self.faults_neptune = Faults(**knobs, seed=seed)
        self.faults_aws = Faults(**knobs, seed=None if seed is None else seed + 1)
        self.neptune_log = RequestLog()
        self.aws_log = RequestLog()
        self._iam = iam
        self._ml_not_found_style: Literal["400", "404"] = ml_not_found_style
        self.neptune = NeptuneEmulator(
            host=host,
            port=neptune_port,
            lifecycle=self.lifecycle,
            faults=self.faults_neptune,
            log=self.neptune_log,
            iam=iam,
            ml_not_found_style=ml_not_found_style,
        )
        # Glue's signatures verified with the same credentials as Neptune's (one keyring: a
        # test's ``bed.neptune.sigv4.allow(...)`` or ``bed.aws.sigv4.allow(...)`` admits a key on both).
        self.aws = AwsServer(
            host=host,
            port=aws_port,
            faults=self.faults_aws,
            log=self.aws_log,
            iam=iam,
            keyring=self.neptune.sigv4.keyring,
        )
        self.neptune.control = Control(self)
        self._started = False

    # ---- life

    def start(self) -> TestBed:
        if self._started:
            return self
        lifecycle_module.configure(**self._settings)
        self.neptune.start()
        try:
            self.aws.start()
        except BaseException:
            self.neptune.stop()
            raise
        self._started = True
        return self

    def close(self) -> None:
        if not self._started:
            return
        self.neptune.stop()
        self.aws.stop()
        self.restore_lifecycle()
        self._started = False

    def restore_lifecycle(self) -> None:
        """Put ``lifecycle.DEFAULT`` back as it was before this test bed configured it."""
        lifecycle_module.configure(**self._saved)

    def __enter__(self) -> TestBed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- endpoints

    @property
    def neptune_url(self) -> str:
        return self.neptune.url

    @property
    def aws_url(self) -> str:
        return self.aws.url

    def aws_client(self, service: str) -> Any:
        """A boto3 client of this test bed's moto server (us-east-1, dummy credentials),
        whatever this process's AWS environment says."""
        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    @property
    def allowed_endpoints(self) -> str:
        """``JOBJANITOR_ALLOWED_ENDPOINTS`` for this test bed: the janitor accepts only https
        Neptune endpoints, plus the exact ``scheme://host:port`` values listed there."""
        return self.neptune_url

    # ---- state

    def set_faults(self, **knobs: Any) -> None:
        """Change fault knobs on both sides at once (see :meth:`Faults.set`)."""
        self.faults_neptune.set(**knobs)
        self.faults_aws.set(**knobs)

    def reset(self) -> None:
        """Back to the constructor's state: no jobs, empty logs, moto reset, original knobs and lifecycle."""
        lifecycle_module.configure(**self._settings)
        self.neptune.reset()
        self.neptune.iam = self._iam
        self.neptune.ml_not_found_style = self._ml_not_found_style
        self.aws.reset()
        self.aws.iam = self._iam
        for i, faults in enumerate((self.faults_neptune, self.faults_aws)):
            faults.set(**self._knobs, seed=None if self._seed is None else self._seed + i)


def export_aws_environment(bed: TestBed, **extra: str) -> None:
    """Point plain boto3 in this process (and its children) at the test bed's moto server, with
    dummy credentials and us-east-1, as a deployed function's environment would point it at AWS;
    admit the test bed's Neptune emulator as an endpoint (``JOBJANITOR_ALLOWED_ENDPOINTS``).
    ``extra`` adds or overrides variables (Powertools settings, the idempotency table)."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": bed.aws_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,  # the credentials the Neptune emulator accepts
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "JOBJANITOR_ALLOWED_ENDPOINTS": bed.allowed_endpoints,
            **extra,
        }
    )
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
