"""`make invoke EVENT=events/<file>.json`: one handler, in process, against the test bed.

    python -m jobjanitor_testbed.invoke events/guard-delete.json [--env events/env.json]

What `sam local invoke` does in Docker, without Docker: the function's environment comes
from ``events/env.json`` (the ``sam local invoke --env-vars`` file: ``Parameters`` for every
function, then ``GuardFunction`` or ``SweeperFunction``), the test bed listens where that
file points (the Neptune emulator at ``JOBJANITOR_ALLOWED_ENDPOINTS``, moto at
``AWS_ENDPOINT_URL``), and the world the event assumes is set up first:

- the cluster the install serves (``JOBJANITOR_NEPTUNE_CLUSTERS``: a moto cluster whose
  endpoint is the emulator), the idempotency table, and the Glue transform the event names;
- the jobs the event is about: for the guard, outstanding jobs of every kind in the stack's
  scope (``JobIdPrefix``, the transform) and one outside it; for a scheduled sweep, old and
  young outstanding jobs; for a stack deletion, the stack with its opt-in tags and jobs;
- for the guard, CloudFormation's side: ``ResponseURL`` (a presigned S3 URL) is replaced by
  a loopback receiver, and a guard Delete or Update first gets the guard's Create (as a
  stack's guard was created before), so its ``PhysicalResourceId`` is one the guard made.

Prints the answer (the response CloudFormation got, or the sweeper's result) as JSON on
stdout, and each job's status before and after on stderr. Exit status 0 when the answer is
SUCCESS or an ok sweep, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from . import moto_glue
from .cfn import LambdaContext, ResponseReceiver
from .clusters import create_stand_in_cluster
from .guard_driver import FUNCTION, TABLE, deliver, prepare_aws
from .scenario import ML_KINDS, create_transform
from .server import TestBed

REGION = "us-east-1"
OLD_S = 2 * 3600
EVENTS = Path(__file__).resolve().parents[2] / "events"


def function_environment(env_file: Path, function: str) -> dict[str, str]:
    data: dict[str, dict[str, str]] = json.loads(env_file.read_text())
    return {**data.get("Parameters", {}), **data.get(function, {})}


def _port(url: str) -> int:
    return int(urlsplit(url).port or 0)


def _name_transform(transform_id: str) -> str:
    """A moto ML transform under the id the event names (moto picks random ids)."""
    created = create_transform(boto3.client("glue"), f"invoke-{transform_id[-8:]}")
    backend = get_backend("glue")[DEFAULT_ACCOUNT_ID][REGION]
    model = backend.ml_transforms.pop(created)
    model.transform_id = transform_id
    model.arn = model.arn.rsplit("/", 1)[0] + "/" + transform_id
    backend.ml_transforms[transform_id] = model
    return transform_id


def _name_stack(stack_id: str, tags: dict[str, str]) -> None:
    """A stack in moto with the id the event names, carrying ``tags``."""
    name = stack_id.split("/")[1]
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    created = boto3.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template), Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )["StackId"]
    backend = get_backend("cloudformation")[DEFAULT_ACCOUNT_ID][REGION]
    stack = backend.stacks.pop(created)
    stack.stack_id = stack_id
    backend.stacks[stack_id] = stack


class World:
    """The jobs an event is about, and their statuses for the before/after table."""

    def __init__(self, bed: TestBed) -> None:
        self.bed = bed
        self.jobs: list[tuple[str, str, str]] = []  # (kind, id, scope)
        self.transform_id = ""

    def neptune_jobs(
        self, prefix: str, scope: str, *, started_at: float | None = None, load_scope: str | None = None
    ) -> None:
        for kind, api_kind in ML_KINDS.items():
            # Dated as the sweeper dates them: by the SageMaker job the test bed runs underneath.
            job_id = self.bed.neptune.seed_ml_job(
                api_kind, f"{prefix}{api_kind}-1", status="InProgress", started_at=started_at
            )
            self.jobs.append((kind, job_id, scope))
        load = self.bed.neptune.seed_load(status="LOAD_IN_PROGRESS", started_at=started_at)
        self.jobs.append(("neptune-loader", load, load_scope or scope))

    def glue_run(self, scope: str, *, started_on: float | None = None) -> None:
        run = moto_glue.seed_task_run(self.transform_id, status="RUNNING", started_on=started_on)
        self.jobs.append(("glue-ml-task-run", run, scope))

    def status(self, kind: str, job_id: str) -> str:
        if kind == "glue-ml-task-run":
            run = boto3.client("glue").get_ml_task_run(TransformId=self.transform_id, TaskRunId=job_id)
            return str(run["Status"])
        api_kind = "loader" if kind == "neptune-loader" else ML_KINDS[kind]
        return str(self.bed.neptune.job(api_kind, job_id).status)

    def table(self) -> dict[str, str]:
        return {f"{kind} {job_id} ({scope})": self.status(kind, job_id) for kind, job_id, scope in self.jobs}


def _guard(event: dict[str, Any], world: World, receiver: ResponseReceiver) -> dict[str, Any]:
    props = event["ResourceProperties"]
    world.transform_id = _name_transform(props["GlueTransformIds"][0])
    prefix = props["JobIdPrefix"]
    world.neptune_jobs(prefix, "in scope")
    world.glue_run("in scope")
    other = world.bed.neptune.seed_ml_job("modeltraining", "other-stack-modeltraining-1", status="InProgress")
    world.jobs.append(("neptune-ml-training", other, "other stack"))
    if event["RequestType"] in ("Update", "Delete") and not event["PhysicalResourceId"].startswith(
        "jobjanitor-guard-failed-"
    ):
        # The stack's guard was created before: CloudFormation's Create, with the same properties.
        create = {
            **{k: v for k, v in event.items() if k not in ("PhysicalResourceId", "OldResourceProperties")},
            "RequestType": "Create",
            "RequestId": f"{event['RequestId']}-create",
            "ResourceProperties": event.get("OldResourceProperties", props),
            "ResponseURL": receiver.url_for(f"{event['RequestId']}-create"),
        }
        created = deliver(create, receiver).body
        if created["PhysicalResourceId"] != event["PhysicalResourceId"]:
            print(
                f"note: the guard created {created['PhysicalResourceId']}, the event names "
                f"{event['PhysicalResourceId']}",
                file=sys.stderr,
            )
    request = {**event, "ResponseURL": receiver.url_for(event["RequestId"])}
    return deliver(request, receiver).body


def _sweeper(event: dict[str, Any], world: World, env: dict[str, str]) -> dict[str, Any]:
    from jobjanitor.handlers.sweeper import lambda_handler  # noqa: PLC0415 - after the environment is set

    world.transform_id = _name_transform(env["JOBJANITOR_GLUE_TRANSFORM_IDS"].split(",")[0])
    stack_id = (event.get("detail") or {}).get("stack-id")
    if stack_id:  # a stack deletion: the stack opted in by tags
        prefix = f"{stack_id.split('/')[1]}-"
        _name_stack(stack_id, {"jobjanitor:job-id-prefix": prefix, "jobjanitor:glue-transforms": world.transform_id})
        # Neptune names loads itself: a prefix cannot scope them, so a stack's sweep leaves them.
        world.neptune_jobs(prefix, "the stack's", load_scope="a load: not scoped by a prefix")
        world.glue_run("the stack's")
        other = world.bed.neptune.seed_ml_job("modeltraining", "other-stack-modeltraining-1", status="InProgress")
        world.jobs.append(("neptune-ml-training", other, "other stack"))
    else:  # a schedule: old jobs go, young ones stay
        old = time.time() - OLD_S
        world.neptune_jobs("old-", "older than MaxAge", started_at=old)
        world.glue_run("older than MaxAge", started_on=old)
        young = world.bed.neptune.seed_load(status="LOAD_IN_PROGRESS")
        world.jobs.append(("neptune-loader", young, "young"))
    result: dict[str, Any] = lambda_handler(
        event, LambdaContext(function_name="jobjanitor-sweeper", timeout_seconds=300)
    )
    return result


def run(event_file: Path, env_file: Path) -> int:
    event: dict[str, Any] = json.loads(event_file.read_text())
    is_guard = "RequestType" in event
    env = function_environment(env_file, "GuardFunction" if is_guard else "SweeperFunction")
    neptune_url = env["JOBJANITOR_ALLOWED_ENDPOINTS"].split(",")[0]
    os.environ.update(env)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    with (
        TestBed(neptune_port=_port(neptune_url), aws_port=_port(env["AWS_ENDPOINT_URL"]), stop_delay=0.5) as bed,
        ResponseReceiver() as receiver,
    ):
        prepare_aws(FUNCTION, env.get("IDEMPOTENCY_TABLE_NAME", TABLE))
        for identifier in env["JOBJANITOR_NEPTUNE_CLUSTERS"].split(","):
            create_stand_in_cluster(bed.neptune_url, identifier.strip())
        world = World(bed)
        # The function's logs and EMF metrics (stdout in Lambda) go to stderr here: stdout
        # carries only the answer.
        with contextlib.redirect_stdout(sys.stderr):
            from jobjanitor import observability  # noqa: PLC0415 - after the environment is set

            handler = observability.logger.registered_handler
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
            answer = _guard(event, world, receiver) if is_guard else _sweeper(event, world, env)
            after = world.table()
    print(json.dumps(answer, indent=2, default=str))
    print("jobs afterwards:", file=sys.stderr)
    for job, status in after.items():
        print(f"  {job}: {status}", file=sys.stderr)
    ok = answer.get("Status") == "SUCCESS" if is_guard else answer.get("ok", answer.get("status") != "swept")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="an events/*.json file")
    parser.add_argument("--env", type=Path, default=EVENTS / "env.json", help="sam local invoke --env-vars file")
    args = parser.parse_args(argv)
    return run(args.event, args.env)


if __name__ == "__main__":
    sys.exit(main())
