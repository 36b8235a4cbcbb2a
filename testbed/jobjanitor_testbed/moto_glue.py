"""Glue ML task runs (and filterable ML-transform listing) added to moto's own Glue service.

moto 5.2.5 stores ML transforms but raises NotImplementedError for the task-run operations.
:func:`install` adds them to moto's Glue classes in place (``moto.glue.models.GlueBackend``
for state and lifecycle, ``moto.glue.responses.GlueResponse`` for request parsing), so they
work under ``moto.mock_aws`` and in moto's server mode alike, as long as ``install()`` ran in
the process that serves the requests. It is idempotent.

Operations added or replaced
----------------------------
- ``StartMLEvaluationTaskRun`` (TransformId) -> TaskRunId (TaskType EVALUATION).
- ``StartMLLabelingSetGenerationTaskRun`` (TransformId, OutputS3Path),
  ``StartImportLabelsTaskRun`` (TransformId, InputS3Path, ReplaceAllLabels),
  ``StartExportLabelsTaskRun`` (TransformId, OutputS3Path) -> TaskRunId; the run's
  Properties carry its TaskType (LABELING_SET_GENERATION, IMPORT_LABELS, EXPORT_LABELS) and
  the matching ``*TaskRunProperties``. They run, list and cancel like evaluation runs.
- ``GetMLTaskRun`` (TransformId, TaskRunId) -> the run's fields at top level.
- ``GetMLTaskRuns`` (TransformId; NextToken; MaxResults 1-1000, default 100;
  Filter {TaskRunType, Status, StartedBefore, StartedAfter}; Sort {Column: TASK_RUN_TYPE |
  STATUS | STARTED, SortDirection}) -> TaskRuns, NextToken. **Default order: STARTED
  DESCENDING** (newest first; Glue does not document its default). Ties break on TaskRunId.
  StartedBefore/StartedAfter are exclusive bounds.
- ``CancelMLTaskRun`` (TransformId, TaskRunId) -> TransformId, TaskRunId, Status.
- ``ListMLTransforms`` (NextToken, MaxResults, Filter, Sort, Tags) -> TransformIds, NextToken.
- ``GetMLTransforms`` (NextToken, MaxResults, Filter, Sort) -> Transforms, NextToken
  (replaces moto's version, which ignores Filter and Sort).

Transform Filter supports Name, TransformType (moto's transforms carry it in
``Parameters.TransformType``), Status, GlueVersion, CreatedBefore/After,
LastModifiedBefore/After; Schema is accepted and ignored (moto does not store schemas).
``Filter.Name`` matching is set by :data:`NAME_FILTER_MATCH` (default ``"exact"``: Glue calls
it "a unique transform name"; whether it matches prefixes is not documented). ``Tags``: a
transform matches when it carries every given key with the given value. Default transform
order: CREATED ascending, ties on TransformId.

NextToken values are opaque keyset tokens (the sort key of the last item returned), so
runs started between pages neither repeat nor go missing. A token from a different sort or
a different transform, or a malformed one, gives InvalidInputException.

Lifecycle (lazy, from ``lifecycle.DEFAULT.clock``; no threads)
-------------------------------------------------------------
A started run is STARTING for ``starting_delay`` seconds, then RUNNING, then SUCCEEDED once
``job_duration`` seconds have passed since it started. ``job_duration`` and
``starting_delay`` are read when the run starts; ``stop_delay`` when it is cancelled. A
cancelled run is STOPPING for ``stop_delay`` seconds, then STOPPED. Cancelling a STOPPING
run returns STOPPING and changes nothing.

Cancelling a run that already finished (SUCCEEDED, STOPPED, FAILED, TIMEOUT): what Glue does
is not documented. :data:`CANCEL_FINISHED_BEHAVIOUR` picks: ``"return-status"`` (default)
answers with the run's current terminal Status and changes nothing; ``"error"`` raises
InvalidInputException.

Errors (json 1.1 ``__type`` via moto's exceptions): EntityNotFoundException for an unknown
transform or run; InvalidInputException for missing/overlong ids, MaxResults outside
1-1000, unknown enum values, bad timestamps, bad NextToken.

Test helpers
------------
:func:`seed_task_run` creates a run directly in the backend (any start time, optionally a
pinned status) without waiting. Runs live on moto's transform objects, so moto's reset
(end of ``mock_aws``, ``/moto-api/reset``) and DeleteMLTransform drop them.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from moto.core.responses import ActionResult
from moto.glue.exceptions import EntityNotFoundException, GlueClientError
from moto.glue.models import FakeMLTransform, GlueBackend, glue_backends
from moto.glue.responses import GlueResponse

from jobjanitor_testbed import lifecycle

__all__ = [
    "CANCEL_FINISHED_BEHAVIOUR",
    "NAME_FILTER_MATCH",
    "OUTSTANDING_STATUSES",
    "TERMINAL_STATUSES",
    "FakeMLTaskRun",
    "install",
    "installed",
    "seed_task_run",
    "task_runs_of",
]

# What CancelMLTaskRun does for a run that already finished: "return-status" | "error".
CANCEL_FINISHED_BEHAVIOUR: Literal["return-status", "error"] = "return-status"
# How Filter.Name matches transform names: "exact" | "prefix" | "contains".
NAME_FILTER_MATCH: Literal["exact", "prefix", "contains"] = "exact"

OUTSTANDING_STATUSES = frozenset({"STARTING", "RUNNING", "STOPPING"})
TERMINAL_STATUSES = frozenset({"STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT"})
ALL_STATUSES = OUTSTANDING_STATUSES | TERMINAL_STATUSES
TASK_RUN_TYPES = frozenset({"EVALUATION", "LABELING_SET_GENERATION", "IMPORT_LABELS", "EXPORT_LABELS", "FIND_MATCHES"})
TASK_RUN_SORT_COLUMNS = frozenset({"TASK_RUN_TYPE", "STATUS", "STARTED"})
TRANSFORM_SORT_COLUMNS = frozenset({"NAME", "TRANSFORM_TYPE", "STATUS", "CREATED", "LAST_MODIFIED"})
TRANSFORM_STATUSES = frozenset({"NOT_READY", "READY", "DELETING"})
SORT_DIRECTIONS = frozenset({"ASCENDING", "DESCENDING"})
LOG_GROUP_NAME = "/aws-glue/ml-transforms"
DEFAULT_MAX_RESULTS = 100

_LOCK = threading.RLock()


class InvalidInputException(GlueClientError):
    """Glue's InvalidInputException (moto's own class wants an unused operation argument)."""

    def __init__(self, msg: str) -> None:
        super().__init__("InvalidInputException", msg)


_INSTALLED = False


def _now() -> float:
    return lifecycle.DEFAULT.now()


def _ms(epoch: float) -> float:
    """Millisecond precision, as on the wire (so filters on returned times are exact)."""
    return int(epoch * 1000) / 1000


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class FakeMLTaskRun:
    """One ML task run. Its status is computed from the clock each time it is read."""

    def __init__(
        self,
        transform_id: str,
        *,
        started_on: float,
        task_type: str = "EVALUATION",
        task_run_id: str | None = None,
        duration: float | None = None,
        starting_delay: float | None = None,
        pinned_status: str | None = None,
        completed_on: float | None = None,
        error_string: str | None = None,
        properties: dict[str, Any] | None = None,
        stop_delay: float | None = None,
    ) -> None:
        settings = lifecycle.DEFAULT
        self.properties = dict(properties or {})  # the *TaskRunProperties next to TaskType
        self.transform_id = transform_id
        self.task_run_id = task_run_id or f"tsk-{uuid.uuid4().hex}"
        self.task_type = task_type
        self.started_on = _ms(started_on)
        self.duration = settings.job_duration if duration is None else duration
        self.starting_delay = settings.starting_delay if starting_delay is None else starting_delay
        # STARTING/RUNNING: stays so until cancelled; terminal: finished at completed_on.
        self.pinned_status = pinned_status
        self.pinned_completed_on = completed_on
        self.error_string = error_string
        self.cancelled_at: float | None = None
        self.stop_delay: float = settings.stop_delay if stop_delay is None else stop_delay
        self.own_stop_delay = stop_delay  # this run's, not the lifecycle's, when given

    # -- lifecycle ---------------------------------------------------------------------
    def state(self, now: float) -> tuple[str, float, float | None]:  # noqa: PLR0911 - one return per status
        """(status, last-modified epoch, completed epoch or None) as of ``now``."""
        if self.pinned_status in TERMINAL_STATUSES:
            done = self.pinned_completed_on if self.pinned_completed_on is not None else self.started_on
            return self.pinned_status, done, done
        if self.cancelled_at is not None:
            stopped_at = self.cancelled_at + self.stop_delay
            if now >= stopped_at:
                return "STOPPED", stopped_at, stopped_at
            return "STOPPING", self.cancelled_at, None
        if self.pinned_status is not None:
            return self.pinned_status, self.started_on, None
        finished_at = self.started_on + self.duration
        if now >= finished_at:
            return "SUCCEEDED", finished_at, finished_at
        running_at = self.started_on + self.starting_delay
        if now >= running_at:
            return "RUNNING", running_at, None
        return "STARTING", self.started_on, None

    def status(self, now: float | None = None) -> str:
        return self.state(_now() if now is None else now)[0]

    def cancel(self, now: float) -> str:
        """Request a stop; returns the Status CancelMLTaskRun answers with."""
        status = self.status(now)
        if status in ("STARTING", "RUNNING"):
            self.cancelled_at = _ms(now)
            self.stop_delay = lifecycle.DEFAULT.stop_delay if self.own_stop_delay is None else self.own_stop_delay
            return self.status(now)
        if status == "STOPPING":
            return status
        if CANCEL_FINISHED_BEHAVIOUR == "error":
            raise InvalidInputException(
                f"Task run {self.task_run_id} of transform {self.transform_id} "
                f"has already finished with status {status}"
            )
        return status

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        now = _now() if now is None else now
        status, modified, completed = self.state(now)
        out: dict[str, Any] = {
            "TransformId": self.transform_id,
            "TaskRunId": self.task_run_id,
            "Status": status,
            "LogGroupName": LOG_GROUP_NAME,
            "Properties": {"TaskType": self.task_type, **self.properties},
            "StartedOn": _dt(self.started_on),
            "LastModifiedOn": _dt(modified),
            "ExecutionTime": max(0, int((completed if completed is not None else now) - self.started_on)),
        }
        if completed is not None:
            out["CompletedOn"] = _dt(completed)
        if self.error_string is not None:
            out["ErrorString"] = self.error_string
        return out


# -- storage --------------------------------------------------------------------------------
def task_runs_of(transform: FakeMLTransform) -> OrderedDict[str, FakeMLTaskRun]:
    """The runs of one moto transform (kept on the transform object itself)."""
    runs: OrderedDict[str, FakeMLTaskRun] | None = transform.__dict__.get("ml_task_runs")
    if runs is None:
        runs = OrderedDict()
        transform.__dict__["ml_task_runs"] = runs
    return runs


def seed_task_run(
    transform_id: str,
    *,
    started_on: float | datetime | None = None,
    status: str | None = None,
    task_type: str = "EVALUATION",
    duration: float | None = None,
    completed_on: float | datetime | None = None,
    error_string: str | None = None,
    task_run_id: str | None = None,
    region: str = "us-east-1",
    account: str = "123456789012",
    stop_delay: float | None = None,
) -> str:
    """Create a task run directly in moto's Glue backend; returns its TaskRunId.

    ``status=None`` follows the normal lifecycle from ``started_on`` (default: now).
    ``"STARTING"``/``"RUNNING"`` pins the run there until it is cancelled (an old run that
    never finished). ``"STOPPING"`` marks it cancelled now. A terminal status fixes it, with
    CompletedOn ``completed_on`` (default: now). ``stop_delay``: how long this run is STOPPING
    once cancelled (default: the lifecycle's ``stop_delay`` when it is cancelled).
    """
    install()
    if status is not None and status not in ALL_STATUSES:
        raise ValueError(f"unknown task run status {status!r}")
    if task_type not in TASK_RUN_TYPES:
        raise ValueError(f"unknown task type {task_type!r}")
    backend: GlueBackend = glue_backends[account][region]
    now = _now()
    start = now if started_on is None else (_epoch(started_on) if isinstance(started_on, datetime) else started_on)
    done = completed_on if completed_on is None or not isinstance(completed_on, datetime) else _epoch(completed_on)
    with _LOCK:
        transform = backend.get_ml_transform(transform_id)
        run = FakeMLTaskRun(
            transform_id,
            started_on=start,
            task_type=task_type,
            task_run_id=task_run_id,
            duration=duration,
            pinned_status=None if status in (None, "STOPPING") else status,
            completed_on=(now if done is None else done) if status in TERMINAL_STATUSES else None,
            error_string=error_string
            if error_string is not None
            else ("seeded failure" if status == "FAILED" else None),
            stop_delay=stop_delay,
        )
        if status == "STOPPING":
            run.cancelled_at = _ms(now)
        task_runs_of(transform)[run.task_run_id] = run
    return run.task_run_id


def name_transform(transform_id: str, name: str, *, region: str = "us-east-1", account: str = "123456789012") -> str:
    """A FIND_MATCHES ML transform in moto's Glue backend under ``transform_id`` (Glue picks
    ids itself, so CreateMLTransform cannot choose one). Again with the same id: nothing new."""
    install()
    backend: GlueBackend = glue_backends[account][region]
    with _LOCK:
        if transform_id in backend.ml_transforms:
            return transform_id
        created = backend.create_ml_transform(
            name=name,
            input_record_tables=[{"DatabaseName": "db", "TableName": "people"}],
            parameters={"TransformType": "FIND_MATCHES", "FindMatchesParameters": {"PrimaryKeyColumnName": "id"}},
            role=f"arn:aws:iam::{account}:role/glue-ml",
            glue_version="2.0",
        )
        model = backend.ml_transforms.pop(created)
        model.transform_id = transform_id
        model.arn = model.arn.rsplit("/", 1)[0] + "/" + transform_id
        backend.ml_transforms[transform_id] = model
    return transform_id


# -- validation and paging helpers ----------------------------------------------------------
def _require_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise InvalidInputException(f"{name} is required and must be 1-255 characters long")
    return value


def _max_results(value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_RESULTS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidInputException(f"MaxResults must be between 1 and 1000, got {value!r}")
    return value


def _enum(value: Any, allowed: Iterable[str], name: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise InvalidInputException(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


def _timestamp(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputException(f"{name} is not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return _epoch(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InvalidInputException(f"{name} is not a timestamp: {value!r}")


def _struct(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputException(f"{name} must be an object")
    return value


def _sort_spec(sort: dict[str, Any], columns: Iterable[str], default: tuple[str, str]) -> tuple[str, str]:
    if not sort:
        return default
    column = _enum(sort.get("Column"), columns, "Sort.Column")
    direction = _enum(sort.get("SortDirection"), SORT_DIRECTIONS, "Sort.SortDirection")
    if column is None or direction is None:
        raise InvalidInputException("Sort needs both Column and SortDirection")
    return column, direction


def _page[T](
    items: Sequence[T],
    key: Callable[[T], tuple[Any, str]],
    *,
    scope: str,
    column: str,
    direction: str,
    next_token: Any,
    max_results: int,
) -> tuple[list[T], str | None]:
    """Keyset pagination: sort by ``key``, resume after the key encoded in the token."""
    descending = direction == "DESCENDING"
    keyed = sorted(((key(item), item) for item in items), key=lambda pair: pair[0], reverse=descending)
    if next_token is not None:
        try:
            token = json.loads(base64.urlsafe_b64decode(str(next_token).encode()).decode())
            if token["s"] != scope or token["c"] != column or token["d"] != direction:
                raise ValueError("token from a different listing")
            after = (token["k"][0], token["k"][1])
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as error:
            raise InvalidInputException(f"Invalid NextToken: {error}") from None
        try:
            keyed = [pair for pair in keyed if (pair[0] < after if descending else pair[0] > after)]
        except TypeError:
            raise InvalidInputException("Invalid NextToken") from None
    page = keyed[:max_results]
    if len(keyed) <= max_results:
        return [item for _, item in page], None
    last = page[-1][0]
    raw = json.dumps({"s": scope, "c": column, "d": direction, "k": list(last)})
    return [item for _, item in page], base64.urlsafe_b64encode(raw.encode()).decode()


# -- backend methods (installed on GlueBackend) ---------------------------------------------
def _start_ml_evaluation_task_run(self: GlueBackend, transform_id: str) -> str:
    return _start_task_run(self, transform_id, "EVALUATION")


def _start_task_run(
    self: GlueBackend, transform_id: str, task_type: str, properties: dict[str, Any] | None = None
) -> str:
    with _LOCK:
        transform = self.get_ml_transform(transform_id)
        run = FakeMLTaskRun(transform_id, started_on=_now(), task_type=task_type, properties=properties)
        task_runs_of(transform)[run.task_run_id] = run
        return run.task_run_id


def _find_run(self: GlueBackend, transform_id: str, task_run_id: str) -> FakeMLTaskRun:
    transform = self.get_ml_transform(transform_id)
    run = task_runs_of(transform).get(task_run_id)
    if run is None:
        raise EntityNotFoundException(f"Task run {task_run_id} not found for transform {transform_id}")
    return run


def _get_ml_task_run(self: GlueBackend, transform_id: str, task_run_id: str) -> dict[str, Any]:
    with _LOCK:
        return _find_run(self, transform_id, task_run_id).as_dict()


def _cancel_ml_task_run(self: GlueBackend, transform_id: str, task_run_id: str) -> dict[str, Any]:
    with _LOCK:
        run = _find_run(self, transform_id, task_run_id)
        status = run.cancel(_now())
        return {"TransformId": transform_id, "TaskRunId": task_run_id, "Status": status}


def _get_ml_task_runs(
    self: GlueBackend,
    transform_id: str,
    *,
    filter_: dict[str, Any] | None = None,
    sort: dict[str, Any] | None = None,
    next_token: str | None = None,
    max_results: int = DEFAULT_MAX_RESULTS,
) -> tuple[list[dict[str, Any]], str | None]:
    filter_ = filter_ or {}
    want_type = _enum(filter_.get("TaskRunType"), TASK_RUN_TYPES, "Filter.TaskRunType")
    want_status = _enum(filter_.get("Status"), ALL_STATUSES, "Filter.Status")
    before = _timestamp(filter_.get("StartedBefore"), "Filter.StartedBefore")
    after = _timestamp(filter_.get("StartedAfter"), "Filter.StartedAfter")
    column, direction = _sort_spec(sort or {}, TASK_RUN_SORT_COLUMNS, ("STARTED", "DESCENDING"))
    # Filter and sort on the runs' own fields; only the page's runs become dicts (20,000 runs
    # would otherwise be rebuilt for every page).
    with _LOCK:
        now = _now()
        transform = self.get_ml_transform(transform_id)
        rows = [(run, run.status(now)) for run in task_runs_of(transform).values()]
    if want_type is not None:
        rows = [(r, st) for r, st in rows if r.task_type == want_type]
    if want_status is not None:
        rows = [(r, st) for r, st in rows if st == want_status]
    if before is not None:
        rows = [(r, st) for r, st in rows if r.started_on < before]
    if after is not None:
        rows = [(r, st) for r, st in rows if r.started_on > after]

    def key(row: tuple[FakeMLTaskRun, str]) -> tuple[Any, str]:
        run, status = row
        if column == "STARTED":
            return run.started_on, run.task_run_id
        if column == "STATUS":
            return status, run.task_run_id
        return run.task_type, run.task_run_id

    page, token = _page(
        rows,
        key,
        scope=f"runs:{transform_id}",
        column=column,
        direction=direction,
        next_token=next_token,
        max_results=max_results,
    )
    return [run.as_dict(now) for run, _ in page], token


def _transform_type(transform: FakeMLTransform) -> str | None:
    value = (transform.parameters or {}).get("TransformType")
    return value if isinstance(value, str) else None


def _name_matches(name: str, wanted: str) -> bool:
    if NAME_FILTER_MATCH == "prefix":
        return name.startswith(wanted)
    if NAME_FILTER_MATCH == "contains":
        return wanted in name
    return name == wanted


def _filtered_transforms(
    self: GlueBackend,
    *,
    filter_: dict[str, Any] | None,
    sort: dict[str, Any] | None,
    tags: dict[str, str] | None,
    next_token: str | None,
    max_results: int,
    scope: str,
) -> tuple[list[FakeMLTransform], str | None]:
    filter_ = filter_ or {}
    name = filter_.get("Name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 255):
        raise InvalidInputException("Filter.Name must be 1-255 characters long")
    ttype = _enum(filter_.get("TransformType"), {"FIND_MATCHES"}, "Filter.TransformType")
    status = _enum(filter_.get("Status"), TRANSFORM_STATUSES, "Filter.Status")
    glue_version = filter_.get("GlueVersion")
    bounds = {
        field: _timestamp(filter_.get(field), f"Filter.{field}")
        for field in ("CreatedBefore", "CreatedAfter", "LastModifiedBefore", "LastModifiedAfter")
    }
    column, direction = _sort_spec(sort or {}, TRANSFORM_SORT_COLUMNS, ("CREATED", "ASCENDING"))
    if tags is not None and not isinstance(tags, dict):
        raise InvalidInputException("Tags must be a map")

    def keep(t: FakeMLTransform) -> bool:
        created, modified = _epoch(t.created_on), _epoch(t.last_modified_on)
        checks = [
            name is None or _name_matches(t.name, name),
            ttype is None or _transform_type(t) == ttype,
            status is None or t.status == status,
            glue_version is None or t.glue_version == glue_version,
            bounds["CreatedBefore"] is None or created < bounds["CreatedBefore"],
            bounds["CreatedAfter"] is None or created > bounds["CreatedAfter"],
            bounds["LastModifiedBefore"] is None or modified < bounds["LastModifiedBefore"],
            bounds["LastModifiedAfter"] is None or modified > bounds["LastModifiedAfter"],
        ]
        if tags:
            have = self.get_tags(t.arn)
            checks.append(all(have.get(k) == v for k, v in tags.items()))
        return all(checks)

    def key(t: FakeMLTransform) -> tuple[Any, str]:
        primary: Any
        if column == "NAME":
            primary = t.name
        elif column == "TRANSFORM_TYPE":
            primary = _transform_type(t) or ""
        elif column == "STATUS":
            primary = t.status
        elif column == "CREATED":
            primary = _epoch(t.created_on)
        else:
            primary = _epoch(t.last_modified_on)
        return primary, t.transform_id

    with _LOCK:
        candidates = [t for t in self.ml_transforms.values() if keep(t)]
    return _page(
        candidates,
        key,
        scope=scope,
        column=column,
        direction=direction,
        next_token=next_token,
        max_results=max_results,
    )


def _list_ml_transforms(
    self: GlueBackend,
    *,
    filter_: dict[str, Any] | None = None,
    sort: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    next_token: str | None = None,
    max_results: int = DEFAULT_MAX_RESULTS,
) -> tuple[list[str], str | None]:
    found, token = _filtered_transforms(
        self,
        filter_=filter_,
        sort=sort,
        tags=tags,
        next_token=next_token,
        max_results=max_results,
        scope="transforms",
    )
    return [t.transform_id for t in found], token


def _get_ml_transforms(
    self: GlueBackend,
    *,
    filter_: dict[str, Any] | None = None,
    sort: dict[str, Any] | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[FakeMLTransform], str | None]:
    return _filtered_transforms(
        self,
        filter_=filter_,
        sort=sort,
        tags=None,
        next_token=next_token,
        max_results=DEFAULT_MAX_RESULTS if max_results is None else max_results,
        scope="transforms",
    )


# -- response methods (installed on GlueResponse) -------------------------------------------
def _params(self: GlueResponse) -> dict[str, Any]:
    try:
        body = json.loads(self.body or "{}")
    except ValueError:
        raise InvalidInputException("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInputException("Request body must be a JSON object")
    return body


def _r_start_ml_evaluation_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    return ActionResult({"TaskRunId": self.glue_backend.start_ml_evaluation_task_run(transform_id)})  # type: ignore[attr-defined]


def _require_s3_path(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputException(f"{name} is required")
    return value


def _r_start_ml_labeling_set_generation_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    output = _require_s3_path(params.get("OutputS3Path"), "OutputS3Path")
    run_id = self.glue_backend.start_task_run(  # type: ignore[attr-defined]
        transform_id, "LABELING_SET_GENERATION", {"LabelingSetGenerationTaskRunProperties": {"OutputS3Path": output}}
    )
    return ActionResult({"TaskRunId": run_id})


def _r_start_import_labels_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    source = _require_s3_path(params.get("InputS3Path"), "InputS3Path")
    replace = params.get("ReplaceAllLabels", False)
    if not isinstance(replace, bool):
        raise InvalidInputException("ReplaceAllLabels must be a boolean")
    run_id = self.glue_backend.start_task_run(  # type: ignore[attr-defined]
        transform_id, "IMPORT_LABELS", {"ImportLabelsTaskRunProperties": {"InputS3Path": source, "Replace": replace}}
    )
    return ActionResult({"TaskRunId": run_id})


def _r_start_export_labels_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    output = _require_s3_path(params.get("OutputS3Path"), "OutputS3Path")
    run_id = self.glue_backend.start_task_run(  # type: ignore[attr-defined]
        transform_id, "EXPORT_LABELS", {"ExportLabelsTaskRunProperties": {"OutputS3Path": output}}
    )
    return ActionResult({"TaskRunId": run_id})


def _r_get_ml_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    task_run_id = _require_id(params.get("TaskRunId"), "TaskRunId")
    return ActionResult(self.glue_backend.get_ml_task_run(transform_id, task_run_id))  # type: ignore[attr-defined]


def _r_cancel_ml_task_run(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    task_run_id = _require_id(params.get("TaskRunId"), "TaskRunId")
    return ActionResult(self.glue_backend.cancel_ml_task_run(transform_id, task_run_id))  # type: ignore[attr-defined]


def _r_get_ml_task_runs(self: GlueResponse) -> ActionResult:
    params = _params(self)
    transform_id = _require_id(params.get("TransformId"), "TransformId")
    runs, token = self.glue_backend.get_ml_task_runs(  # type: ignore[attr-defined]
        transform_id,
        filter_=_struct(params.get("Filter"), "Filter"),
        sort=_struct(params.get("Sort"), "Sort"),
        next_token=params.get("NextToken"),
        max_results=_max_results(params.get("MaxResults")),
    )
    result: dict[str, Any] = {"TaskRuns": runs}
    if token is not None:
        result["NextToken"] = token
    return ActionResult(result)


def _r_list_ml_transforms(self: GlueResponse) -> ActionResult:
    params = _params(self)
    ids, token = self.glue_backend.list_ml_transforms(  # type: ignore[attr-defined]
        filter_=_struct(params.get("Filter"), "Filter"),
        sort=_struct(params.get("Sort"), "Sort"),
        tags=params.get("Tags"),
        next_token=params.get("NextToken"),
        max_results=_max_results(params.get("MaxResults")),
    )
    result: dict[str, Any] = {"TransformIds": ids}
    if token is not None:
        result["NextToken"] = token
    return ActionResult(result)


def _r_get_ml_transforms(self: GlueResponse) -> ActionResult:
    params = _params(self)
    found, token = self.glue_backend.get_ml_transforms_filtered(  # type: ignore[attr-defined]
        filter_=_struct(params.get("Filter"), "Filter"),
        sort=_struct(params.get("Sort"), "Sort"),
        next_token=params.get("NextToken"),
        max_results=_max_results(params.get("MaxResults")),
    )
    result: dict[str, Any] = {"Transforms": [t.as_dict() for t in found]}
    if token is not None:
        result["NextToken"] = token
    return ActionResult(result)


# -- the fast path (see fast_answer) ---------------------------------------------------------
class _Shim:
    """What the response methods above read from moto's GlueResponse: the body and the backend."""

    def __init__(self, body: str, backend: GlueBackend) -> None:
        self.body = body
        self.glue_backend = backend


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # json 1.1 timestamps: epoch seconds
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def fast_answer(operation: str, body: bytes, account: str, region: str) -> tuple[int, bytes] | None:
    """Answer a task-run operation without moto's dispatcher: (HTTP status, JSON body), or None
    for an operation this module does not serve this way.

    moto's per-request path (backend lookup, Flask, its model-driven serializer) costs several
    times the client's own CPU per request; at 20,000 jobs the test bed would measure itself.
    The same response methods and backend state answer here, serialized with ``json``.
    """
    method = FAST_OPERATIONS.get(operation)
    if method is None:
        return None
    install()
    try:
        result = method(_Shim(body.decode() if body else "{}", glue_backends[account][region])).result
        return 200, json.dumps(result, default=_json_default).encode()
    except GlueClientError as error:
        payload = {"__type": error.error_type, "Message": error.message}
        return error.code, json.dumps(payload).encode()


