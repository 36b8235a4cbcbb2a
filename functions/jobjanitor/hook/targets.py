"""From a hook request to the exact scope: the resource being deleted, and a :class:`Policy`
naming only the jobs that run on it.

- The physical id: ``cloudformation:DescribeStackResource(stackId, targetLogicalId)`` (the
  request is not confirmed to carry it).
- ``AWS::Neptune::DBCluster``: the physical id is the cluster identifier.
  ``neptune:DescribeDBClusters`` gives its resource id, endpoint and port. The scope is every
  outstanding job of every kind on that cluster, loads included: the cluster's deletion is
  its owner's say-so, and every job on it dies with it anyway.
- ``AWS::Glue::MLTransform``: the physical id is the transform id; the scope is every task
  run of that transform.
- A cluster or transform the deployment is not configured for gives no policy: the hook
  answers SUCCESS and touches nothing. So does a resource that is already gone or was never
  created.

The configured clusters (``JOBJANITOR_NEPTUNE_CLUSTERS``, parsed by :mod:`jobjanitor.clusters`)
are matched by the identifier or resource id they name, without resolving the whole list
(``configured_clusters`` raises for an entry it cannot find): a configured cluster that an
earlier teardown already deleted must not make the hook fail for the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from jobjanitor.clients import install_retry_policy
from jobjanitor.clusters import CLUSTERS_ENV, NeptuneCluster
from jobjanitor.endpoints import validate_neptune_endpoint
from jobjanitor.hook.request import NEPTUNE_CLUSTER, HookRequest
from jobjanitor.kinds.base import error_code
from jobjanitor.model import JobKindName
from jobjanitor.policy import NEPTUNE_KINDS, Policy

if TYPE_CHECKING:
    from jobjanitor.hook.config import HookConfig

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 8.0
MAX_ATTEMPTS = 4


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
                return Target(label, None, "it no longer exists: nothing to stop")
            raise ResolutionError(f"DescribeDBClusters {identifier}: {error}") from error
        if len(found) != 1 or found[0].get("Engine") != "neptune":
            raise ResolutionError(f"DescribeDBClusters {identifier} did not return exactly one Neptune cluster")
        cluster = found[0]
        names = {name.lower() for name in self.config.clusters}
        resource_id = str(cluster.get("DbClusterResourceId") or "")
        if identifier.lower() not in names and resource_id.lower() not in names:
            return Target(
                label, None, f"it is not one of the clusters this deployment is configured for ({CLUSTERS_ENV})"
            )
        host, port = cluster.get("Endpoint"), cluster.get("Port")
        if not host or not port:
            raise ResolutionError(f"DescribeDBClusters {identifier} gave no endpoint and port")
        # The writer endpoint (a reader refuses cancels), or the allow-listed local stand-in.
        endpoint = NeptuneCluster(identifier, resource_id, (f"https://{host}:{port}",)).data_endpoint()
        endpoint = validate_neptune_endpoint(endpoint, field="DescribeDBClusters Endpoint")
        policy = Policy(
            kinds=NEPTUNE_KINDS,
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


def _configured(client: Any) -> Any:
    # Retries stop at the invocation's deadline (jobjanitor.deadline.CURRENT_DEADLINE).
    install_retry_policy(client, max_attempts=MAX_ATTEMPTS, no_retry_codes=frozenset())
    return client


def _config() -> Any:
    from botocore.config import Config  # noqa: PLC0415 - lazy: cold start

    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def _boto3() -> Any:
    import boto3  # noqa: PLC0415 - lazy: cold start

    return boto3


# Literal service names: the build keeps only the botocore models it sees named (artifact/build.py).
_CLIENTS: dict[str, Callable[[], Any]] = {
    "cloudformation": lambda: _configured(_boto3().client("cloudformation", config=_config())),
    "neptune": lambda: _configured(_boto3().client("neptune", config=_config())),
    "glue": lambda: _configured(_boto3().client("glue", config=_config())),
}
