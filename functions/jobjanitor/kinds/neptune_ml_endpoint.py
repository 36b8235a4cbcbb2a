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

from botocore.exceptions import ClientError

from jobjanitor.kinds._neptune_ml import NeptuneMLKind
from jobjanitor.kinds.base import error_code
from jobjanitor.model import JobKindName, JobRef, JobState, UnderlyingJob

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy

DELETED = "Deleted"  # not a Neptune status: the SageMaker endpoint is gone
# SageMaker's answer to DescribeEndpoint for an endpoint that does not exist: ValidationException
# "Could not find endpoint ...".
SAGEMAKER_MISSING = "Could not find endpoint"


class NeptuneMLEndpointKind(NeptuneMLKind):
    """Listed, deleted and refused like an ML job (:class:`NeptuneMLKind`); described with its
    SageMaker endpoint."""

    name = JobKindName.NEPTUNE_ML_ENDPOINT
    list_op = "list_ml_endpoints"
    get_op = "get_ml_endpoint"
    cancel_op = "delete_ml_endpoint"  # "cancel" deletes the endpoint
    terminal = frozenset({DELETED})
    stopping = frozenset({"Deleting"})
    known = frozenset({"Creating", "InService", "Updating", "Failed", "Deleting"})
    unseen = "other endpoints"

    def __init__(self, policy: Policy, clients: Clients) -> None:
        super().__init__(policy, clients)
        if clients.sagemaker is None:
            raise ValueError(f"the {self.name} kind needs a SageMaker client (it reads the endpoint underneath)")
        self._sagemaker: Any = clients.sagemaker

    def describe(self, ref: JobRef) -> JobState:
        response = self.get(ref)
        if response is None:
            return JobState(ref, None, None, outstanding=False)
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
