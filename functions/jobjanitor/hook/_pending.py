"""Stand-ins for two shared modules other work is adding (``jobjanitor.clusters``,
``jobjanitor.endpoints``), with their agreed interfaces. Deleted once those land on main."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobjanitor.errors import ConfigError

CLUSTERS_ENV = "JOBJANITOR_NEPTUNE_CLUSTERS"
ALLOWED_ENDPOINTS_ENV = "JOBJANITOR_ALLOWED_ENDPOINTS"
_NEPTUNE_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.neptune\.amazonaws\.com(?:\.cn)?$")
_URL = re.compile(r"^(https?)://([^/:]+)(?::(\d{1,5}))?/?$")


@dataclass(frozen=True)
class NeptuneCluster:
    identifier: str
    resource_id: str
    endpoints: tuple[str, ...]


def configured_clusters(neptune_client: Any, value: str | None = None) -> tuple[NeptuneCluster, ...]:
    raw = os.environ.get(CLUSTERS_ENV, "") if value is None else value
    names = [n.strip() for n in raw.split(",")]
    if raw.strip() == "":
        return ()
    if any(not n for n in names):
        raise ConfigError(CLUSTERS_ENV, "blank entry in the comma list")
    clusters: list[NeptuneCluster] = []
    for name in names:
        found = [
            c
            for page in neptune_client.get_paginator("describe_db_clusters").paginate()
            for c in page["DBClusters"]
            if name in (c.get("DBClusterIdentifier"), c.get("DbClusterResourceId"))
        ]
        if not found:
            raise ConfigError(CLUSTERS_ENV, f"no Neptune cluster {name!r}")
        c = found[0]
        port = c.get("Port", 8182)
        endpoints = tuple(f"https://{c[k]}:{port}" for k in ("Endpoint", "ReaderEndpoint") if c.get(k))
        clusters.append(NeptuneCluster(c["DBClusterIdentifier"], c["DbClusterResourceId"], endpoints))
    return tuple(clusters)


def cluster_for_endpoint(endpoint: str, clusters: Sequence[NeptuneCluster]) -> NeptuneCluster | None:
    return next((c for c in clusters if endpoint in c.endpoints), None)


def validate_neptune_endpoint(value: str, *, field: str) -> str:
    match = _URL.match(value.strip())
    if not match:
        raise ConfigError(field, f"must look like https://host:port, got {value!r}")
    scheme, host, port = match.group(1), match.group(2).lower(), match.group(3) or "8182"
    normalised = f"{scheme}://{host}:{port}"
    allowed = {e.strip().rstrip("/") for e in os.environ.get(ALLOWED_ENDPOINTS_ENV, "").split(",") if e.strip()}
    if normalised in allowed:
        return normalised
    if scheme != "https" or not _NEPTUNE_HOST.match(host):
        raise ConfigError(field, f"must be an https Neptune endpoint (*.neptune.amazonaws.com), got {value!r}")
    return normalised
