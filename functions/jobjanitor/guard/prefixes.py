"""Which job-id prefixes other guards use on the same Neptune cluster, to warn about overlaps.

A prefix selects every Neptune ML job whose id starts with it, whoever started the job: the
guard of stack ``ml`` with prefix ``ml-`` also reaches stack ``ml-staging``'s ``ml-staging-…``
jobs. So each guard records its prefix, per cluster, in the jobjanitor table
(:mod:`jobjanitor.store.prefixes`: one item per cluster, ``jobjanitor#guard-prefixes#<cluster
resource id>``, a map of ``<stack id>|<logical id>`` to prefix; ``*`` for a guard without a
prefix, which reaches every ML job on the cluster).
The cluster is the resolved one (:mod:`jobjanitor.clusters`), so guards given its cluster,
reader or instance endpoints share one item. On Create and Update a guard reads the others and
warns, in its answer's Reason and ``Data.Warning``, when its prefix is a prefix of another one
in use or another one is a prefix of its own. A teardown removes the guard's entry.

Items of earlier versions were keyed by the endpoint string a guard was given
(``jobjanitor#guard-prefixes#<endpoint>``): the one under the cluster's writer endpoint, where
most guards point, is read too, and a guard's own old entry is removed on its teardown.

This is advice, not a gate: the registry sees only guards served by this jobjanitor install,
and a failure to read or write it is logged and reported in ``Data.PrefixCheck``, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from jobjanitor.clusters import ClusterRegistry, NeptuneCluster
from jobjanitor.endpoints import safe_summary
from jobjanitor.kinds.base import error_text
from jobjanitor.model import ML_KINDS
from jobjanitor.policy import Policy
from jobjanitor.store.prefixes import PrefixStore
from jobjanitor.store.table import dynamodb_client

log = logging.getLogger("jobjanitor.guard")

__all__ = ["EVERY_ID", "GuardPrefixes", "PrefixRegistry", "overlaps"]

EVERY_ID = "*"  # a guard without JobIdPrefix: every Neptune ML job on the cluster
_SHOWN = 3


def overlaps(mine: str, others: Mapping[str, str]) -> list[str]:
    """The other guards (``owner: prefix``) whose prefix overlaps ``mine``: one is a prefix of
    the other (``*`` overlaps everything)."""
    found: list[str] = []
    for owner, theirs in sorted(others.items()):
        if EVERY_ID in (mine, theirs) or mine.startswith(theirs) or theirs.startswith(mine):
            found.append(f"{theirs!r} ({_stack_name(owner)})")
    return found


def _stack_name(owner: str) -> str:
    """``arn:…:stack/<name>/<uuid>|<logical id>`` -> ``<name>``."""
    stack = owner.split("|", 1)[0]
    parts = stack.split("/")
    return parts[1] if len(parts) >= 3 else stack


class PrefixRegistry:
    """The prefixes in use per cluster (the items: :class:`jobjanitor.store.prefixes.PrefixStore`)."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._store = PrefixStore(table_name, client)

    def others(self, cluster: NeptuneCluster, owner: str) -> dict[str, str]:
        found = self._store.entries(cluster.data_endpoint())  # an earlier version's item (see the module docstring)
        found.update(self._store.entries(cluster.resource_id))
        return {k: v for k, v in found.items() if k != owner}

    def record(self, cluster: NeptuneCluster, owner: str, prefix: str) -> None:
        self._store.record(cluster.resource_id, owner, prefix)

    def forget(self, name: str, owner: str) -> None:
        self._store.forget(name, owner)

    def check_and_record(self, cluster: NeptuneCluster, owner: str, prefix: str) -> tuple[str | None, str | None]:
        """(warning, problem): ``warning`` when ``prefix`` overlaps another guard's on the
        cluster; ``problem`` when the registry could not be read or written."""
        try:
            found = overlaps(prefix, self.others(cluster, owner))
            self.record(cluster, owner, prefix)
        except Exception as error:  # advice only: never fails a Create
            problem = safe_summary(error_text(error), 120)
            log.warning("could not check the prefixes of other guards", extra={"error": problem})
            return None, problem
        if not found:
            return None, None
        what = "every Neptune ML job on the cluster" if prefix == EVERY_ID else f"JobIdPrefix {prefix!r}"
        shown = ", ".join(found[:_SHOWN]) + (f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
        return (
            f"{what} overlaps other guards' prefixes on this cluster ({cluster.identifier}): {shown}; each guard "
            "would cancel the other's jobs. Use a prefix no other stack can share (the stack id's UUID part).",
            None,
        )

    def forget_quietly(self, cluster: NeptuneCluster | None, owner: str, given_endpoint: str) -> None:
        """Remove the guard's entry: under its cluster (when it can be resolved) and under the
        endpoint it was given (an earlier version's item)."""
        for name in ([cluster.resource_id] if cluster else []) + [given_endpoint]:
            try:
                self.forget(name, owner)
            except Exception as error:  # the entry is advice: a leftover only causes a warning later
                problem = safe_summary(error_text(error))
                log.warning("could not remove this guard's prefix entry", extra={"error": problem})


class GuardPrefixes:
    """A guard's use of the registry: built on first use, and only with the table. ``owner`` is
    the guard's stack and logical id (``<StackId>|<LogicalResourceId>``); ``clusters`` resolves
    its endpoint to its cluster (the item's key)."""

    def __init__(self, table_name: str | None, clusters: ClusterRegistry) -> None:
        self._table_name = table_name
        self._clusters = clusters
        self._registry: PrefixRegistry | None = None

    def _cluster(self, endpoint: str) -> NeptuneCluster | None:
        """The configured cluster of ``endpoint`` (resolved already: no AWS call), or None,
        quietly: the registry is advice, and the request's own checks report real problems."""
        try:
            return self._clusters.require(endpoint, field="NeptuneEndpoint")
        except Exception as error:  # advice only, see the docstring
            log.info("no configured cluster for the prefix registry", extra={"error": safe_summary(str(error))})
            return None

    def _get(self) -> PrefixRegistry | None:
        if self._table_name is None:
            return None
        if self._registry is None:
            self._registry = PrefixRegistry(self._table_name, dynamodb_client())
        return self._registry

    def check(self, policy: Policy, owner: str) -> tuple[dict[str, str], str]:
        """Record this guard's prefix; Data and a Reason for its answer: ``Warning`` (and the
        Reason) when the prefix overlaps another guard's, ``PrefixCheck`` when the check could
        not be made. Only a guard of Neptune ML jobs by prefix has one to check."""
        registry = self._get()
        if registry is None or not policy.neptune_endpoint or policy.job_ids or not policy.kinds & ML_KINDS:
            return {}, ""
        cluster = self._cluster(policy.neptune_endpoint)
        if cluster is None:
            return {}, ""
        prefix = policy.job_id_prefix or EVERY_ID
        warning, problem = registry.check_and_record(cluster, owner, prefix)
        data: dict[str, str] = {}
        if warning:
            log.warning("job-id prefix overlaps another guard's", extra={"warning": warning})
            data["Warning"] = warning[:400]
        if problem:
            data["PrefixCheck"] = f"unavailable: {problem}"
        return data, warning or ""

    def forget(self, policy: Policy, owner: str) -> None:
        registry = self._get()
        if registry is not None and policy.neptune_endpoint:
            registry.forget_quietly(self._cluster(policy.neptune_endpoint), owner, policy.neptune_endpoint)
