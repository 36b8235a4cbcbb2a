"""Neptune bulk-loader jobs (``/loader``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds.base import (
    Discovery,
    FanOut,
    capped_listing,
    decide_after_refusal,
    epoch_to_datetime,
    error_code,
    error_text,
    one_at_a_time,
)
from jobjanitor.model import CancelResult, JobKindName, JobRef, JobState, Outcome

if TYPE_CHECKING:
    from mypy_boto3_neptunedata import NeptuneDataClient

    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy

# ListLoaderJobs returns at most this many ids (the API's own maximum).
LIST_LIMIT = 100
OUTSTANDING = frozenset({"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"})
NOT_FOUND = "BulkLoadIdNotFoundException"


class NeptuneLoaderKind:
    name = JobKindName.NEPTUNE_LOADER
    caller_chosen_ids = False  # Neptune generates load ids
    runs_elsewhere = False

    def __init__(self, policy: Policy, clients: Clients) -> None:
        if clients.neptune is None or not policy.neptune_endpoint:
            raise ValueError("the neptune-loader kind needs a neptunedata client and an endpoint")
        self._client: NeptuneDataClient = clients.neptune
        self._target = policy.neptune_endpoint

    def discover(self, fan_out: FanOut = one_at_a_time) -> Discovery:
        ids = self._list(include_queued=True)
        if len(ids) >= LIST_LIMIT:
            # Queued loads come first and can fill the list: list the others on their own too
            # (newest first), so the running load is not hidden behind the queue.
            others = self._list(include_queued=False)
            # Complete when the non-queued list is not full and the first list is not all
            # queue: then the whole queue (at most 64 loads) is in it, since queued loads come first.
            complete = len(others) < LIST_LIMIT and any(i in others for i in ids)
            ids += [i for i in others if i not in ids]
        else:
            complete = True
        found = Discovery(refs=[JobRef(self.name, load_id, self._target) for load_id in ids])
        if not complete:
            found.capped.append(capped_listing(self.name, "ListLoaderJobs", LIST_LIMIT, "older loads"))
        return found

    def _list(self, *, include_queued: bool) -> list[str]:
        response = self._client.list_loader_jobs(limit=LIST_LIMIT, includeQueuedLoads=include_queued)
        payload: Any = response.get("payload") or {}
        return [str(i) for i in payload.get("loadIds") or []]

    def describe(self, ref: JobRef) -> JobState:
        try:
            response = self._client.get_loader_job_status(loadId=ref.job_id)
        except ClientError as error:
            if error_code(error) == NOT_FOUND:
                return JobState(ref, None, None, outstanding=False)
            raise
        payload: Any = response.get("payload") or {}
        overall = payload.get("overallStatus") or {}
        status = overall.get("status")
        status = str(status) if status else "UNKNOWN"
        started = epoch_to_datetime(overall.get("startTime"))
        return JobState(ref, status, started, outstanding=not self.is_finished(status))

    def cancel(self, ref: JobRef, clean: bool) -> CancelResult:
        try:
            self._client.cancel_loader_job(loadId=ref.job_id)
        except ClientError as error:
            if error_code(error) != NOT_FOUND:
                return CancelResult(Outcome.FAILED, error=error_text(error))
            # 404 means "does not exist or not active": a Get tells the two apart.
            return decide_after_refusal(self.describe, ref, error)
        except BotoCoreError as error:
            return CancelResult(Outcome.FAILED, error=error_text(error))
        return CancelResult(Outcome.CANCELLED)

    def is_finished(self, status: str) -> bool:
        return status not in OUTSTANDING

    def is_stopping(self, status: str) -> bool:
        return False  # a load has no "stopping" status: a cancel takes effect at once


def make(policy: Policy, clients: Clients) -> NeptuneLoaderKind:
    return NeptuneLoaderKind(policy, clients)
