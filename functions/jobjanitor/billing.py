"""Does the bill stop? Neptune's Get answers what Neptune believes; the bill follows SageMaker.

After a wait sees a Neptune ML job terminal (or an inference endpoint gone), the SageMaker
resources its Get named (:attr:`jobjanitor.model.JobState.underlying`: ``processingJob``,
``hpoJob``, ``baseProcessingJob``, ``remoteModelTransformJob``, the ``endpoint``) are read, one
Describe each, and the job counts as stopped only when SageMaker agrees: a job Stopped, Failed
or Completed, an endpoint not found. One still running keeps the job outstanding: the wait goes
on polling it, and at the deadline it is reported still stopping, by its SageMaker name
(``StillRunning``/``StillStopping``). Reads only; nothing is stopped or deleted in SageMaker.

A read that fails (no route to SageMaker, a permission missing) does not hold anything: the
job is taken as Neptune says, and its result says the bill could not be verified. An endpoint's
config still there once the endpoint is gone (and the model it names) is reported by name, as
left behind: neither bills, and jobjanitor deletes nothing in SageMaker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds.base import error_code, error_text
from jobjanitor.model import UnderlyingJob
from jobjanitor.sagemaker_dating import SAGEMAKER_DESCRIBE, sagemaker_job

STOPPED = "billing stopped"
# A SageMaker job in one of these has stopped using instances.
DONE = frozenset({"Stopped", "Failed", "Completed"})
# The status member of each Describe answer, by resource type.
STATUS_KEYS = {
    "processing-job": "ProcessingJobStatus",
    "hyper-parameter-tuning-job": "HyperParameterTuningJobStatus",
    "training-job": "TrainingJobStatus",
    "transform-job": "TransformJobStatus",
}
MISSING = "Could not find"  # SageMaker's ValidationException for a name it does not know


class BillingCheck:
    """Reads the SageMaker side of a job or endpoint (``client``: a SageMaker client)."""

    def __init__(self, client: Any) -> None:
        self._sagemaker = client

    def verdict(self, underlying: tuple[UnderlyingJob, ...]) -> tuple[bool, str]:
        """(stopped, note): ``stopped`` False while a SageMaker resource still runs; the note
        is :data:`STOPPED`, or names what still runs, or says the check could not be made."""
        try:
            running = [text for text in map(self._running, underlying) if text]
            if running:
                return False, f"SageMaker still running: {'; '.join(running)}"
            left = [text for text in map(self._left_behind, underlying) if text]
        except (ClientError, BotoCoreError) as error:
            return True, f"billing unverified: {error_text(error, 160)}"
        return True, STOPPED + (f"; left behind (not billed): {'; '.join(left)}" if left else "")

    def _left_behind(self, job: UnderlyingJob) -> str | None:
        """An endpoint config still there after its endpoint is gone (whether DeleteMLEndpoint
        removes it is not documented), with the model it names; None otherwise."""
        if job.member != "endpointConfig":
            return None
        try:
            config = self._sagemaker.describe_endpoint_config(EndpointConfigName=job.name)
        except ClientError as error:
            if error_code(error) == "ValidationException" and MISSING in str(error):
                return None
            raise
        models = sorted({str(v.get("ModelName")) for v in config.get("ProductionVariants") or [] if v.get("ModelName")})
        return f"endpoint config {job.name}" + (f" (model {', '.join(models)})" if models else "")

    def _running(self, job: UnderlyingJob) -> str | None:
        """``member name: status`` while the resource runs, else None."""
        if job.member == "endpoint":
            status = self._read(lambda: self._sagemaker.describe_endpoint(EndpointName=job.name), "EndpointStatus")
            return None if status is None else f"endpoint {job.name}: {status}"
        found = sagemaker_job(job)
        if found is None:  # not a job SageMaker bills by the instance (an endpoint config)
            return None
        kind, name = found
        method, parameter = SAGEMAKER_DESCRIBE[kind]
        status = self._read(lambda: getattr(self._sagemaker, method)(**{parameter: name}), STATUS_KEYS[kind])
        return None if status is None or status in DONE else f"{job.member} {name}: {status}"

    def _read(self, describe: Callable[[], Any], key: str) -> str | None:
        """The resource's status (``describe``'s answer's ``key``); None when SageMaker does not
        know it."""
        try:
            answer = describe()
        except ClientError as error:
            if error_code(error) == "ValidationException" and MISSING in str(error):
                return None
            raise
        return str(answer.get(key) or "UNKNOWN")
