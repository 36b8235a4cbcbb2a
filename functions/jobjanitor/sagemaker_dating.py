"""Neptune ML jobs dated by the SageMaker jobs doing their work (see :mod:`jobjanitor.ages`).

A module of its own, imported only by the sweeper and the CLI (the callers that apply an age):
the IAM test derives each function's grants from the code it can reach, so the guard, which
applies no age, is granted no SageMaker call.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from jobjanitor.model import UnderlyingJob

# SageMaker resource type (an arn's ``<type>/<name>``) -> its Describe method and name parameter.
# Exactly these four calls are granted in template.yaml (sagemaker:Describe*Job on these types).
SAGEMAKER_DESCRIBE: dict[str, tuple[str, str]] = {
    "processing-job": ("describe_processing_job", "ProcessingJobName"),
    "hyper-parameter-tuning-job": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
    "training-job": ("describe_training_job", "TrainingJobName"),
    "transform-job": ("describe_transform_job", "TransformJobName"),
}
# When a Get member carries no arn: the type its name says it is.
MEMBER_TYPES = {
    "processingJob": "processing-job",
    "baseProcessingJob": "processing-job",
    "hpoJob": "hyper-parameter-tuning-job",
    "remoteModelTransformJob": "transform-job",
}


def sagemaker_job(job: UnderlyingJob) -> tuple[str, str] | None:
    """(resource type, name) of a SageMaker job a Neptune ML Get names, or None if it is not one
    of the four types jobjanitor can describe."""
    if job.arn:
        # arn:<partition>:sagemaker:<region>:<account>:<type>/<name>
        parts = job.arn.split(":", 5)
        if len(parts) == 6 and parts[2] == "sagemaker" and "/" in parts[5]:
            kind, _, name = parts[5].partition("/")
            return (kind, job.name or name) if kind in SAGEMAKER_DESCRIBE else None
    member_kind = MEMBER_TYPES.get(job.member)
    return (member_kind, job.name) if member_kind and job.name else None


class SageMakerDating:
    """A Neptune ML job's start: the ``CreationTime`` of the first SageMaker job its Get names.
    Implements :class:`jobjanitor.ages.Dating`. Without ``client``, one is created on first use
    (a sweep that dates nothing pays nothing), with the service clients' retry policy."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from jobjanitor.clients import JOBS, aws_client  # noqa: PLC0415 - lazy: cold start

                self._client = aws_client("sagemaker", JOBS, pool=32)
            return self._client

    def started_at(self, underlying: tuple[UnderlyingJob, ...]) -> datetime | None:
        """One Describe call; None when no describable SageMaker job is named (yet). Service
        errors propagate: the caller reports the job as not datable."""
        for job in underlying:
            found = sagemaker_job(job)
            if found is None:
                continue
            kind, name = found
            method, parameter = SAGEMAKER_DESCRIBE[kind]
            response = getattr(self.client, method)(**{parameter: name})
            created = response.get("CreationTime")
            if not isinstance(created, datetime):
                raise ValueError(f"SageMaker {kind} {name}: no CreationTime in the answer")
            return created if created.tzinfo else created.replace(tzinfo=UTC)
        return None
