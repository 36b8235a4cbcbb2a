"""The janitor's vocabulary: job kinds, job references, states and per-job results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class JobKindName(StrEnum):
    NEPTUNE_LOADER = "neptune-loader"
    NEPTUNE_ML_DATAPROCESSING = "neptune-ml-dataprocessing"
    NEPTUNE_ML_TRAINING = "neptune-ml-training"
    NEPTUNE_ML_TRANSFORM = "neptune-ml-transform"
    GLUE_ML_TASK_RUN = "glue-ml-task-run"
    # Not a job: a Neptune ML inference endpoint (a SageMaker real-time endpoint, billed per
    # instance-hour until deleted). "Cancel" deletes it. Chosen only by name (OPT_IN_KINDS).
    NEPTUNE_ML_ENDPOINT = "neptune-ml-endpoint"

    @property
    def is_neptune(self) -> bool:
        return self.value.startswith("neptune-")


# Kinds no default selects and ``all`` does not include: deleting an inference endpoint is more
# destructive than stopping a job (its users lose the endpoint), so its owner names the kind.
OPT_IN_KINDS = frozenset({JobKindName.NEPTUNE_ML_ENDPOINT})

# The Neptune ML kinds: caller-chosen ids (a job-id prefix scopes them), work run by SageMaker.
ML_KINDS = frozenset(k for k in JobKindName if k.is_neptune and k is not JobKindName.NEPTUNE_LOADER)


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job. ``target`` is the Neptune endpoint or ``glue:<region>:<transformId>``;
    ``parent`` is the owning resource when the API needs it (the Glue transform id)."""

    kind: JobKindName
    job_id: str
    target: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class UnderlyingJob:
    """A job of another service doing the work, as a describe names it (Neptune ML's Get:
    ``processingJob`` -> a SageMaker processing job). It dates a job whose API gives no start
    time (see :mod:`jobjanitor.ages`)."""

    member: str  # where the describe named it, e.g. "hpoJob"
    name: str
    arn: str | None = None


@dataclass(frozen=True, slots=True)
class JobState:
    """What a describe call saw. ``status`` is None when the job does not exist (any more);
    ``started_at`` is None when the API does not say (Neptune ML) or the job is gone.
    ``underlying``: the jobs doing the work, earliest-started first (Neptune ML: SageMaker)."""

    ref: JobRef
    status: str | None
    started_at: datetime | None
    outstanding: bool
    underlying: tuple[UnderlyingJob, ...] = ()

    @property
    def exists(self) -> bool:
        return self.status is not None


class Outcome(StrEnum):
    CANCELLED = "cancelled"  # our cancel call was accepted
    ALREADY_FINISHED = "already_finished"  # terminal before we got to it (cancel said so, a Get confirmed)
    NOT_FOUND = "not_found"  # the service does not know the job (any more)
    FAILED = "failed"  # the cancel (or the describe it needed) failed after retries
    WOULD_CANCEL = "would_cancel"  # dry run: in scope and outstanding, left alone
    SKIPPED = "skipped"  # out of scope: see JobResult.skip_reason
    FINISHED = "finished"  # no cancel sent (watched, or already stopping): reached a terminal status as we waited
    STILL_RUNNING = "still_running"  # no cancel sent (watched, or already stopping): outstanding at the deadline


class SkipReason(StrEnum):
    PREFIX = "prefix"  # job id does not start with the policy's prefix
    NOT_LISTED = "not_listed"  # the policy names explicit ids and this is not one of them
    TOO_YOUNG = "too_young"  # started less than min_age ago
    AGE_UNKNOWN = "age_unknown"  # min_age set, but the API gives no start time: never matches
    FINISHED = "finished"  # already in a terminal status
    GONE = "gone"  # listed, but gone by the time we described it


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What a kind's cancel() concluded. ``status`` is the latest status seen (None: unknown
    or the job does not exist)."""

    outcome: Outcome
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    ref: JobRef
    outcome: Outcome
    status_before: str | None = None
    final_status: str | None = None
    started_at: datetime | None = None
    error: str | None = None
    skip_reason: SkipReason | None = None
    # True when final_status is still outstanding (running or stopping) at the last look (or
    # Neptune says stopped and SageMaker does not agree yet: see jobjanitor.billing).
    outstanding: bool = False
    # The SageMaker side after a wait: "billing stopped", what still runs, or unverified.
    billing: str | None = None
    # The resources doing the work, as the last describe named them (read by the billing check).
    underlying: tuple[UnderlyingJob, ...] = ()
