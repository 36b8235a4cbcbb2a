"""Jobs of every kind, started the way a user's stack starts them, for tests, demo and benchmarks.

Everything goes through the real Start APIs with boto3 (StartLoaderJob, StartMLDataProcessingJob,
StartMLModelTrainingJob, StartMLModelTransformJob, StartMLEvaluationTaskRun), except finished
jobs, which are seeded directly (a real one would take hours to finish).

Scope, as a guard or sweeper sees it:
- Neptune ML jobs get caller-chosen ids: in scope when they carry ``prefix``; jobs with
  ``other_prefix`` are out of scope.
- Load ids and Glue task-run ids are chosen by the service, so loads are scoped by the
  endpoint (every load on the cluster) and runs by their transform: runs on
  ``other_transform`` are out of scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ML_KINDS = {
    "neptune-ml-dataprocessing": "dataprocessing",
    "neptune-ml-training": "modeltraining",
    "neptune-ml-transform": "modeltransform",
}
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/neptune-ml"


@dataclass
class Scenario:
    """Job ids by jobjanitor kind name."""

    in_scope: dict[str, list[str]] = field(default_factory=dict)
    out_of_scope: dict[str, list[str]] = field(default_factory=dict)
    finished: dict[str, list[str]] = field(default_factory=dict)
    transform_id: str = ""
    other_transform_id: str = ""

    def count(self, which: str = "in_scope") -> int:
        jobs: dict[str, list[str]] = getattr(self, which)
        return sum(len(v) for v in jobs.values())


def create_transform(glue: Any, name: str, tags: dict[str, str] | None = None) -> str:
    kwargs: dict[str, Any] = {
        "Name": name,
        "InputRecordTables": [{"DatabaseName": "db", "TableName": "people"}],
        "Parameters": {"TransformType": "FIND_MATCHES", "FindMatchesParameters": {"PrimaryKeyColumnName": "id"}},
        "Role": f"arn:aws:iam::{ACCOUNT}:role/glue-ml",
        "GlueVersion": "2.0",
    }
    if tags:
        kwargs["Tags"] = tags
    return str(glue.create_ml_transform(**kwargs)["TransformId"])


def start_ml_job(neptune: Any, kind: str, job_id: str, *, training_job_id: str | None = None) -> str:
    """Start one Neptune ML job of jobjanitor kind ``kind`` with a caller-chosen id.

    A transform needs the id of an existing model-training job (``training_job_id``).
    """
    if kind == "neptune-ml-dataprocessing":
        neptune.start_ml_data_processing_job(
            id=job_id, inputDataS3Location="s3://bucket/export/", processedDataS3Location="s3://bucket/processed/"
        )
    elif kind == "neptune-ml-training":
        neptune.start_ml_model_training_job(
            id=job_id,
            dataProcessingJobId=f"{job_id}-dp",
            trainModelS3Location="s3://bucket/training/",
        )
    elif kind == "neptune-ml-transform":
        if training_job_id is None:
            raise ValueError("a model transform needs training_job_id")
        neptune.start_ml_model_transform_job(
            id=job_id,
            modelTransformOutputS3Location="s3://bucket/transform/",
            dataProcessingJobId=f"{training_job_id}-dp",
            mlModelTrainingJobId=training_job_id,
        )
    else:
        raise ValueError(f"not a Neptune ML kind: {kind}")
    return job_id


def _nth(jobs: dict[str, list[str]], i: int) -> str | None:
    """The i-th model-training job of ``jobs``, if it has one."""
    training = jobs.get("neptune-ml-training", [])
    return training[i] if i < len(training) else None


def start_load(neptune: Any, *, queue: bool = True) -> str:
    response = neptune.start_loader_job(
        source="s3://bucket/graph/",
        format="csv",
        s3BucketRegion="us-east-1",
        iamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/neptune-load",
        queueRequest=queue,
    )
    return str(response["payload"]["loadId"])


def start_jobs(
    neptune: Any,
    glue: Any,
    *,
    prefix: str = "stack-a-",
    other_prefix: str = "stack-b-",
    per_kind: int = 2,
    out_of_scope_per_kind: int = 1,
    loads: int | None = None,
    transform_name: str = "jj-dedupe",
    testbed: Any = None,
    finished_per_kind: int = 1,
) -> Scenario:
    """Start ``per_kind`` in-scope jobs of every kind and some that must be left alone.

    ``testbed`` (a :class:`~jobjanitor_testbed.server.TestBed`) is needed only to seed
    finished jobs; without it none are made.
    """
    scenario = Scenario()
    scenario.transform_id = create_transform(glue, transform_name)
    scenario.other_transform_id = create_transform(glue, f"{transform_name}-other")
    for kind in ML_KINDS:  # training before transform: each transform names a training job of its own stack
        scenario.in_scope[kind] = [
            start_ml_job(neptune, kind, f"{prefix}{kind}-{i}", training_job_id=_nth(scenario.in_scope, i))
            for i in range(per_kind)
        ]
        scenario.out_of_scope[kind] = [
            start_ml_job(neptune, kind, f"{other_prefix}{kind}-{i}", training_job_id=_nth(scenario.out_of_scope, i))
            for i in range(out_of_scope_per_kind)
        ]
    scenario.in_scope["neptune-loader"] = [start_load(neptune) for _ in range(per_kind if loads is None else loads)]
    scenario.in_scope["glue-ml-task-run"] = [
        str(glue.start_ml_evaluation_task_run(TransformId=scenario.transform_id)["TaskRunId"]) for _ in range(per_kind)
    ]
    scenario.out_of_scope["glue-ml-task-run"] = [
        str(glue.start_ml_evaluation_task_run(TransformId=scenario.other_transform_id)["TaskRunId"])
        for _ in range(out_of_scope_per_kind)
    ]
    if testbed is not None and finished_per_kind:
        from jobjanitor_testbed import moto_glue  # noqa: PLC0415 - moto is heavy; only seeding needs it

        old = testbed.lifecycle.now() - 7200
        for kind, api_kind in ML_KINDS.items():
            scenario.finished[kind] = [
                testbed.neptune.seed_ml_job(api_kind, f"{prefix}{kind}-done-{i}", started_at=old, status="Completed")
                for i in range(finished_per_kind)
            ]
        scenario.finished["neptune-loader"] = [
            testbed.neptune.seed_load(started_at=old, status="LOAD_COMPLETED") for _ in range(finished_per_kind)
        ]
        scenario.finished["glue-ml-task-run"] = [
            moto_glue.seed_task_run(scenario.transform_id, started_on=old, status="SUCCEEDED")
            for _ in range(finished_per_kind)
        ]
    return scenario


STOPPED = {
    "neptune-ml-dataprocessing": {"Stopped"},
    "neptune-ml-training": {"Stopped"},
    "neptune-ml-transform": {"Stopped"},
    "neptune-loader": {"LOAD_CANCELLED_BY_USER"},
    "glue-ml-task-run": {"STOPPED"},
}
STOPPING_OR_STOPPED = {
    "neptune-ml-dataprocessing": {"Stopping", "Stopped"},
    "neptune-ml-training": {"Stopping", "Stopped"},
    "neptune-ml-transform": {"Stopping", "Stopped"},
    "neptune-loader": {"LOAD_CANCELLED_BY_USER"},
    "glue-ml-task-run": {"STOPPING", "STOPPED"},
}
RUNNING = {
    "neptune-ml-dataprocessing": {"InProgress"},
    "neptune-ml-training": {"InProgress"},
    "neptune-ml-transform": {"InProgress"},
    "neptune-loader": {"LOAD_IN_PROGRESS", "LOAD_IN_QUEUE"},
    "glue-ml-task-run": {"STARTING", "RUNNING"},
}


def status_of(neptune: Any, glue: Any, kind: str, job_id: str, transform_id: str | None = None) -> str:
    """A job's status as the service reports it (through boto3, like a user would look)."""
    if kind == "neptune-loader":
        return str(neptune.get_loader_job_status(loadId=job_id)["payload"]["overallStatus"]["status"])
    if kind == "neptune-ml-dataprocessing":
        return str(neptune.get_ml_data_processing_job(id=job_id)["status"])
    if kind == "neptune-ml-training":
        return str(neptune.get_ml_model_training_job(id=job_id)["status"])
    if kind == "neptune-ml-transform":
        return str(neptune.get_ml_model_transform_job(id=job_id)["status"])
    if kind == "glue-ml-task-run":
        return str(glue.get_ml_task_run(TransformId=transform_id, TaskRunId=job_id)["Status"])
    raise ValueError(kind)


def statuses(
    neptune: Any, glue: Any, jobs: dict[str, list[str]], transform_id: str, other_transform_id: str = ""
) -> dict[tuple[str, str], str]:
    """Status of every job in ``jobs`` (Glue runs looked up on either transform)."""
    out: dict[tuple[str, str], str] = {}
    for kind, ids in jobs.items():
        for job_id in ids:
            tid = transform_id
            if kind == "glue-ml-task-run" and other_transform_id:
                try:
                    out[(kind, job_id)] = status_of(neptune, glue, kind, job_id, transform_id)
                    continue
                except glue.exceptions.EntityNotFoundException:
                    tid = other_transform_id
            out[(kind, job_id)] = status_of(neptune, glue, kind, job_id, tid)
    return out


def in_states(found: dict[tuple[str, str], str], allowed: dict[str, set[str]]) -> list[str]:
    """The jobs whose status is not allowed for their kind (empty list: all are)."""
    return [f"{kind} {job_id}: {status}" for (kind, job_id), status in found.items() if status not in allowed[kind]]


def kinds(names: Iterable[str]) -> str:
    return ",".join(sorted(names))
