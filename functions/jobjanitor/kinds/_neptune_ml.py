"""What the three Neptune ML job kinds share; each module only names its operations.

Neptune ML statuses follow SageMaker: InProgress and Stopping are outstanding; Completed,
Failed and Stopped are terminal. An unknown status is treated as outstanding (we try to
cancel it; the cancel's answer and a Get then say what it was).

The Get operations return no start time (the model has none, and botocore drops fields it
does not model). They name the SageMaker jobs doing the work (``processingJob``, ``hpoJob``,
``baseProcessingJob``, ``remoteModelTransformJob``, ``modelTransformJob``): describe returns
them as :attr:`JobState.underlying`, earliest started first, and the engine dates the job from
them when an age filter needs it (:mod:`jobjanitor.ages`).

Cancel outcomes, never confused:
- 200 -> cancelled.
- ``InvalidParameterException`` (HTTP 400; Neptune's answer for both an unknown id and a job
  that already completed or failed) -> a Get decides: a terminal status -> already_finished;
  the Get failing with InvalidParameter or MLResourceNotFound -> not_found; anything else ->
  failed, with the cancel's error.
- ``MLResourceNotFoundException`` (404, declared by the SDK model) -> a Get decides:
  terminal -> already_finished, otherwise not_found.
- anything else (after the client's retries) -> failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds.base import (
    Discovery,
    FanOut,
    capped_listing,
    decide_after_refusal,
    error_code,
    error_text,
    one_at_a_time,
)
from jobjanitor.model import CancelResult, JobKindName, JobRef, JobState, Outcome, UnderlyingJob

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy

MAX_ITEMS = 1024  # ListML*Jobs maximum
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
STOPPING = frozenset({"Stopping"})
KNOWN = TERMINAL | STOPPING | {"InProgress"}
INVALID_PARAMETER = "InvalidParameterException"
ML_NOT_FOUND = "MLResourceNotFoundException"
GET_NOT_FOUND = frozenset({INVALID_PARAMETER, ML_NOT_FOUND})
# Get members naming the SageMaker jobs underneath, in the order a job starts them (each kind
# has a subset: data processing a processing job; training a processing job, then a tuning job;
# transform a processing job, then the transform).
UNDERLYING_MEMBERS = ("processingJob", "baseProcessingJob", "hpoJob", "remoteModelTransformJob", "modelTransformJob")


class NeptuneMLKind:
    """Base for one Neptune ML job kind; subclasses set the four class attributes (and, for
    another lifecycle than a job's, the statuses)."""

    name: ClassVar[JobKindName]
    caller_chosen_ids = True  # StartML*Job takes an ``id``
    runs_elsewhere = True  # on SageMaker jobs (the endpoint kind: a SageMaker endpoint)
    list_op: ClassVar[str]  # e.g. "list_ml_data_processing_jobs"
    get_op: ClassVar[str]
    cancel_op: ClassVar[str]
    terminal: ClassVar[frozenset[str]] = TERMINAL
    stopping: ClassVar[frozenset[str]] = STOPPING
    known: ClassVar[frozenset[str]] = KNOWN  # the statuses a cancel's answer is believed in
    unseen: ClassVar[str] = "older jobs"  # what a full list hides

    def __init__(self, policy: Policy, clients: Clients) -> None:
        if clients.neptune is None or not policy.neptune_endpoint:
            raise ValueError(f"the {self.name} kind needs a neptunedata client and an endpoint")
        self._client = clients.neptune
        self._target = policy.neptune_endpoint
        self._role: dict[str, Any] = (
            {"neptuneIamRoleArn": policy.neptune_iam_role_arn} if policy.neptune_iam_role_arn else {}
        )

    def _op(self, name: str) -> Callable[..., Any]:
        op: Callable[..., Any] = getattr(self._client, name)
        return op

    def discover(self, fan_out: FanOut = one_at_a_time) -> Discovery:
        response = self._op(self.list_op)(maxItems=MAX_ITEMS, **self._role)
        ids = [str(i) for i in response.get("ids") or []]
        found = Discovery(refs=[JobRef(self.name, job_id, self._target) for job_id in ids])
        if len(ids) >= MAX_ITEMS:
            # The list has no paging: jobs older than the newest 1,024 cannot be seen at all.
            found.capped.append(capped_listing(self.name, _operation_name(self.list_op), MAX_ITEMS, self.unseen))
        return found

    def get(self, ref: JobRef) -> dict[str, Any] | None:
        """The Get's answer; None when Neptune does not know the id (any more)."""
        try:
            response: dict[str, Any] = self._op(self.get_op)(id=ref.job_id, **self._role)
        except ClientError as error:
            if error_code(error) in GET_NOT_FOUND:
                return None
            raise
        return response

    def describe(self, ref: JobRef) -> JobState:
        response = self.get(ref)
        if response is None:
            return JobState(ref, None, None, outstanding=False)
        status = str(response.get("status") or "UNKNOWN")
        return JobState(ref, status, None, outstanding=not self.is_finished(status), underlying=_underlying(response))

    def cancel(self, ref: JobRef, clean: bool) -> CancelResult:
        try:
            response = self._op(self.cancel_op)(id=ref.job_id, clean=clean, **self._role)
        except ClientError as error:
            if error_code(error) not in GET_NOT_FOUND:
                return CancelResult(Outcome.FAILED, error=error_text(error))
            return decide_after_refusal(self.describe, ref, error, self.is_stopping)
        except BotoCoreError as error:
            return CancelResult(Outcome.FAILED, error=error_text(error))
        # The status a cancel answers is not documented: kept only when it is one we know.
        status = str(response.get("status") or "")
        return CancelResult(Outcome.CANCELLED, status=status if status in self.known else None)

    def is_finished(self, status: str) -> bool:
        return status in self.terminal

    def is_stopping(self, status: str) -> bool:
        return status in self.stopping


def _operation_name(method: str) -> str:
    """``list_ml_model_training_jobs`` -> ``ListMLModelTrainingJobs`` (the API's name)."""
    return "".join(part.upper() if part == "ml" else part.capitalize() for part in method.split("_"))


def _underlying(response: dict[str, Any]) -> tuple[UnderlyingJob, ...]:
    jobs = []
    for member in UNDERLYING_MEMBERS:
        value = response.get(member)
        if isinstance(value, dict) and (value.get("name") or value.get("arn")):
            jobs.append(
                UnderlyingJob(member, str(value.get("name") or ""), str(value["arn"]) if value.get("arn") else None)
            )
    return tuple(jobs)
