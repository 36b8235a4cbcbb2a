"""The Neptune clusters an install serves: configured by name, resolved with the Neptune API.

An install (one jobjanitor stack) serves the clusters listed in ``JOBJANITOR_NEPTUNE_CLUSTERS``:
their DB cluster identifiers (``graph-prod``) or resource ids (``cluster-ABCD...``, what the
``neptune-db`` IAM grants name). :func:`configured_clusters` resolves the list with
``DescribeDBClusters`` (engine ``neptune``) and ``DescribeDBInstances`` into
:class:`NeptuneCluster` values carrying every data-API endpoint of each cluster: the cluster
(writer) endpoint, the reader endpoint and each instance's endpoint. Those endpoints are the
only ones the guard and the sweeper accept (:func:`cluster_for_endpoint`); jobs are listed and
cancelled at the cluster's writer endpoint whichever of them was given (a reader refuses
cancels). A blank or malformed entry is a :class:`ConfigError` naming the variable, never "no
filter".

An entry names a cluster by exactly one rule, :func:`names_cluster`, which every caller uses
(the hook, the guard, the sweeper): a resource id (``cluster-`` and upper-case letters and
digits) compares exactly with ``DbClusterResourceId``, and only with it; anything else is a
DB cluster identifier, compared case-folded with ``DBClusterIdentifier``. So ``cluster-ABC``
never names a cluster whose identifier is ``cluster-abc``.

An entry that names no cluster any more (a consumer stack that owned its cluster was deleted)
is **missing**: :func:`resolve_clusters` reports it and resolves the rest, so the clusters
that exist keep their protection. What each caller then answers is its own decision
(docs/guard.md, docs/sweeper.md, docs/hook.md).

Neptune's management API is RDS's (``boto3.client("neptune")``; IAM actions
``rds:DescribeDBClusters`` and ``rds:DescribeDBInstances``). Lists are paginated with
botocore's paginators.

Endpoints are compared by host and port (hosts case-insensitively): whether a scheme is
acceptable (https, or a local stand-in listed in ``JOBJANITOR_ALLOWED_ENDPOINTS``) is the
endpoint check's business (:mod:`jobjanitor.endpoints`), not this module's.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jobjanitor.errors import ConfigError

__all__ = [
    "ALLOWED_ENDPOINTS_ENV",
    "CLUSTERS_ENV",
    "MAX_CLUSTERS",
    "TEMPLATE_PARAMETER",
    "ClusterGone",
    "ClusterRegistry",
    "NeptuneCluster",
    "Resolved",
    "cluster_for_endpoint",
    "configured_clusters",
    "find_cluster",
    "host_port",
    "names_cluster",
    "parse_cluster_list",
    "resolve_clusters",
]

log = logging.getLogger("jobjanitor.clusters")

CLUSTERS_ENV = "JOBJANITOR_NEPTUNE_CLUSTERS"
# Local stand-ins (the test bed) are reached over http at these exact scheme://host:port.
ALLOWED_ENDPOINTS_ENV = "JOBJANITOR_ALLOWED_ENDPOINTS"
DEFAULT_PORT = 8182
# template.yaml grants neptune-db on this many clusters per install (one exact ARN per slot).
MAX_CLUSTERS = 10
ENGINE = "neptune"

# DbClusterResourceId: "cluster-" and upper-case letters and digits. Identifiers are stored in
# lower case, so the two forms cannot be confused.
_RESOURCE_ID = re.compile(r"^cluster-[A-Z0-9]+$")
# DBClusterIdentifier: 1-63 letters, digits or hyphens, a letter first, no trailing hyphen or "--".
_IDENTIFIER = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,62}$")


@dataclass(frozen=True, slots=True)
class NeptuneCluster:
    identifier: str  # DBClusterIdentifier
    resource_id: str  # DbClusterResourceId, cluster-XXXX (what IAM grants name)
    endpoints: tuple[str, ...]  # https://host:port: the cluster, reader and instance endpoints

    @property
    def writer_endpoint(self) -> str:
        """The cluster endpoint: where jobs are listed and cancelled (a reader refuses cancels)."""
        return self.endpoints[0]

    def data_endpoint(self, env: Mapping[str, str] | None = None) -> str:
        """The URL a data-API client should use for this cluster, whichever of its endpoints it
        was given: its writer endpoint, or the allow-listed local stand-in
        (``JOBJANITOR_ALLOWED_ENDPOINTS``) at the same host:port."""
        allowed = (env if env is not None else os.environ).get(ALLOWED_ENDPOINTS_ENV, "")
        writer = host_port(self.writer_endpoint)
        for candidate in (item.strip() for item in allowed.split(",")):
            if candidate and host_port(candidate) == writer:
                return candidate.rstrip("/")
        return self.writer_endpoint


@dataclass(frozen=True, slots=True)
class Resolved:
    """The configured clusters that exist, and the entries that name no cluster any more."""

    clusters: tuple[NeptuneCluster, ...]
    missing: tuple[str, ...] = ()


def names_cluster(entry: str, identifier: str, resource_id: str) -> bool:
    """Whether the configured ``entry`` names the cluster ``identifier`` (DBClusterIdentifier)
    with ``resource_id`` (DbClusterResourceId). The one comparison every caller uses: a
    resource id compares exactly, and only with the resource id; an identifier compares
    case-folded with the identifier (Neptune keeps identifiers in lower case)."""
    if _RESOURCE_ID.match(entry):
        return entry == resource_id
    return entry.lower() == identifier.lower()


def parse_cluster_list(value: str | None) -> tuple[str, ...]:
    """The entries of ``JOBJANITOR_NEPTUNE_CLUSTERS``: unset or empty gives ``()`` (no Neptune);
    a blank entry, or one that is neither an identifier nor a resource id, is an error."""
    if value is None or not value.strip():
        return ()
    entries: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            raise ConfigError(CLUSTERS_ENV, f"blank entry in {value!r} (a comma list of cluster identifiers or ids)")
        if not (_RESOURCE_ID.match(entry) or _IDENTIFIER.match(entry)):
            raise ConfigError(
                CLUSTERS_ENV,
                f"{entry!r} is neither a DB cluster identifier nor a cluster resource id (cluster-XXXX)",
            )
        if entry not in entries:
            entries.append(entry)
    if len(entries) > MAX_CLUSTERS:
        raise ConfigError(
            CLUSTERS_ENV, f"{len(entries)} clusters: one install serves at most {MAX_CLUSTERS} (deploy another)"
        )
    return tuple(entries)


def resolve_clusters(neptune_client: Any, value: str | None = None) -> Resolved:
    """Resolve ``value`` (default: the ``JOBJANITOR_NEPTUNE_CLUSTERS`` environment variable)
    with ``neptune_client`` (``boto3.client("neptune")``): the clusters that exist, and the
    entries that name no Neptune cluster in this account and region (missing: logged here, and
    reported by the caller). A malformed list raises :class:`ConfigError`; AWS faults propagate."""
    if value is None:
        value = os.environ.get(CLUSTERS_ENV)
    entries = parse_cluster_list(value)
    if not entries:
        return Resolved(())
    by_entry: dict[str, dict[str, Any]] = {}
    for cluster in _neptune_clusters(neptune_client):
        identifier, resource_id = str(cluster.get("DBClusterIdentifier")), str(cluster.get("DbClusterResourceId"))
        for entry in entries:
            if names_cluster(entry, identifier, resource_id):
                by_entry[entry] = cluster
    missing = tuple(entry for entry in entries if entry not in by_entry)
    if missing:
        log.warning(
            "configured Neptune clusters no longer exist (DescribeDBClusters knows no such identifier or resource "
            "id): they are skipped",
            extra={"missing": list(missing), "variable": CLUSTERS_ENV},
        )
    chosen: dict[str, dict[str, Any]] = {}
    for cluster in by_entry.values():
        chosen.setdefault(str(cluster["DBClusterIdentifier"]), cluster)
    return Resolved(_resolve(neptune_client, chosen), missing)


def configured_clusters(neptune_client: Any, value: str | None = None) -> tuple[NeptuneCluster, ...]:
    """:func:`resolve_clusters` for a caller that needs every entry: a missing one raises
    :class:`ConfigError` naming it."""
    resolved = resolve_clusters(neptune_client, value)
    if resolved.missing:
        raise ConfigError(
            CLUSTERS_ENV,
            f"no Neptune cluster {resolved.missing[0]!r} in this account and region "
            "(DescribeDBClusters knows no such identifier or resource id)",
        )
    return resolved.clusters


def find_cluster(neptune_client: Any, endpoint: str) -> NeptuneCluster | None:
    """Any Neptune cluster of this account and region that serves ``endpoint`` (configured or
    not): what an error about an unconfigured endpoint names."""
    everything = {str(c["DBClusterIdentifier"]): c for c in _neptune_clusters(neptune_client)}
    return cluster_for_endpoint(endpoint, _resolve(neptune_client, everything)) if everything else None


def _neptune_clusters(neptune_client: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    paginator = neptune_client.get_paginator("describe_db_clusters")
    for page in paginator.paginate(Filters=[{"Name": "engine", "Values": [ENGINE]}]):
        # The Neptune API is RDS's: keep only Neptune clusters, whatever the filter did.
        found += [c for c in page.get("DBClusters", []) if c.get("Engine") == ENGINE]
    return found


def _resolve(neptune_client: Any, chosen: dict[str, dict[str, Any]]) -> tuple[NeptuneCluster, ...]:
    if not chosen:  # DescribeDBInstances refuses an empty filter
        return ()
    instances = _instance_endpoints(neptune_client, list(chosen))
    resolved: list[NeptuneCluster] = []
    for identifier, cluster in chosen.items():
        port = int(cluster.get("Port") or DEFAULT_PORT)
        hosts = [cluster.get("Endpoint"), cluster.get("ReaderEndpoint")]
        endpoints = [_url(str(host), port) for host in hosts if host]
        endpoints += [e for e in sorted(instances.get(identifier, ())) if e not in endpoints]
        if not endpoints:
            raise ConfigError(CLUSTERS_ENV, f"cluster {identifier!r} has no endpoint yet (is it still creating?)")
        resolved.append(NeptuneCluster(identifier, str(cluster["DbClusterResourceId"]), tuple(endpoints)))
    return tuple(resolved)


def _instance_endpoints(neptune_client: Any, identifiers: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {identifier: set() for identifier in identifiers}
    paginator = neptune_client.get_paginator("describe_db_instances")
    for page in paginator.paginate(Filters=[{"Name": "db-cluster-id", "Values": identifiers}]):
        for instance in page.get("DBInstances", []):
            endpoint = instance.get("Endpoint") or {}
            owner = instance.get("DBClusterIdentifier")
            if owner in found and endpoint.get("Address"):
                found[owner].add(_url(str(endpoint["Address"]), int(endpoint.get("Port") or DEFAULT_PORT)))
    return found


def _url(host: str, port: int) -> str:
    return f"https://{host.lower()}:{port}"


def host_port(endpoint: str) -> tuple[str, int] | None:
    """``(host, port)`` of a URL (host lower-cased, port 8182 when absent); None if unparsable."""
    try:
        parts = urlsplit(endpoint.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or DEFAULT_PORT


def cluster_for_endpoint(endpoint: str, clusters: Sequence[NeptuneCluster]) -> NeptuneCluster | None:
    """The configured cluster ``endpoint`` belongs to (by host and port), or None."""
    wanted = host_port(endpoint)
    if wanted is None:
        return None
    for cluster in clusters:
        if any(host_port(candidate) == wanted for candidate in cluster.endpoints):
            return cluster
    return None


# The parameter of jobjanitor's template that feeds JOBJANITOR_NEPTUNE_CLUSTERS.
# What of an error's text a CloudFormation Reason keeps (protocol/response.py MAX_REASON_CHARS).
REASON_CHARS = 250
TEMPLATE_PARAMETER = "NeptuneClusterResourceIds"


class ClusterGone(ConfigError):
    """The endpoint's cluster is not among the clusters that exist, and configured entries are
    missing: it may well be one of them. Nothing on it can be listed or cancelled."""


class ClusterRegistry:
    """The configured clusters of one execution environment: resolved on first use, and
    again when an endpoint is not found (an instance added since, or a cluster that was still
    being created), so a new instance's endpoint is accepted without a cold start. Entries that
    name no cluster any more are :attr:`missing` and skipped; the rest keep serving.

    ``client_factory`` makes the management-API client (``boto3.client("neptune")``) only
    when a Neptune endpoint has to be checked: Glue-only requests never pay for it."""

    def __init__(self, value: str | None, client_factory: Callable[[], Any]) -> None:
        self.value = value
        # A malformed list fails every request that needs it (naming the variable), inside the
        # request, so the guard still answers CloudFormation; constructing never raises.
        self._error: ConfigError | None = None
        try:
            self.entries = parse_cluster_list(value)
        except ConfigError as error:
            self._error, self.entries = error, ()
        self._client_factory = client_factory
        self._client: Any = None
        self._resolved: Resolved | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClusterRegistry:
        value = (env if env is not None else os.environ).get(CLUSTERS_ENV)

        def client() -> Any:
            from jobjanitor.clients import aws_client  # noqa: PLC0415 - lazy: cold start

            # Throttling and 5xx are retried, every attempt bounded by the current deadline.
            return aws_client("neptune")

        return cls(value, client)

    def resolve(self, *, refresh: bool = False) -> Resolved:
        if self._error is not None:
            raise self._error
        with self._lock:
            if self._resolved is None or refresh:
                if not self.entries:
                    self._resolved = Resolved(())
                else:
                    if self._client is None:
                        self._client = self._client_factory()
                    self._resolved = resolve_clusters(self._client, self.value)
            return self._resolved

    def clusters(self, *, refresh: bool = False) -> tuple[NeptuneCluster, ...]:
        """The configured clusters that exist (missing entries are skipped: :attr:`missing`)."""
        return self.resolve(refresh=refresh).clusters

    @property
    def missing(self) -> tuple[str, ...]:
        """The entries the last resolution found no cluster for (without resolving)."""
        return self._resolved.missing if self._resolved else ()

    def _identify(self, endpoint: str) -> NeptuneCluster | None:
        """Best effort, only to name the cluster in the error about it: a failure here must
        not replace that error (the caller raises it either way)."""
        try:
            if self._client is None:
                self._client = self._client_factory()
            return find_cluster(self._client, endpoint)
        except Exception:  # see the docstring: the ConfigError that follows is what counts
            return None

    def known(self) -> tuple[NeptuneCluster, ...]:
        """The clusters resolved so far, without resolving (for naming metrics)."""
        return self._resolved.clusters if self._resolved else ()

    def require(self, endpoint: str, *, field: str) -> NeptuneCluster:
        """The configured cluster serving ``endpoint`` (any of its endpoints); ConfigError
        naming ``field`` if none does (:class:`ClusterGone` when configured entries are missing
        and the endpoint's cluster may be one of them)."""
        if self._error is not None:
            raise self._error
        found = cluster_for_endpoint(endpoint, self.clusters()) if self.entries else None
        if found is None and self.entries:
            found = cluster_for_endpoint(endpoint, self.clusters(refresh=True))
        if found is not None:
            return found
        named = self._identify(endpoint)
        if named is None and self.missing:
            raise ClusterGone(field, _gone_message(endpoint, self.missing))
        raise ConfigError(field, self._not_configured(named, endpoint, field))

    def _not_configured(self, named: NeptuneCluster | None, endpoint: str, field: str) -> str:
        what = f"{named.identifier} ({named.resource_id})" if named else endpoint
        new_id = named.resource_id if named else "<its cluster resource id>"
        # CloudFormation shows about 250 characters of a Reason: name the current list only
        # when it fits, so the command to run is never cut.
        message = ""
        for current in (",".join(self.entries), "<the ids it has>"):
            value = f"{current},{new_id}" if current else new_id
            message = (
                f"{what} is not among jobjanitor's clusters: add it: "
                f'`sam deploy --parameter-overrides {TEMPLATE_PARAMETER}="{value}"`'
            )
            if len(field) + 2 + len(message) <= REASON_CHARS:
                break
        return message


def _gone_message(endpoint: str, missing: Sequence[str]) -> str:
    """Which missing entry the endpoint's cluster is: the identifier its host starts with
    (``<identifier>.cluster-…``) when one matches, else it may be any of them. Kept short: a
    CloudFormation Reason shows about 250 characters."""
    host = (host_port(endpoint) or ("", 0))[0]
    known = [e for e in missing if not _RESOURCE_ID.match(e) and e.lower() == host.split(".", 1)[0]]
    lost = "no job on it can be cancelled; its Neptune ML jobs may still run in SageMaker"
    if known:
        return f"this endpoint's cluster {known[0]!r} no longer exists: {lost}"
    names = ", ".join(repr(e) for e in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    which = f"cluster {names} no longer exists" if len(missing) == 1 else f"clusters {names} no longer exist"
    return f"configured {which}, and none that exists serves this endpoint: {lost}"
