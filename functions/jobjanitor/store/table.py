"""The one table, its one key scheme and the low-level calls every writer shares.

The table (the Powertools idempotency table of the template) has partition key ``id`` and
DynamoDB TTL on ``expiration`` (epoch seconds). Every item jobjanitor writes itself is keyed
:func:`key`: ``jobjanitor#<namespace>#<part>#<part>…``, one namespace per writer
(:data:`NAMESPACES`). Powertools' idempotency records are keyed ``<function name>#<hash>`` by
Powertools: no function name starts with ``jobjanitor#``, so the two never collide.

Every call raises botocore errors to its caller: what a failure means is the writer's decision.
"""

from __future__ import annotations

import time
from typing import Any

ID = "id"  # the partition key
EXPIRATION = "expiration"  # the TTL attribute (epoch seconds)
ROOT = "jobjanitor"
SEPARATOR = "#"
# The namespaces in use, one per writer (store/requests.py, store/prefixes.py, store/first_seen.py).
NAMESPACES = frozenset({"guard-request", "guard-prefixes", "first-seen"})


def key(namespace: str, *parts: str) -> str:
    """The key of an item: ``jobjanitor#<namespace>#<parts joined by #>``."""
    if namespace not in NAMESPACES:
        raise ValueError(f"namespace: unknown table namespace {namespace!r}")
    return SEPARATOR.join((ROOT, namespace, *parts))


def namespace_prefix(namespace: str) -> str:
    """What every key of ``namespace`` starts with."""
    return key(namespace, "")


def expires_at(seconds_from_now: float, now: float | None = None) -> int:
    """The ``expiration`` value of an item to keep ``seconds_from_now``."""
    return int((time.time() if now is None else now) + seconds_from_now)


def dynamodb_client() -> Any:
    """A table client from the client factory (profile TABLE: each call within a few seconds,
    retries included, and before the current deadline)."""
    from jobjanitor.clients import TABLE, aws_client  # noqa: PLC0415 - lazy: cold start

    return aws_client("dynamodb", TABLE)


class Table:
    """The table's items by key: consistent reads, one ``UpdateItem`` per write."""

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    def get(self, item_key: str) -> dict[str, Any] | None:
        """The item (attribute values as DynamoDB returns them), or None."""
        response = self.client.get_item(TableName=self.name, Key={ID: {"S": item_key}}, ConsistentRead=True)
        item = response.get("Item")
        return item if isinstance(item, dict) else None

    def update(
        self,
        item_key: str,
        expression: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: str | None = None,
        returning: bool = False,
    ) -> dict[str, Any]:
        """``UpdateItem`` on the item; its attributes after the update when ``returning``."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": {ID: {"S": item_key}}, "UpdateExpression": expression}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if condition:
            kwargs["ConditionExpression"] = condition
        if returning:
            kwargs["ReturnValues"] = "ALL_NEW"
        attributes = self.client.update_item(**kwargs).get("Attributes", {})
        return dict(attributes)
