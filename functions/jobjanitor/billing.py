"""Does the bill stop? Neptune's Get answers what Neptune believes; the bill follows SageMaker.

After a wait sees a Neptune ML job terminal (or an inference endpoint gone), the SageMaker
resources its Get named (:attr:`jobjanitor.model.JobState.underlying`: ``processingJob``,
``hpoJob``, ``baseProcessingJob``, ``remoteModelTransformJob``, the ``endpoint``) are read, and
the job counts as stopped only when SageMaker agrees: a job Stopped, Failed or Completed, an
endpoint not found. One still running keeps the job outstanding: the wait reads it again, and
at the deadline it is reported still stopping, by its SageMaker name (``StillRunning``/
``StillStopping``). Reads only; nothing is stopped or deleted in SageMaker.

**In batches** (issue 24: at most 2.1 requests per cancelled job, these reads included). The
engine's wait hands over every job it has seen stopped since the last check at once
(:meth:`BillingCheck.verdicts`). For each SageMaker job type named three times or more, one
listing of that type (``List*Jobs``, no status filter, newest first, 100 a page) tells the
status of many names at once: paging stops as soon as every name is found, or once the pages
read are as many as the names still not found (describing those costs no more than paging on
might); a name the listing did not show is described. Types named once or twice, and
endpoints, are described (``Describe*``). The types' listings and the names described are
read at once (the engine's ``fan_out``). Why unfiltered: SageMaker documents that
``ListTrainingJobs`` with ``StatusEquals`` picks ``MaxResults`` jobs of any status first and
filters them after (moto does the same for processing, training and transform jobs), so a
filtered listing scans the same pages, twice (InProgress, then Stopping), and shows nothing of
a stopped name; the unfiltered one shows every name's status and can stop early.

What a listing is trusted for (docs/guard.md, "Does the bill stop?"): it is taken after the
Neptune Gets that named the jobs, and a SageMaker job's status only moves forward (InProgress,
Stopping, then Stopped/Failed/Completed). So a name listed terminal has stopped; a name listed
InProgress or Stopping from a stale list is only held one more round (conservative); a name
the listing does not show is never concluded on, but described (a list that lags creation
cannot make a running job look stopped).

A read that fails (no route to SageMaker, a permission missing, a listing refused) does not
hold anything: the job is taken as Neptune says, and its result says the bill could not be
verified (unless another of its resources is seen still running: that holds it). An endpoint's
config still there once the endpoint is gone (and the model it names) is reported by name, as
left behind: neither bills, and jobjanitor deletes nothing in SageMaker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.kinds.base import FanOut, error_code, error_text, one_at_a_time
from jobjanitor.model import UnderlyingJob
from jobjanitor.sagemaker_dating import SAGEMAKER_DESCRIBE, sagemaker_job

STOPPED = "billing stopped"
UNVERIFIED = "billing unverified"
# A SageMaker job in one of these has stopped using instances.
DONE = frozenset({"Stopped", "Failed", "Completed"})
# The status member of each Describe answer (and of each listing's summaries), by resource type.
STATUS_KEYS = {
    "processing-job": "ProcessingJobStatus",
    "hyper-parameter-tuning-job": "HyperParameterTuningJobStatus",
    "training-job": "TrainingJobStatus",
    "transform-job": "TransformJobStatus",
}
# Resource type -> its listing: method, summaries member, name member. Exactly these four calls
# are granted in template.yaml (sagemaker:List*Jobs; account-level, so on "*").
SAGEMAKER_LIST: dict[str, tuple[str, str, str]] = {
    "processing-job": ("list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobName"),
    "hyper-parameter-tuning-job": (
        "list_hyper_parameter_tuning_jobs",
        "HyperParameterTuningJobSummaries",
        "HyperParameterTuningJobName",
    ),
    "training-job": ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName"),
    "transform-job": ("list_transform_jobs", "TransformJobSummaries", "TransformJobName"),
}
LIST_FROM = 3  # names of one type from which a listing is tried (fewer: one Describe each)
PAGE = 100  # the most a List*Jobs page holds
MISSING = "Could not find"  # SageMaker's ValidationException for a name it does not know

Key = tuple[str, str]  # (resource type, name)


@dataclass(frozen=True, slots=True)
class Failed:
    """A read that failed: why."""

    text: str


class BillingCheck:
    """Reads the SageMaker side of jobs and endpoints (``client``: a SageMaker client). Each
    type's listing, and the names described, are read at once through ``fan_out`` (the engine's:
    at a check's end of a sweep, one after the other they were its last half second)."""

    def __init__(self, client: Any, fan_out: FanOut = one_at_a_time) -> None:
        self._sagemaker = client
        self._fan_out = fan_out

    def verdict(self, underlying: tuple[UnderlyingJob, ...]) -> tuple[bool, str]:
        """:meth:`verdicts` of one job."""
        return self.verdicts([underlying])[0]

    def verdicts(self, batch: Sequence[tuple[UnderlyingJob, ...]]) -> list[tuple[bool, str]]:
        """Per job, (stopped, note): ``stopped`` False while a SageMaker resource it names still
        runs; the note is :data:`STOPPED`, or names what still runs, or says the check could not
        be made. The jobs' SageMaker jobs are read together (module docstring)."""
        wanted: dict[str, set[str]] = {}
        for underlying in batch:
            for kind, name in filter(None, map(sagemaker_job, underlying)):
                wanted.setdefault(kind, set()).add(name)
        statuses: dict[Key, str | None] = {}
        failures: dict[Key, str] = {}
        for read, failed in self._fan_out([partial(self._statuses, k, names) for k, names in sorted(wanted.items())]):
            statuses.update(read)
            failures.update(failed)
        return [self._verdict(underlying, statuses, failures) for underlying in batch]

    def _verdict(
        self, underlying: tuple[UnderlyingJob, ...], statuses: dict[Key, str | None], failures: dict[Key, str]
    ) -> tuple[bool, str]:
        running: list[str] = []
        failed: list[str] = []
        for job in underlying:
            try:
                text = self._endpoint_running(job) if job.member == "endpoint" else None
            except (ClientError, BotoCoreError) as error:
                failed.append(error_text(error, 160))
                continue
            found = sagemaker_job(job)
            if found is not None and found in failures:
                failed.append(failures[found])
            elif found is not None and statuses.get(found) not in (None, *DONE):
                text = f"{job.member} {found[1]}: {statuses[found]}"
            if text:
                running.append(text)
        if running:
            return False, f"SageMaker still running: {'; '.join(running)}"
        try:
            left = [text for text in map(self._left_behind, underlying) if text] if not failed else []
        except (ClientError, BotoCoreError) as error:
            failed.append(error_text(error, 160))
        if failed:
            return True, f"{UNVERIFIED}: {failed[0]}"
        return True, STOPPED + (f"; left behind (not billed): {'; '.join(left)}" if left else "")

    def _statuses(self, kind: str, names: set[str]) -> tuple[dict[Key, str | None], dict[Key, str]]:
        """(statuses, failures) of the ``names`` of one resource type (a status None: SageMaker
        does not know the name): a listing first when there are enough of them, the names it
        did not show described."""
        statuses: dict[Key, str | None] = {}
        failures: dict[Key, str] = {}
        left = set(names)
        if len(names) >= LIST_FROM:
            try:
                for name, status in self._listed(kind, names).items():
                    statuses[(kind, name)] = status
                    left.discard(name)
            except (ClientError, BotoCoreError) as error:
                method = SAGEMAKER_LIST[kind][0]
                operation = self._sagemaker.meta.method_to_api_mapping.get(method, method)
                text = f"{operation}: {error_text(error, 160)}"
                return statuses, dict.fromkeys(((kind, name) for name in names), text)
        method, parameter = SAGEMAKER_DESCRIBE[kind]
        describe = getattr(self._sagemaker, method)
        ordered = sorted(left)
        for name, read in zip(
            ordered,
            self._fan_out([partial(self._described, describe, kind, parameter, n) for n in ordered]),
            strict=True,
        ):
            if isinstance(read, Failed):
                failures[(kind, name)] = read.text
            else:
                statuses[(kind, name)] = read
        return statuses, failures

    def _described(self, describe: Callable[..., Any], kind: str, parameter: str, name: str) -> str | Failed | None:
        """One name's status (None: not known to SageMaker), or why it could not be read."""
        try:
            return self._read(partial(describe, **{parameter: name}), STATUS_KEYS[kind])
        except (ClientError, BotoCoreError) as error:
            return Failed(error_text(error, 160))

    def _listed(self, kind: str, names: set[str]) -> dict[str, str]:
        """The statuses the listing of ``kind`` shows for ``names`` (newest first), read until
        every name is found, the listing ends, or the pages read are as many as the names
        still not found. A name not returned is for the caller to describe."""
        method, summaries, name_key = SAGEMAKER_LIST[kind]
        kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": PAGE}
        found: dict[str, str] = {}
        pages = 0
        while True:
            page = getattr(self._sagemaker, method)(**kwargs)
            pages += 1
            for summary in page.get(summaries) or []:
                name = summary.get(name_key)
                if name in names:
                    found[name] = str(summary.get(STATUS_KEYS[kind]) or "UNKNOWN")
            token = page.get("NextToken")
            if len(found) == len(names) or not token or pages >= len(names) - len(found):
                return found
            kwargs["NextToken"] = token

    def _left_behind(self, job: UnderlyingJob) -> str | None:
        """An endpoint config still there after its endpoint is gone (whether DeleteMLEndpoint
        removes it is not documented), with the model it names; None otherwise."""
        if job.member != "endpointConfig":
            return None
        try:
            config = self._sagemaker.describe_endpoint_config(EndpointConfigName=job.name)
        except ClientError as error:
            if error_code(error) == "ValidationException" and MISSING in str(error):
                return None
            raise
        models = sorted({str(v.get("ModelName")) for v in config.get("ProductionVariants") or [] if v.get("ModelName")})
        return f"endpoint config {job.name}" + (f" (model {', '.join(models)})" if models else "")

    def _endpoint_running(self, job: UnderlyingJob) -> str | None:
        """``endpoint name: status`` while the endpoint exists, else None."""
        status = self._read(lambda: self._sagemaker.describe_endpoint(EndpointName=job.name), "EndpointStatus")
        return None if status is None else f"endpoint {job.name}: {status}"

    def _read(self, describe: Callable[[], Any], key: str) -> str | None:
        """The resource's status (``describe``'s answer's ``key``); None when SageMaker does not
        know it."""
        try:
            answer = describe()
        except ClientError as error:
            if error_code(error) == "ValidationException" and MISSING in str(error):
                return None
            raise
        return str(answer.get(key) or "UNKNOWN")
