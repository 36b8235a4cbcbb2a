"""How old is a job whose service does not say when it started?

Neptune ML's Get operations return no start time (the service model has none), so a
``min_age`` policy could never select a Neptune ML job: the most expensive ones. The answer
here is a first-seen ledger: the first time jobjanitor saw a job outstanding is recorded,
and ``now - first_seen`` is a lower bound of the job's age. A ``min_age`` policy stays
conservative with it: a job is cancelled at the earliest ``min_age`` after the first sweep
that saw it (later than its real age would allow, never earlier).

The scheduled sweeper keeps the ledger in its DynamoDB table (the Powertools idempotency
table: partition key ``id``, TTL on ``expiration``), under its own key prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config

from jobjanitor.model import JobRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "jobjanitor#first-seen#"
# The ledger is written on every sweep: ride out throttling like the service clients do.
_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 8})
# Keep an entry well past any sensible max age; DynamoDB's TTL removes it after.
DEFAULT_TTL = timedelta(days=30)


class FirstSeen(Protocol):
    def first_seen(self, ref: JobRef, now: datetime) -> datetime:
        """When ``ref`` was first seen outstanding (``now`` if this is the first time)."""
        ...


class DynamoDBFirstSeen:
    """The ledger in a DynamoDB table with partition key ``id`` and TTL attribute ``expiration``.

    One conditional ``UpdateItem`` per job: ``if_not_exists`` keeps the first sighting, and
    the TTL moves forward while the job is still seen.
    """

    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None, ttl: timedelta = DEFAULT_TTL) -> None:
        self.table_name = table_name
        self._client: Any = client if client is not None else boto3.client("dynamodb", config=_RETRIES)
        self.ttl = ttl

    def key(self, ref: JobRef) -> str:
        return f"{KEY_PREFIX}{ref.target}#{ref.kind.value}#{ref.parent or ''}#{ref.job_id}"

    def first_seen(self, ref: JobRef, now: datetime) -> datetime:
        response = self._client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": self.key(ref)}},
            UpdateExpression="SET first_seen = if_not_exists(first_seen, :now), expiration = :expiration",
            ExpressionAttributeValues={
                ":now": {"N": str(int(now.timestamp()))},
                ":expiration": {"N": str(int((now + self.ttl).timestamp()))},
            },
            ReturnValues="ALL_NEW",
        )
        return datetime.fromtimestamp(int(response["Attributes"]["first_seen"]["N"]), UTC)
