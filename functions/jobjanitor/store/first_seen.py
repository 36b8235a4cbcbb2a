"""The first-seen ledger (see :mod:`jobjanitor.ages`): when jobjanitor first saw a job outstanding.

One item per job, keyed ``jobjanitor#first-seen#<target>#<kind>#<parent>#<job id>``
(:func:`jobjanitor.store.table.key`), holding ``first_seen`` (epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from jobjanitor.model import JobRef
from jobjanitor.store.table import Table, dynamodb_client, key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NAMESPACE = "first-seen"
# Keep an entry well past any sensible max age; DynamoDB's TTL removes it after.
DEFAULT_TTL = timedelta(days=30)


def first_seen_key(ref: JobRef) -> str:
    return key(NAMESPACE, ref.target, ref.kind.value, ref.parent or "", ref.job_id)


class DynamoDBFirstSeen:
    """The ledger in the table (partition key ``id``, TTL attribute ``expiration``).

    One conditional ``UpdateItem`` per job: ``if_not_exists`` keeps the first sighting, and
    the TTL moves forward while the job is still seen.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl: timedelta = DEFAULT_TTL,
        read_only: bool = False,
    ) -> None:
        self.table_name = table_name
        # The table's client (profile TABLE: throttling ridden out within each call's budget).
        self._table = Table(table_name, client if client is not None else dynamodb_client())
        self.ttl = ttl
        self.read_only = read_only  # look up sightings, never record one (jobjanitor list)

    def key(self, ref: JobRef) -> str:
        return first_seen_key(ref)

    def first_seen(self, ref: JobRef, now: datetime) -> datetime:
        if self.read_only:
            item = self._table.get(self.key(ref))
            return datetime.fromtimestamp(int(item["first_seen"]["N"]), UTC) if item else now
        attributes = self._table.update(
            self.key(ref),
            "SET first_seen = if_not_exists(first_seen, :now), expiration = :expiration",
            values={
                ":now": {"N": str(int(now.timestamp()))},
                ":expiration": {"N": str(int((now + self.ttl).timestamp()))},
            },
            returning=True,
        )
        return datetime.fromtimestamp(int(attributes["first_seen"]["N"]), UTC)