_BACKEND_METHODS: dict[str, Callable[..., Any]] = {
    "start_ml_evaluation_task_run": _start_ml_evaluation_task_run,
    "start_task_run": _start_task_run,
    "get_ml_task_run": _get_ml_task_run,
    "get_ml_task_runs": _get_ml_task_runs,
    "cancel_ml_task_run": _cancel_ml_task_run,
    "list_ml_transforms": _list_ml_transforms,
    # moto's own get_ml_transforms (paginated, unfiltered) stays as it is on the backend;
    # the response below uses the filtering variant instead.
    "get_ml_transforms_filtered": _get_ml_transforms,
}
_RESPONSE_METHODS: dict[str, Callable[..., Any]] = {
    "start_ml_evaluation_task_run": _r_start_ml_evaluation_task_run,
    "start_ml_labeling_set_generation_task_run": _r_start_ml_labeling_set_generation_task_run,
    "start_import_labels_task_run": _r_start_import_labels_task_run,
    "start_export_labels_task_run": _r_start_export_labels_task_run,
    "get_ml_task_run": _r_get_ml_task_run,
    "get_ml_task_runs": _r_get_ml_task_runs,
    "cancel_ml_task_run": _r_cancel_ml_task_run,
    "list_ml_transforms": _r_list_ml_transforms,
    "get_ml_transforms": _r_get_ml_transforms,
}


FAST_OPERATIONS: dict[str, Callable[[Any], ActionResult]] = {
    "StartMLEvaluationTaskRun": _r_start_ml_evaluation_task_run,
    "StartMLLabelingSetGenerationTaskRun": _r_start_ml_labeling_set_generation_task_run,
    "StartImportLabelsTaskRun": _r_start_import_labels_task_run,
    "StartExportLabelsTaskRun": _r_start_export_labels_task_run,
    "GetMLTaskRun": _r_get_ml_task_run,
    "GetMLTaskRuns": _r_get_ml_task_runs,
    "CancelMLTaskRun": _r_cancel_ml_task_run,
}


def install() -> None:
    """Add the ML task-run operations to moto's Glue classes (idempotent, process-wide)."""
    global _INSTALLED  # noqa: PLW0603 - one-shot patch of process-global moto classes
    if _INSTALLED:  # set last, once every class is extended: no lock on each fast answer
        return
    with _LOCK:
        if _INSTALLED:
            return
        for name, func in _BACKEND_METHODS.items():
            setattr(GlueBackend, name, func)
        for name, func in _RESPONSE_METHODS.items():
            setattr(GlueResponse, name, func)
        _INSTALLED = True


def installed() -> bool:
    return _INSTALLED
