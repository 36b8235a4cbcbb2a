"""Neptune clusters in moto whose cluster endpoint is the test bed's Neptune emulator.

jobjanitor serves only the clusters its install names (``JOBJANITOR_NEPTUNE_CLUSTERS``) and
accepts only their endpoints. moto has Neptune's management API (clusters, instances) but gives
every cluster an ``*.rds.amazonaws.com`` endpoint; :func:`create_stand_in_cluster` creates a
cluster through the real API (``boto3.client("neptune")``: moto in-process or the test bed's
moto server, wherever boto3's environment points) and then points its cluster endpoint at the
emulator's host and port. Its reader endpoint stays moto's.

The emulator speaks http, so the function also lists the emulator in
``JOBJANITOR_ALLOWED_ENDPOINTS`` (the switch that admits a local stand-in), which callers
export together with ``JOBJANITOR_NEPTUNE_CLUSTERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

REGION = "us-east-1"


@dataclass(frozen=True)
class StandIn:
    identifier: str
    resource_id: str
    endpoint: str  # the emulator's URL, as the guard's NeptuneEndpoint property gives it


def _backend_cluster(identifier: str, region: str) -> Any:
    return get_backend("rds")[DEFAULT_ACCOUNT_ID][region].clusters[identifier]


def create_stand_in_cluster(
    neptune_url: str, identifier: str, *, instances: int = 1, region: str = REGION, client: Any = None
) -> StandIn:
    """A Neptune cluster (and ``instances`` instances) whose cluster endpoint is ``neptune_url``."""
    port = int(urlsplit(neptune_url).port or 8182)
    neptune = client or boto3.client("neptune", region_name=region)
    created = create_cluster(neptune, identifier, instances=instances, port=port)
    point_at_emulator(identifier, neptune_url, region=region)
    return StandIn(identifier, created["DbClusterResourceId"], neptune_url.rstrip("/"))


def point_at_emulator(identifier: str, neptune_url: str, *, region: str = REGION) -> None:
    """Make an existing moto cluster's endpoint and port the emulator's host and port (a
    cluster a moto stack created, for instance)."""
    parts = urlsplit(neptune_url)
    host, port = str(parts.hostname), int(parts.port or 8182)
    model = _backend_cluster(identifier, region)
    # moto computes the endpoint in a read-only property: give this one object a subclass
    # whose cluster endpoint is the emulator's host.
    model.__class__ = type("StandInCluster", (type(model),), {"endpoint": property(lambda self: host)})
    model.port = port


def create_cluster(neptune: Any, identifier: str, *, instances: int = 1, port: int = 8182) -> dict[str, Any]:
    """A Neptune cluster with ``instances`` instances (``<identifier>-1``...): the DBCluster."""
    cluster: dict[str, Any] = neptune.create_db_cluster(DBClusterIdentifier=identifier, Engine="neptune", Port=port)[
        "DBCluster"
    ]
    for i in range(instances):
        neptune.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{i + 1}",
            DBInstanceClass="db.r6g.large",
            Engine="neptune",
            DBClusterIdentifier=identifier,
        )
    return cluster


def delete_cluster(identifier: str, *, region: str = REGION, client: Any = None) -> None:
    """Delete the cluster and its instances, as the consumer stack's Delete would."""
    neptune = client or boto3.client("neptune", region_name=region)
    found = neptune.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [identifier]}])
    for instance in found["DBInstances"]:
        neptune.delete_db_instance(DBInstanceIdentifier=instance["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    neptune.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)


STAND_IN = "testbed-graph"


def stand_in_environment(neptune_url: str, identifier: str = STAND_IN, *, region: str = REGION) -> dict[str, str]:
    """Create the stand-in cluster and return the variables a jobjanitor install serving it
    has: ``JOBJANITOR_NEPTUNE_CLUSTERS`` (the cluster) and ``JOBJANITOR_ALLOWED_ENDPOINTS``
    (the emulator's http URL)."""
    create_stand_in_cluster(neptune_url, identifier, region=region)
    return {"JOBJANITOR_NEPTUNE_CLUSTERS": identifier, "JOBJANITOR_ALLOWED_ENDPOINTS": neptune_url.rstrip("/")}
