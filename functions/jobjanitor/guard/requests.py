"""The guard's own record of each Delete request, in the (KMS-encrypted) idempotency table.

One item per StackId + RequestId, keyed ``jobjanitor-guard-request#<hash>`` (Powertools'
idempotency records, in the same table, are keyed by function name: no collision). It holds

- ``deadline``: the overall deadline (epoch seconds), written by the FIRST delivery of the
  request only (``if_not_exists``): a redelivery by CloudFormation or Lambda never restarts
  ``MaxWaitSeconds``;
- ``request``: the request as the polling ticks need it (ResponseURL, properties, the
  polling rule and permission, the Data carried between ticks: :mod:`jobjanitor.protocol.polling`).
  It stays here: the polling rule's Input holds only :func:`poll_input`, the item's key, so
  the presigned ResponseURL (a credential that answers for the guard) never reaches
  EventBridge, and the Input is a few dozen characters whatever the properties (EventBridge's
  limit is 8,192).

Records expire (DynamoDB TTL on ``expiration``) well after CloudFormation's one-hour limit.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

KEY_PREFIX = "jobjanitor-guard-request#"
# The tick event EventBridge delivers: {POLL_KEY: "<item key>"}.
POLL_KEY = "JobJanitorPollRequest"
EXPIRES_AFTER_SECONDS = 6 * 3600


def request_hash(event: Mapping[str, Any]) -> str:
    """A stable digest of StackId + RequestId (what identifies a custom-resource request)."""
    return hashlib.sha256(f"{event.get('StackId')}|{event.get('RequestId')}".encode()).hexdigest()


def request_key(event: Mapping[str, Any]) -> str:
    return KEY_PREFIX + request_hash(event)


def poll_input(event: Mapping[str, Any]) -> str:
    """The polling rule's Input: the key of the stored request, nothing else."""
    return json.dumps({POLL_KEY: request_key(event)})


class RequestStore:
    """Reads and writes request records; every call raises botocore errors to the caller."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def deadline(self, event: Mapping[str, Any], max_wait_seconds: float) -> float:
        """The request's overall deadline: now + ``max_wait_seconds`` on its first delivery,
        the first delivery's deadline on every later one."""
        now = time.time()
        response = self._client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": request_key(event)}},
            UpdateExpression=(
                "SET #deadline = if_not_exists(#deadline, :deadline), "
                "#first_seen = if_not_exists(#first_seen, :now), #expiration = :expiration"
            ),
            ExpressionAttributeNames={
                "#deadline": "deadline",
                "#first_seen": "first_seen",
                "#expiration": "expiration",
            },
            ExpressionAttributeValues={
                ":deadline": {"N": str(now + max_wait_seconds)},
                ":now": {"N": str(now)},
                ":expiration": {"N": str(int(now + max_wait_seconds + EXPIRES_AFTER_SECONDS))},
            },
            ReturnValues="ALL_NEW",
        )
        return float(response["Attributes"]["deadline"]["N"])

    def save(self, event: Mapping[str, Any]) -> None:
        """Keep the request (with its polling fields) for the polling ticks."""
        self._client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": request_key(event)}},
            UpdateExpression="SET #request = :request, #expiration = :expiration",
            ExpressionAttributeNames={"#request": "request", "#expiration": "expiration"},
            ExpressionAttributeValues={
                ":request": {"S": json.dumps(dict(event))},
                ":expiration": {"N": str(int(time.time() + EXPIRES_AFTER_SECONDS))},
            },
        )

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored request for a polling tick, or None when there is none (expired, never saved)."""
        if not key.startswith(KEY_PREFIX):
            return None
        item = self._client.get_item(TableName=self.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
        stored = item.get("Item", {}).get("request", {}).get("S")
        if not stored:
            return None
        request = json.loads(stored)
        return request if isinstance(request, dict) else None
