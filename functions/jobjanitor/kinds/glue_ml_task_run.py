"""Glue ML task runs (GetMLTaskRuns / GetMLTaskRun / CancelMLTaskRun) of chosen ML transforms.

Transforms: the ids the policy names, plus those ListMLTransforms/GetMLTransforms find by
name prefix and/or tags (both given: a transform must match both). ``Filter.Name`` is not
used for the prefix: Glue documents it as a unique name, not a prefix, so names are matched
client-side from GetMLTransforms pages.

Task runs: GetMLTaskRuns has no paginator, so we loop on NextToken. We ask once per
outstanding status (``Filter.Status`` STARTING, RUNNING, STOPPING): a transform's history of
finished runs can be long, and the filtered calls never page through it. Finished runs are
therefore not discovered (nothing to do for them). A run moves forward only (STARTING, RUNNING,
STOPPING, then a finished status) and may move between two calls: so one transform's statuses
are asked one after the other, in that order, each answered before the next is asked. A run
that moved on between two calls is then seen by the later one (or has finished); asked at once
or in another order, a run STARTING when RUNNING was asked and RUNNING when STARTING was asked
(a throttled call retried) was in neither answer. A run seen twice is listed once. Transforms
are listed at once (the engine's ``fan_out``). A transform whose runs in one status fill
MAX_PAGES pages is reported capped.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds.base import (
    Discovery,
    FanOut,
    aware,
    decide_after_refusal,
    error_code,
    error_text,
    one_at_a_time,
)
from jobjanitor.model import CancelResult, JobKindName, JobRef, JobState, Outcome

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy

OUTSTANDING = ("STARTING", "RUNNING", "STOPPING")
STOPPING = frozenset({"STOPPING"})
PAGE_SIZE = 1000
NOT_FOUND = "EntityNotFoundException"
INVALID_INPUT = "InvalidInputException"
# Guard against a service that keeps returning tokens.
MAX_PAGES = 1000


class GlueMLTaskRunKind:
    name = JobKindName.GLUE_ML_TASK_RUN
    caller_chosen_ids = False  # Glue generates task-run ids; runs are scoped by transform
    runs_elsewhere = False

    def __init__(self, policy: Policy, clients: Clients) -> None:
        if clients.glue is None:
            raise ValueError("the glue-ml-task-run kind needs a glue client")
        self._client: GlueClient = clients.glue
        self._region = clients.glue_region or clients.glue.meta.region_name
        self._policy = policy

    def target(self, transform_id: str) -> str:
        return f"glue:{self._region}:{transform_id}"

    def transform_ids(self, warnings: list[str]) -> list[str]:
        policy = self._policy
        ids = list(policy.glue_transform_ids)
        if policy.glue_transform_name_prefix or policy.glue_transform_tags:
            matched: set[str] | None = None
            if policy.glue_transform_tags:
                matched = set(self._list_by_tags(dict(policy.glue_transform_tags)))
            if policy.glue_transform_name_prefix:
                by_name = set(self._ids_by_name_prefix(policy.glue_transform_name_prefix))
                matched = by_name if matched is None else matched & by_name
            found = sorted(matched or ())
            if not found:
                warnings.append(f"{self.name}: no ML transform matches the name prefix/tags given")
            ids.extend(i for i in found if i not in ids)
        return ids

    def _list_by_tags(self, tags: dict[str, str]) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {"Tags": tags, "MaxResults": 100}
        for _ in range(MAX_PAGES):
            response = self._client.list_ml_transforms(**kwargs)
            ids.extend(response.get("TransformIds") or [])
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return ids

    def _ids_by_name_prefix(self, prefix: str) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 100}
        for _ in range(MAX_PAGES):
            response = self._client.get_ml_transforms(**kwargs)
            ids.extend(
                t["TransformId"]
                for t in response.get("Transforms") or []
                if t.get("TransformId") and str(t.get("Name") or "").startswith(prefix)
            )
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return ids

    def discover(self, fan_out: FanOut = one_at_a_time) -> Discovery:
        found = Discovery()
        transforms = self.transform_ids(found.warnings)
        listed = fan_out([partial(self._outstanding_runs, t, found.capped) for t in transforms])
        seen: set[tuple[str, str]] = set()
        missing: list[str] = []
        for transform_id, runs in zip(transforms, listed, strict=True):
            if runs is None:
                missing.append(transform_id)
                continue
            for run in runs:
                run_id = run.get("TaskRunId")
                if run_id and (transform_id, run_id) not in seen:
                    seen.add((transform_id, run_id))
                    ref = JobRef(self.name, run_id, self.target(transform_id), transform_id)
                    found.refs.append(ref)
                    found.states[ref] = self._state(ref, run)
        found.warnings.extend(f"{self.name}: ML transform {t} not found" for t in missing)
        return found

    def _outstanding_runs(self, transform_id: str, capped: list[str]) -> list[Any] | None:
        """Every outstanding run of one transform, its statuses asked in the order a run moves
        through them (module docstring); None: no such transform."""
        runs: list[Any] = []
        try:
            for status in OUTSTANDING:
                runs.extend(self._runs(transform_id, status, capped))
        except ClientError as error:
            if error_code(error) != NOT_FOUND:
                raise
            return None
        return runs

    def _runs(self, transform_id: str, status: str, capped: list[str]) -> list[Any]:
        """Every run of one transform in one status."""
        runs: list[Any] = []
        kwargs: dict[str, Any] = {"TransformId": transform_id, "MaxResults": PAGE_SIZE, "Filter": {"Status": status}}
        for _ in range(MAX_PAGES):
            response = self._client.get_ml_task_runs(**kwargs)
            runs.extend(response.get("TaskRuns") or [])
            token = response.get("NextToken")
            if not token:
                return runs
            kwargs["NextToken"] = token
        capped.append(f"{self.name}: GetMLTaskRuns of {transform_id} ({status}) stopped at {MAX_PAGES} pages")
        return runs

    def describe(self, ref: JobRef) -> JobState:
        try:
            run = self._client.get_ml_task_run(TransformId=ref.parent or "", TaskRunId=ref.job_id)
        except ClientError as error:
            if error_code(error) == NOT_FOUND:
                return JobState(ref, None, None, outstanding=False)
            raise
        return self._state(ref, run)

    def _state(self, ref: JobRef, run: Any) -> JobState:
        status = str(run.get("Status") or "UNKNOWN")
        return JobState(ref, status, aware(run.get("StartedOn")), outstanding=not self.is_finished(status))

    def cancel(self, ref: JobRef, clean: bool) -> CancelResult:
        try:
            response = self._client.cancel_ml_task_run(TransformId=ref.parent or "", TaskRunId=ref.job_id)
        except ClientError as error:
            code = error_code(error)
            if code == NOT_FOUND:
                return CancelResult(Outcome.NOT_FOUND)
            if code != INVALID_INPUT:
                return CancelResult(Outcome.FAILED, error=error_text(error))
            # What Glue answers to a cancel of a finished run is not documented: if it is an
            # InvalidInput, a Get tells "already finished" from a real input problem.
            return decide_after_refusal(self.describe, ref, error, self.is_stopping)
        except BotoCoreError as error:
            return CancelResult(Outcome.FAILED, error=error_text(error))
        status = response.get("Status")
        if status and self.is_finished(status):
            # The cancel changed nothing: the run had finished before it arrived.
            return CancelResult(Outcome.ALREADY_FINISHED, status=status)
        return CancelResult(Outcome.CANCELLED, status=status or None)

    def is_finished(self, status: str) -> bool:
        return status not in OUTSTANDING

    def is_stopping(self, status: str) -> bool:
        return status in STOPPING


def make(policy: Policy, clients: Clients) -> GlueMLTaskRunKind:
    return GlueMLTaskRunKind(policy, clients)
