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
2. **The first-seen ledger** (:class:`jobjanitor.store.first_seen.DynamoDBFirstSeen`), only for a job that names no
   SageMaker job yet (one still starting): the first time jobjanitor saw the job outstanding is
   recorded, and ``now - first_seen`` is a lower bound of its age. A ``min_age`` policy stays
   conservative with it: such a job is cancelled at the earliest ``min_age`` after the first
   sweep that saw it (later than its real age would allow, never earlier). The report says
   which jobs were dated so.

The scheduled sweeper keeps the ledger in its DynamoDB table (the Powertools idempotency
table: partition key ``id``, TTL on ``expiration``), under its own namespace of the one key
scheme (:mod:`jobjanitor.store.table`). A read-only
ledger (``jobjanitor list``) reads entries and never writes one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from jobjanitor.model import JobRef, UnderlyingJob


class FirstSeen(Protocol):
    def first_seen(self, ref: JobRef, now: datetime) -> datetime:
        """When ``ref`` was first seen outstanding (``now`` if this is the first time)."""
        ...


class Dating(Protocol):
    """Dates a job from the jobs doing its work (:attr:`JobState.underlying`); the
    implementation for Neptune ML is :class:`jobjanitor.sagemaker_dating.SageMakerDating`."""

    def started_at(self, underlying: tuple[UnderlyingJob, ...]) -> datetime | None:
        """The job's start, or None when none of ``underlying`` can date it (yet). Raises on a
        service error: the job cannot be dated this pass."""
        ...
