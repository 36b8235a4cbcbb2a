"""The sweeper's handler, configured by environment as the template configures it, against
the test bed (Neptune emulator; moto server for Glue, DynamoDB and CloudFormation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.clusters import stand_in_environment
from jobjanitor_testbed.guard_driver import TABLE
from jobjanitor_testbed.scenario import ML_KINDS, create_transform

OLD = timedelta(hours=2)


@dataclass
class Aged:
    """Jobs by jobjanitor kind: old (past the max age) and young, all outstanding."""

    old: dict[str, list[str]] = field(default_factory=dict)
    young: dict[str, list[str]] = field(default_factory=dict)
    transform_id: str = ""

    def count(self, which: str) -> int:
        return sum(len(v) for v in getattr(self, which).values())


@pytest.fixture
def sweeper_env(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    transform = create_transform(boto3.client("glue"), "jj-sweep")
    for key, value in {
        **stand_in_environment(aws_env.neptune_url),
        "JOBJANITOR_GLUE_TRANSFORM_IDS": transform,
        "JOBJANITOR_KINDS": "all",
        "JOBJANITOR_MAX_AGE": "1h",
        "JOBJANITOR_JOB_ID_PREFIX": "*",
        "JOBJANITOR_DRY_RUN": "false",
        "JOBJANITOR_CLEAN": "true",
        "IDEMPOTENCY_TABLE_NAME": TABLE,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "JobJanitorTest",
    }.items():
        monkeypatch.setenv(key, value)
    import jobjanitor.handlers.sweeper as handler

    monkeypatch.setattr(handler, "_sweeper", None)
    aws_env.sweep_transform = transform
    return aws_env


@pytest.fixture
def seed_aged(sweeper_env: Any) -> Callable[..., Aged]:
    """Old and young outstanding jobs of every kind. Old Neptune ML jobs are dated the way a
    real deployment dates them: by the SageMaker jobs the test bed starts under them."""

    def seed(per_kind: int = 1, prefix: str = "jj-") -> Aged:
        bed = sweeper_env
        now = time.time()
        aged = Aged(transform_id=bed.sweep_transform)
        for kind, api_kind in ML_KINDS.items():
            aged.old[kind] = [
                bed.neptune.seed_ml_job(
                    api_kind, f"{prefix}old-{api_kind}-{i}", status="InProgress", started_at=now - OLD.total_seconds()
                )
                for i in range(per_kind)
            ]
            aged.young[kind] = [
                bed.neptune.seed_ml_job(api_kind, f"{prefix}young-{api_kind}-{i}", status="InProgress")
                for i in range(per_kind)
            ]
        aged.old["neptune-loader"] = [
            bed.neptune.seed_load(started_at=now - OLD.total_seconds(), status="LOAD_IN_PROGRESS")
            for _ in range(per_kind)
        ]
        aged.young["neptune-loader"] = [
            bed.neptune.seed_load(started_at=now - 60, status="LOAD_IN_QUEUE") for _ in range(per_kind)
        ]
        aged.old["glue-ml-task-run"] = [
            moto_glue.seed_task_run(bed.sweep_transform, started_on=now - OLD.total_seconds(), status="RUNNING")
            for _ in range(per_kind)
        ]
        aged.young["glue-ml-task-run"] = [
            moto_glue.seed_task_run(bed.sweep_transform, started_on=now - 60, status="RUNNING") for _ in range(per_kind)
        ]
        return aged

    return seed
