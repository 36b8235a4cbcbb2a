"""The test bed's own control API, for callers in another process.

A handler run in another process (a script, ``make invoke`` against a running test bed, a
user's own harness) cannot reach into the test bed's moto backends. These endpoints, on the
Neptune URL beside ``/testbed/clock``, set up what such a handler needs. Each takes a JSON
object and answers one (400 ``BadRequestException`` naming the field on a bad value); none is
faulted or logged, and each is idempotent (the same request again answers the same).
``GET /testbed/`` lists them.

- ``POST /testbed/clusters`` ``{"name": "graph"}``: a stand-in Neptune cluster (moto's
  management API) whose cluster endpoint is the emulator; ``jobjanitor-testbed --cluster NAME``
  does the same at start. Answers ``{"name", "resourceId", "endpoint"}``.
- ``POST /testbed/stacks`` ``{"stackId": "arn:aws:cloudformation:...:stack/name/uuid",
  "status": "DELETE_IN_PROGRESS", "tags": {...}, "resources": {"Graph": {"type":
  "AWS::Neptune::DBCluster", "physicalId": "graph"}}}``: CloudFormation's ``DescribeStacks``
  then answers that status (and tags) for that id, and ``DescribeStackResource`` the named
  resources' physical ids (nothing is created for them). Answers ``{"stackId", "status"}``.
- ``POST /testbed/transforms`` ``{"id": "tfm-...", "name": "dedupe"}``: a Glue ML transform
  under a chosen id (Glue picks ids itself). Answers ``{"id", "name"}``.
- ``POST /testbed/jobs`` ``{"kind": "neptune-ml-training", "id": "stack-a-1", "status":
  "InProgress", "ageSeconds": 7200, "transformId": "tfm-..."}``: a job of a jobjanitor kind,
  pinned at ``status`` until cancelled, started ``ageSeconds`` ago on the test bed's clock
  (``transformId`` for Glue task runs; load and run ids are chosen by the test bed). Answers
  ``{"kind", "id", "status"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from . import moto_glue, stacks
from .clusters import create_stand_in_cluster, point_at_emulator

if TYPE_CHECKING:
    from .server import TestBed

PREFIX = "/testbed/"
ML_KINDS = {
    "neptune-ml-dataprocessing": "dataprocessing",
    "neptune-ml-training": "modeltraining",
    "neptune-ml-transform": "modeltransform",
}
KINDS = (*ML_KINDS, "neptune-loader", "glue-ml-task-run")
_CLUSTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
_TRANSFORM_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class ControlError(ValueError):
    """A bad request: ``field`` is the member at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def _text(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ControlError(field, "required, a non-blank string" if value is None else f"not a string: {value!r}")
    return value.strip()


def _strings(body: dict[str, Any], field: str) -> dict[str, str]:
    value = body.get(field) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ControlError(field, "must be an object of strings")
    return dict(value)


class Control:
    """Answers ``/testbed/*`` requests (other than the clock) for one :class:`TestBed`."""

    def __init__(self, bed: TestBed) -> None:
        self.bed = bed
        self._routes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "clusters": self.cluster,
            "stacks": self.stack,
            "transforms": self.transform,
            "jobs": self.job,
        }

    def __call__(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        name = path[len(PREFIX) :].strip("/")
        if name == "" and method == "GET":  # what this test bed offers (make invoke asks before using one)
            return 200, {"endpoints": [f"{PREFIX}clock", *(f"{PREFIX}{n}" for n in self._routes)]}
        route = self._routes.get(name)
        if route is None:
            return 404, _error("NotFoundException", f"no test bed endpoint {path} (see docs/testbed.md)")
        if method != "POST":
            return 405, _error("MethodNotAllowedException", f"{path} takes POST")
        return self._answer(route, raw)

    @staticmethod
    def _answer(route: Callable[[dict[str, Any]], dict[str, Any]], raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ControlError("body", "must be a JSON object")
            return 200, route(body)
        except ValueError as error:  # ControlError, JSON errors, the seeding helpers' ValueErrors
            return 400, _error("BadRequestException", str(error))
        except ClientError as error:  # moto refused (through its API)
            return 400, _error(str(error.response["Error"]["Code"]), str(error))
        except Exception as error:  # moto refused in its backend (an unknown transform...), or a bug
            code = getattr(error, "error_type", None)
            if code:
                return 400, _error(str(code), str(getattr(error, "message", error)))
            return 500, _error("InternalFailureException", f"{type(error).__name__}: {error}")

    # ---- endpoints

    def cluster(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(_text(body, "name"))
        if not _CLUSTER_NAME.match(name):
            raise ControlError("name", f"not a Neptune cluster identifier: {name!r}")
        client = self.bed.aws_client("neptune")
        found = client.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [name]}])["DBClusters"]
        if found:  # again: the same cluster, pointed at the emulator
            point_at_emulator(name, self.bed.neptune_url)
            resource_id = found[0]["DbClusterResourceId"]
        else:
            resource_id = create_stand_in_cluster(self.bed.neptune_url, name, client=client).resource_id
        return {"name": name, "resourceId": resource_id, "endpoint": self.bed.neptune_url}

    def stack(self, body: dict[str, Any]) -> dict[str, Any]:
        stack_id = str(_text(body, "stackId"))
        status = str(_text(body, "status"))
        if not stacks.is_stack_arn(stack_id):
            raise ControlError("stackId", f"not a stack ARN: {stack_id!r}")
        if status not in stacks.STACK_STATUSES:
            raise ControlError("status", f"not a CloudFormation stack status: {status!r}")
        resources: dict[str, tuple[str, str]] = {}
        raw_resources = body.get("resources") or {}
        if not isinstance(raw_resources, dict):
            raise ControlError("resources", "must be an object: logical id -> {type, physicalId}")
        for logical_id, spec in raw_resources.items():
            if not isinstance(spec, dict):
                raise ControlError(f"resources.{logical_id}", "must be an object with type and physicalId")
            resources[logical_id] = (
                str(_text(spec, "type")),
                str(_text(spec, "physicalId")),
            )
        stacks.put_stack(stack_id, status, _strings(body, "tags"), resources=resources)
        return {"stackId": stack_id, "status": status}

    def transform(self, body: dict[str, Any]) -> dict[str, Any]:
        transform_id = str(_text(body, "id"))
        if not _TRANSFORM_ID.match(transform_id):
            raise ControlError("id", f"not a Glue transform id: {transform_id!r}")
        name = _text(body, "name", required=False) or f"testbed-{transform_id[-12:]}"
        return {"id": moto_glue.name_transform(transform_id, name), "name": name}

    def job(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = str(_text(body, "kind"))
        if kind not in KINDS:
            raise ControlError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        job_id = _text(body, "id", required=False)
        status = _text(body, "status", required=False)
        age = body.get("ageSeconds", 0)
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
            raise ControlError("ageSeconds", f"must be a number >= 0, got {age!r}")
        started = self.bed.lifecycle.now() - float(age)
        if kind == "glue-ml-task-run":
            transform_id = str(_text(body, "transformId"))
            if job_id is not None:
                raise ControlError("id", "Glue picks task run ids: leave it out")
            run = moto_glue.seed_task_run(transform_id, started_on=started, status=status)
            return {"kind": kind, "id": run, "status": self._glue_status(transform_id, run)}
        if kind == "neptune-loader":
            load = self.bed.neptune.seed_load(job_id, started_at=started, status=status)
            return {"kind": kind, "id": load, "status": self.bed.neptune.job("loader", load).status}
        new_id = self.bed.neptune.seed_ml_job(ML_KINDS[kind], job_id, started_at=started, status=status)
        return {"kind": kind, "id": new_id, "status": self.bed.neptune.job(ML_KINDS[kind], new_id).status}

    def _glue_status(self, transform_id: str, run: str) -> str:
        answer = self.bed.aws_client("glue").get_ml_task_run(TransformId=transform_id, TaskRunId=run)
        return str(answer["Status"])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "detailedMessage": message}
