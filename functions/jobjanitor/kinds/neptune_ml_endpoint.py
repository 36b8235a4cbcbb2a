"""Neptune ML inference endpoints (/ml/endpoints): not jobs, but what a Neptune ML pipeline
leaves billing by the hour (a SageMaker real-time endpoint) until someone deletes it.

The engine treats one like a job:

- **discover**: ``ListMLEndpoints`` with ``maxItems`` 1,024 (its maximum; no paging): a full
  list is reported as incomplete, like the ML job lists.
- **describe**: ``GetMLEndpoint`` (status, and the SageMaker endpoint and endpoint config it
  runs on), then ``sagemaker:DescribeEndpoint`` on the endpoint it names: its ``CreationTime``
  is the endpoint's start (the Neptune answer has no time member), and a SageMaker endpoint
  that is gone makes the endpoint finished (status ``Deleted``) whatever Neptune's record
  still says. Neptune answering not found (``InvalidParameterException`` or
  ``MLResourceNotFoundException``, as for ML jobs) is gone.
- **"cancel"**: ``DeleteMLEndpoint`` (``clean`` as for job cancels). A refusal with a not-found
  code is decided by a describe, as for ML jobs.
- **statuses**: Creating, InService, Updating, Failed are outstanding (each exists, and may
  bill: the kind deletes them all); Deleting is "stopping"; ``Deleted`` (our word: the SageMaker
  endpoint is gone) is terminal. An unknown status is outstanding. The full set Neptune uses is
  not documented (graph-notebook waits for InService or Failed).

An endpoint's id is chosen by whoever creates it (``CreateMLEndpoint``'s ``id``), so a job-id
prefix or explicit ids scope it; the policy refuses the kind without one of them or an explicit
``*`` (see :class:`jobjanitor.policy.Policy`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds._neptune_ml import INVALID_PARAMETER, MAX_ITEMS, ML_NOT_FOUND
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

DELETED = "Deleted"  # not a Neptune status: the SageMaker endpoint is gone
STOPPING = frozenset({"Deleting"})
KNOWN = frozenset({"Creating", "InService", "Updating", "Failed", "Deleting"})
_GET_NOT_FOUND = frozenset({INVALID_PARAMETER, ML_NOT_FOUND})
# SageMaker's answer to DescribeEndpoint for an endpoint that does not exist: ValidationException
# "Could not find endpoint ...".
SAGEMAKER_MISSING = "Could not find endpoint"


class NeptuneMLEndpointKind:
    name = JobKindName.NEPTUNE_ML_ENDPOINT
    caller_chosen_ids = True  # CreateMLEndpoint takes an ``id``

    def __init__(self, policy: Policy, clients: Clients) -> None:
        if clients.neptune is None or not policy.neptune_endpoint:
            raise ValueError(f"the {self.name} kind needs a neptunedata client and an endpoint")
        if clients.sagemaker is None:
            raise ValueError(f"the {self.name} kind needs a SageMaker client (it reads the endpoint underneath)")
        self._client: Any = clients.neptune
        self._sagemaker: Any = clients.sagemaker
        self._target = policy.neptune_endpoint
        self._role: dict[str, Any] = (
            {"neptuneIamRoleArn": policy.neptune_iam_role_arn} if policy.neptune_iam_role_arn else {}
        )

    def discover(self, fan_out: FanOut = one_at_a_time) -> Discovery:
        response = self._client.list_ml_endpoints(maxItems=MAX_ITEMS, **self._role)
        ids = [str(i) for i in response.get("ids") or []]
        found = Discovery(refs=[JobRef(self.name, endpoint_id, self._target) for endpoint_id in ids])
        if len(ids) >= MAX_ITEMS:
            found.capped.append(capped_listing(self.name, "ListMLEndpoints", MAX_ITEMS, "other endpoints"))
        return found

    def describe(self, ref: JobRef) -> JobState:
        try:
            response = self._client.get_ml_endpoint(id=ref.job_id, **self._role)
        except ClientError as error:
            if error_code(error) in _GET_NOT_FOUND:
                return JobState(ref, None, None, outstanding=False)
            raise
        status = str(response.get("status") or "UNKNOWN")
        underlying = _underlying(response)
        endpoint = next((u for u in underlying if u.member == "endpoint" and u.name), None)
        if endpoint is None:  # no SageMaker endpoint named (yet): nothing to read or date it by
            return JobState(ref, status, None, outstanding=True, underlying=underlying)
        created = self._sagemaker_created(endpoint.name)
        if created is None:
            return JobState(ref, DELETED, None, outstanding=False, underlying=underlying)
        return JobState(ref, status, created, outstanding=True, underlying=underlying)

    def _sagemaker_created(self, name: str) -> datetime | None:
        """The SageMaker endpoint's CreationTime; None when SageMaker does not know it (any
        more). Other errors propagate: the endpoint cannot be decided this pass."""
        try:
            described = self._sagemaker.describe_endpoint(EndpointName=name)
        except ClientError as error:
            if error_code(error) == "ValidationException" and SAGEMAKER_MISSING in str(error):
                return None
            raise
        created = described.get("CreationTime")
        if not isinstance(created, datetime):
            raise ValueError(f"SageMaker endpoint {name}: no CreationTime in the answer")
        return created if created.tzinfo else created.replace(tzinfo=UTC)

    def cancel(self, ref: JobRef, clean: bool) -> CancelResult:
        try:
            response = self._client.delete_ml_endpoint(id=ref.job_id, clean=clean, **self._role)
        except ClientError as error:
            if error_code(error) not in _GET_NOT_FOUND:
                return CancelResult(Outcome.FAILED, error=error_text(error))
            return decide_after_refusal(self.describe, ref, error, self.is_stopping)
        except BotoCoreError as error:
            return CancelResult(Outcome.FAILED, error=error_text(error))
        # The status a delete answers is not documented: kept only when it is one we know.
        status = str(response.get("status") or "")
        return CancelResult(Outcome.CANCELLED, status=status if status in KNOWN else None)

    def is_finished(self, status: str) -> bool:
        return status == DELETED

    def is_stopping(self, status: str) -> bool:
        return status in STOPPING


def _underlying(response: dict[str, Any]) -> tuple[UnderlyingJob, ...]:
    """The SageMaker endpoint and endpoint config the Get names (endpoint first)."""
    found = []
    for member in ("endpoint", "endpointConfig"):
        value = response.get(member)
        if isinstance(value, dict) and value.get("name"):
            arn = value.get("arn")
            found.append(UnderlyingJob(member, str(value["name"]), str(arn) if arn else None))
    return tuple(found)


def make(policy: Policy, clients: Clients) -> NeptuneMLEndpointKind:
    return NeptuneMLEndpointKind(policy, clients)
