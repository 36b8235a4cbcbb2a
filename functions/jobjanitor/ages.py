"""How old is a job whose service does not say when it started?

Neptune ML's Get operations return no start time (the service model has none), so a
``min_age`` policy could not select a Neptune ML job: the most expensive ones. Two answers,
in this order:

1. **SageMaker's CreationTime** (:class:`Dating`, implemented in
   :mod:`jobjanitor.sagemaker_dating`). A Neptune ML Get names the
   SageMaker jobs doing the work (``processingJob``, ``hpoJob``, ``baseProcessingJob``,
   ``remoteModelTransformJob``: name and arn). The first of them (the earliest started) is
   described once (``DescribeProcessingJob``, ``DescribeHyperParameterTuningJob``,
   ``DescribeTrainingJob`` or ``DescribeTransformJob``, chosen by the arn's resource type) and
   its ``CreationTime`` is the job's start: its true age. One extra read per job, and only when
   an age filter needs it.
2. **The first-seen ledger** (:class:`DynamoDBFirstSeen`), only for a job that names no
   SageMaker job yet (one still starting): the first time jobjanitor saw the job outstanding is
   recorded, and ``now - first_seen`` is a lower bound of its age. A ``min_age`` policy stays
   conservative with it: such a job is cancelled at the earliest ``min_age`` after the first
   sweep that saw it (later than its real age would allow, never earlier). The report says
   which jobs were dated so.

The scheduled sweeper keeps the ledger in its DynamoDB table (the Powertools idempotency
table: partition key ``id``, TTL on ``expiration``), under its own key prefix. A read-only
ledger (``jobjanitor list``) reads entries and never writes one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config

from jobjanitor.model import JobRef, UnderlyingJob

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

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl: timedelta = DEFAULT_TTL,
        read_only: bool = False,
    ) -> None:
        self.table_name = table_name
        self._client: Any = client if client is not None else boto3.client("dynamodb", config=_RETRIES)
        self.ttl = ttl
        self.read_only = read_only  # look up sightings, never record one (jobjanitor list)

    def key(self, ref: JobRef) -> str:
        return f"{KEY_PREFIX}{ref.target}#{ref.kind.value}#{ref.parent or ''}#{ref.job_id}"

    def first_seen(self, ref: JobRef, now: datetime) -> datetime:
        if self.read_only:
            item = self._client.get_item(
                TableName=self.table_name, Key={"id": {"S": self.key(ref)}}, ConsistentRead=True
            ).get("Item")
            return datetime.fromtimestamp(int(item["first_seen"]["N"]), UTC) if item else now
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


class Dating(Protocol):
    """Dates a job from the jobs doing its work (:attr:`JobState.underlying`); the
    implementation for Neptune ML is :class:`jobjanitor.sagemaker_dating.SageMakerDating`."""

    def started_at(self, underlying: tuple[UnderlyingJob, ...]) -> datetime | None:
        """The job's start, or None when none of ``underlying`` can date it (yet). Raises on a
        service error: the job cannot be dated this pass."""
        ...
