"""From a hook request to the exact scope: the resource being deleted, and a :class:`Policy`
naming only the jobs that run on it.

- The physical id: ``cloudformation:DescribeStackResource(stackId, targetLogicalId)`` (the
  request is not confirmed to carry it).
- ``AWS::Neptune::DBCluster``: the physical id is the cluster identifier.
  ``neptune:DescribeDBClusters`` gives its resource id, endpoint and port. The scope is every
  outstanding job of every kind on that cluster, loads included, and every Neptune ML
  inference endpoint made through it (``*``: every id): the cluster's deletion is its owner's
  say-so, and every job on it dies with it anyway. An endpoint does not: its SageMaker
  endpoint would bill on with no Neptune API left to delete it through.
- ``AWS::Glue::MLTransform``: the physical id is the transform id; the scope is every task
  run of that transform.
- A cluster or transform the deployment is not configured for gives no policy: the hook
  answers SUCCESS and touches nothing. So does a resource that was never created.
- A cluster that cannot be reached for a reason no retry changes is answered at once with
  SUCCESS, whose message names it and what cannot be seen (Neptune ML jobs started on it may
  still run in SageMaker): a cluster that no longer exists, or one DescribeDBClusters says is
  ``stopped`` or ``stopping`` (its endpoints do not answer until someone starts it). Answering
  IN_PROGRESS or FAILED would only block the deletion (with ``Fail``) until someone starts a
  cluster that is being deleted.

The configured clusters (``JOBJANITOR_NEPTUNE_CLUSTERS``, parsed by :mod:`jobjanitor.clusters`)
are matched with :func:`jobjanitor.clusters.names_cluster` (resource ids exactly, identifiers
case-folded) against the one cluster being deleted, without resolving the whole list: a
configured cluster that an earlier teardown already deleted must not make the hook fail for
the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from jobjanitor.clients import aws_client
from jobjanitor.clusters import CLUSTERS_ENV, NeptuneCluster, names_cluster
from jobjanitor.endpoints import validate_neptune_endpoint
from jobjanitor.hook.request import NEPTUNE_CLUSTER, HookRequest
from jobjanitor.kinds.base import error_code
from jobjanitor.model import JobKindName
from jobjanitor.policy import NEPTUNE_KINDS, Policy

if TYPE_CHECKING:
    from jobjanitor.hook.config import HookConfig

log = logging.getLogger("jobjanitor.hook")

# DescribeDBClusters statuses in which the data API does not answer and will not within the
# hook's invocations: only someone starting the cluster changes them.
UNREACHABLE_STATUSES = frozenset({"stopped", "stopping"})
# What no listing can show once the data API cannot answer.
UNSEEN = (
    "no job on it can be listed or cancelled: Neptune ML jobs started on it earlier may still run in SageMaker "
    "(processing, training and transform jobs): stop them there"
)


class ResolutionError(Exception):
    """The resource could not be resolved (an AWS fault after retries, or an inconsistency)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the hook acts on. ``policy`` None: nothing to do, ``note`` says why."""

    label: str
    policy: Policy | None
    note: str = ""
    metric_target: str | None = None


class Resolver:
    def __init__(self, config: HookConfig) -> None:
        self.config = config
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """cloudformation, neptune (the management API) or glue; made once, kept."""
        if service not in self._clients:
            self._clients[service] = _CLIENTS[service]()
        return self._clients[service]

    def resolve(self, request: HookRequest) -> Target:
        kind = "Neptune cluster" if request.target_name == NEPTUNE_CLUSTER else "Glue ML transform"
        physical_id = self.physical_id(request)
        if not physical_id:
            return Target(
                f"{kind} {request.logical_id}", None, "it has no physical id (never created): nothing to stop"
            )
        if request.target_name == NEPTUNE_CLUSTER:
            return self.cluster(physical_id)
        return self.transform(physical_id)

    def physical_id(self, request: HookRequest) -> str | None:
        cfn_client = self.client("cloudformation")
        try:
            detail = cfn_client.describe_stack_resource(
                StackName=request.stack_id, LogicalResourceId=request.logical_id
            )["StackResourceDetail"]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                return None
            raise ResolutionError(f"DescribeStackResource {request.logical_id}: {error}") from error
        if detail.get("ResourceType") != request.target_name:
            raise ResolutionError(
                f"stack resource {request.logical_id} is a {detail.get('ResourceType')}, "
                f"not the {request.target_name} the request names"
            )
        physical_id = detail.get("PhysicalResourceId")
        return str(physical_id) if physical_id else None

    def cluster(self, identifier: str) -> Target:
        label = f"Neptune cluster {identifier}"
        neptune_client = self.client("neptune")
        try:
            found = neptune_client.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
        except ClientError as error:
            if error_code(error) == "DBClusterNotFoundFault":
                return Target(label, None, f"it no longer exists (DescribeDBClusters): {UNSEEN}")
            raise ResolutionError(f"DescribeDBClusters {identifier}: {error}") from error
        if len(found) != 1 or found[0].get("Engine") != "neptune":
            raise ResolutionError(f"DescribeDBClusters {identifier} did not return exactly one Neptune cluster")
        cluster = found[0]
        resource_id = str(cluster.get("DbClusterResourceId") or "")
        named = str(cluster.get("DBClusterIdentifier") or identifier)
        if not any(names_cluster(entry, named, resource_id) for entry in self.config.clusters):
            return Target(
                label, None, f"it is not one of the clusters this deployment is configured for ({CLUSTERS_ENV})"
            )
        status = str(cluster.get("Status") or "")
        if status in UNREACHABLE_STATUSES:
            log.warning("the cluster is %s: answered at once", status, extra={"cluster": identifier})
            return Target(label, None, f"it is {status} (DescribeDBClusters), so its endpoints do not answer: {UNSEEN}")
        host, port = cluster.get("Endpoint"), cluster.get("Port")
        if not host or not port:
            raise ResolutionError(f"DescribeDBClusters {identifier} gave no endpoint and port")
        # The writer endpoint (a reader refuses cancels), or the allow-listed local stand-in.
        endpoint = NeptuneCluster(identifier, resource_id, (f"https://{host}:{port}",)).data_endpoint()
        endpoint = validate_neptune_endpoint(endpoint, field="DescribeDBClusters Endpoint")
        policy = Policy(
            kinds=NEPTUNE_KINDS,
            every_id=True,
            neptune_endpoint=endpoint,
            neptune_iam_role_arn=self.config.neptune_iam_role_arn,
            clean=self.config.clean,
            concurrency=self.config.concurrency,
        )
        return Target(label, policy, metric_target=identifier)

    def transform(self, transform_id: str) -> Target:
        label = f"Glue ML transform {transform_id}"
        configured = transform_id in self.config.glue_transform_ids
        prefix = self.config.glue_transform_name_prefix
        if not configured and prefix:
            glue_client = self.client("glue")
            try:
                name = str(glue_client.get_ml_transform(TransformId=transform_id).get("Name") or "")
            except ClientError as error:
                if error_code(error) == "EntityNotFoundException":
                    return Target(label, None, "it no longer exists: nothing to stop")
                raise ResolutionError(f"GetMLTransform {transform_id}: {error}") from error
            configured = name.startswith(prefix)
        if not configured:
            return Target(label, None, "it is not one of the transforms this deployment is configured for")
        policy = Policy(
            kinds=frozenset({JobKindName.GLUE_ML_TASK_RUN}),
            glue_transform_ids=(transform_id,),
            glue_region=self.config.glue_region,
            concurrency=self.config.concurrency,
        )
        return Target(label, policy, metric_target=transform_id)


# Every attempt and retry ends by the invocation's deadline (jobjanitor.clients).
_CLIENTS: dict[str, Callable[[], Any]] = {
    "cloudformation": lambda: aws_client("cloudformation"),
    "neptune": lambda: aws_client("neptune"),
    "glue": lambda: aws_client("glue"),
}
