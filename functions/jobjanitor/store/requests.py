"""The guard's own record of each Delete request, in the (KMS-encrypted) table.

One item per StackId + RequestId, keyed ``jobjanitor#guard-request#<hash>``
(:func:`jobjanitor.store.table.key`). It holds

- ``deadline``: the overall deadline (epoch seconds), written by the FIRST delivery of the
  request only (``if_not_exists``): a redelivery by CloudFormation or Lambda never restarts
  ``MaxWaitSeconds``;
- ``request``: the request as the polling ticks need it (ResponseURL, properties, the
  polling rule and permission, the Data carried between ticks: :mod:`jobjanitor.protocol.polling`).
  It stays here: the polling rule's Input holds only :func:`poll_input`, the item's key, so
  the presigned ResponseURL (a credential that answers for the guard) never reaches
  EventBridge, and the Input is a few dozen characters whatever the properties (EventBridge's
  limit is 8,192).

Earlier versions keyed the item ``jobjanitor-guard-request#<hash>`` (:data:`LEGACY_KEY_PREFIX`):
a polling rule made before an upgrade names such a key, and :meth:`RequestStore.load` reads it;
a request first delivered before the upgrade keeps that delivery's deadline
(:meth:`RequestStore.deadline` reads the old item when it starts a new one).

Records expire (DynamoDB TTL on ``expiration``) well after CloudFormation's one-hour limit.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from jobjanitor.store.table import Table, expires_at, key, namespace_prefix

NAMESPACE = "guard-request"
KEY_PREFIX = namespace_prefix(NAMESPACE)
LEGACY_KEY_PREFIX = "jobjanitor-guard-request#"  # read only: items of earlier versions
# The tick event EventBridge delivers: {POLL_KEY: "<item key>"}.
POLL_KEY = "JobJanitorPollRequest"
EXPIRES_AFTER_SECONDS = 6 * 3600


def request_hash(event: Mapping[str, Any]) -> str:
    """A stable digest of StackId + RequestId (what identifies a custom-resource request)."""
    return hashlib.sha256(f"{event.get('StackId')}|{event.get('RequestId')}".encode()).hexdigest()


def request_key(event: Mapping[str, Any]) -> str:
    return key(NAMESPACE, request_hash(event))


def hash_of(item_key: str) -> str | None:
    """The request hash in a request key (this version's or an earlier one's), else None."""
    for prefix in (KEY_PREFIX, LEGACY_KEY_PREFIX):
        if item_key.startswith(prefix):
            return item_key.removeprefix(prefix)
    return None


def poll_input(event: Mapping[str, Any]) -> str:
    """The polling rule's Input: the key of the stored request, nothing else."""
    return json.dumps({POLL_KEY: request_key(event)})


class RequestStore:
    """Reads and writes request records; every call raises botocore errors to the caller."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._table = Table(table_name, client)

    def deadline(self, event: Mapping[str, Any], max_wait_seconds: float) -> float:
        """The request's overall deadline: now + ``max_wait_seconds`` on its first delivery,
        the first delivery's deadline on every later one."""
        now = time.time()
        fresh = str(now + max_wait_seconds)
        attributes = self._table.update(
            request_key(event),
            "SET #deadline = if_not_exists(#deadline, :deadline), "
            "#first_seen = if_not_exists(#first_seen, :now), #expiration = :expiration",
            names={"#deadline": "deadline", "#first_seen": "first_seen", "#expiration": "expiration"},
            values={
                ":deadline": {"N": fresh},
                ":now": {"N": str(now)},
                ":expiration": {"N": str(expires_at(max_wait_seconds + EXPIRES_AFTER_SECONDS, now))},
            },
            returning=True,
        )
        deadline = float(attributes["deadline"]["N"])
        if deadline == float(fresh):  # started here: unless an earlier version's item started it before
            deadline = float(self._legacy_deadline(event) or deadline)
        return deadline

    def _legacy_deadline(self, event: Mapping[str, Any]) -> str | None:
        """The deadline an earlier version stored for ``event``, carried to this version's item."""
        old = self._table.get(LEGACY_KEY_PREFIX + request_hash(event))
        deadline = (old or {}).get("deadline", {}).get("N")
        if not isinstance(deadline, str):
            return None
        self._table.update(
            request_key(event),
            "SET #deadline = :deadline",
            names={"#deadline": "deadline"},
            values={":deadline": {"N": deadline}},
        )
        return deadline

    def save(self, event: Mapping[str, Any]) -> None:
        """Keep the request (with its polling fields) for the polling ticks."""
        self._table.update(
            request_key(event),
            "SET #request = :request, #expiration = :expiration",
            names={"#request": "request", "#expiration": "expiration"},
            values={
                ":request": {"S": json.dumps(dict(event))},
                ":expiration": {"N": str(expires_at(EXPIRES_AFTER_SECONDS))},
            },
        )

    def load(self, item_key: str) -> dict[str, Any] | None:
        """The stored request for a polling tick (under this version's key or an earlier
        one's), or None when there is none (expired, never saved)."""
        if hash_of(item_key) is None:
            return None
        item = self._table.get(item_key) or {}
        stored = item.get("request", {}).get("S")
        if not stored:
            return None
        request = json.loads(stored)
        return request if isinstance(request, dict) else None
