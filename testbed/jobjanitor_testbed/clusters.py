"""Neptune clusters in moto whose cluster endpoint is the test bed's Neptune emulator.

jobjanitor serves only the clusters its install names (``JOBJANITOR_NEPTUNE_CLUSTERS``) and
accepts only their endpoints. moto has Neptune's management API (clusters, instances) but gives
every cluster an ``*.rds.amazonaws.com`` endpoint; :func:`create_stand_in_cluster` creates a
cluster through the real API (``boto3.client("neptune")``: moto in-process or the test bed's
moto server, wherever boto3's environment points) and then points its cluster endpoint at the
emulator's host and port. Its reader and instance endpoints stay moto's, unless:

- :func:`model_endpoints` gives them listeners of the emulator (same jobs): the reader endpoint
  at 127.0.0.2 and the cluster's port (DescribeDBClusters has one port for both), read-only;
  each instance (DescribeDBInstances) its own port on 127.0.0.1, the writer instance
  writable, the others read-only. A read-only listener refuses starts and cancels (405).
- :func:`stop_cluster` stops the cluster as StopDBCluster does: DescribeDBClusters says
  ``stopped`` and no endpoint of it answers (:func:`start_cluster` undoes it).
- :func:`delete_cluster` removes the cluster and its instances, as a consumer stack's Delete
  would: DescribeDBClusters then answers DBClusterNotFoundFault.

The emulator speaks http, so the function also lists the emulator in
``JOBJANITOR_ALLOWED_ENDPOINTS`` (the switch that admits a local stand-in), which callers
export together with ``JOBJANITOR_NEPTUNE_CLUSTERS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from jobjanitor_testbed.neptune import NeptuneEmulator

REGION = "us-east-1"
READER_HOST = "127.0.0.2"  # a second loopback address: the reader endpoint shares the cluster's port


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
    _override(model, endpoint=host)
    model.port = port


def _override(model: Any, **values: str) -> None:
    """moto computes endpoints and addresses in read-only properties: give this one object a
    subclass whose properties ``values`` name return those values."""
    properties = {name: property(lambda self, value=value: value) for name, value in values.items()}
    model.__class__ = type(f"StandIn{type(model).__name__}", (type(model),), properties)


@dataclass(frozen=True)
class ClusterEndpoints:
    """Every data-API endpoint of a stand-in cluster (URLs of the emulator's listeners)."""

    writer: str  # the cluster endpoint
    reader: str  # the reader endpoint
    instances: dict[str, str] = field(default_factory=dict)  # instance identifier -> its endpoint
    writer_instance: str = ""

    @property
    def all(self) -> list[str]:
        return [self.writer, self.reader, *self.instances.values()]


def model_endpoints(identifier: str, emulator: NeptuneEmulator, *, region: str = REGION) -> ClusterEndpoints:
    """Give a stand-in cluster (pointed at ``emulator``) a reader endpoint and instance endpoints
    that are listeners of the emulator (see the module docstring). Admit the URLs in
    ``JOBJANITOR_ALLOWED_ENDPOINTS`` to hand them to jobjanitor."""
    backend = get_backend("rds")[DEFAULT_ACCOUNT_ID][region]
    cluster = backend.clusters[identifier]
    reader = emulator.add_listener(host=READER_HOST, port=emulator.port)
    _override(cluster, reader_endpoint=READER_HOST)
    instances: dict[str, str] = {}
    writer_instance = ""
    for instance in [db for db in backend.databases.values() if db.db_cluster_identifier == identifier]:
        url = emulator.add_listener(read_only=not instance.is_cluster_writer)
        _override(instance, address=str(urlsplit(url).hostname))
        instance.port = int(urlsplit(url).port or 0)
        instances[instance.db_instance_identifier] = url
        writer_instance = url if instance.is_cluster_writer else writer_instance
    return ClusterEndpoints(emulator.url, reader, instances, writer_instance)


def stop_cluster(identifier: str, emulator: NeptuneEmulator, *, region: str = REGION, client: Any = None) -> None:
    """StopDBCluster: DescribeDBClusters says ``stopped``, and no endpoint of it answers."""
    neptune = client or boto3.client("neptune", region_name=region)
    # moto answers "creating" to the first read of a new cluster's status, and refuses to stop
    # a cluster that is not available: read it once first.
    neptune.describe_db_clusters(DBClusterIdentifier=identifier)
    neptune.stop_db_cluster(DBClusterIdentifier=identifier)
    emulator.stopped = True


def start_cluster(identifier: str, emulator: NeptuneEmulator, *, region: str = REGION, client: Any = None) -> None:
    """StartDBCluster: available again, its endpoints answer."""
    (client or boto3.client("neptune", region_name=region)).start_db_cluster(DBClusterIdentifier=identifier)
    emulator.stopped = False


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
