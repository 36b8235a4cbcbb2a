"""``make demo``: jobjanitor's main job, run locally.

1. Starts the test bed (Neptune data-API emulator + moto server with Glue ML task runs).
2. Starts jobs of every kind through the real Start APIs, as a user's stack would: some in
   the guard's scope, some of another stack, some already finished; the stack's pipeline puts
   a Neptune ML inference endpoint up from its finished training job (CreateMLEndpoint), and
   another stack has one too.
3. Sends the guard (opted in to ``neptune-ml-endpoint``, scoped by the stack's job-id prefix)
   a Create, then a Delete, exactly as CloudFormation does, with a local receiver standing in
   for the presigned S3 ResponseURL (and fires the guard's polling rule as EventBridge would,
   if the guard hands over).
4. Prints the jobs found, the cancels, the waits, the response and the final states: each
   job's and endpoint's status, what SageMaker (moto) says of it, and the guard's verdict on
   the bill.
5. Scene 2: a stack with no guard (a Neptune cluster and a Glue ML transform in moto's
   CloudFormation) is deleted with the teardown hook on: CloudFormation's hook invocations
   are driven as CloudFormation would, and the hook stops every job on the cluster and the
   transform, and deletes the cluster's inference endpoint, before moto deletes them.

Exits non-zero if any in-scope job is left running, an in-scope endpoint is left (in Neptune
or in SageMaker), an out-of-scope job or endpoint was touched, the response is not a
well-formed SUCCESS, a polling rule or permission is left behind, or the hook did not stop the
unguarded stack's jobs and delete its endpoint (or touched another cluster's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

import boto3

from jobjanitor_testbed import demo_sagemaker as ds
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, contract_violations, custom_resource_event, stack_id
from jobjanitor_testbed.clusters import stand_in_environment
from jobjanitor_testbed.demo_hook import hook_scene
from jobjanitor_testbed.demo_print import DIM, GREEN, RED, Style, heading, table
from jobjanitor_testbed.guard_driver import TABLE, deliver, lambda_permissions, polling_rules, prepare_aws
from jobjanitor_testbed.server import TestBed, export_aws_environment

PREFIX = "demo-stack-"
OTHER_PREFIX = "stack-b-"
# The guard's Kinds: every job kind, and inference endpoints (only ever by name).
KINDS = ",".join((*sc.ML_KINDS, "neptune-loader", "glue-ml-task-run", ds.KIND))


class _GuardLogPrinter(logging.Handler):
    """Shows the guard's structured log lines (Powertools) as readable lines."""

    def __init__(self, style: Style, started: float) -> None:
        super().__init__(logging.INFO)
        self.style = style
        self.started = started
        self.label = "guard"
        # (kind, id) -> the verdict on the bill its "stopped" line gave ("billing stopped", ...)
        self.billing: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        billing = getattr(record, "billing", None)
        if billing:
            self.billing[(str(getattr(record, "kind", "")), str(getattr(record, "job_id", "")))] = str(billing)
        elapsed = record.created - self.started
        message = record.getMessage()
        line = f"  {elapsed:6.2f}s  {self.label} | {message}"
        print(self.style(RED, line) if record.levelno >= logging.WARNING else line, flush=True)


class _Services:
    """The clients the demo looks through (as a user would), and the endpoints to show."""

    def __init__(self, neptune: Any, glue: Any, endpoints: ds.Endpoints) -> None:
        self.neptune, self.glue, self.endpoints = neptune, glue, endpoints
        self.sagemaker = boto3.client("sagemaker")

    def rows(self, jobs: sc.Scenario, verdicts: dict[tuple[str, str], str] | None = None) -> list[tuple[str, ...]]:
        """kind, id, scope, status, SageMaker's state (and the verdict on the bill, if given)."""
        found = _all_statuses(self.neptune, self.glue, jobs)
        scoped: list[tuple[str, str, str]] = []
        for label, group in (("in scope", jobs.in_scope), ("other stack", jobs.out_of_scope)):
            scoped += [(kind, job_id, label) for kind, ids in group.items() for job_id in ids]
            endpoint_ids = self.endpoints.in_scope if label == "in scope" else self.endpoints.out_of_scope
            scoped += [(ds.KIND, endpoint_id, label) for endpoint_id in endpoint_ids]
        scoped += [(kind, job_id, "finished") for kind, ids in jobs.finished.items() for job_id in ids]
        rows: list[tuple[str, ...]] = []
        for kind, job_id, label in scoped:
            status = ds.endpoint_status(self.neptune, job_id) if kind == ds.KIND else found[(kind, job_id)]
            row = (
                kind,
                job_id,
                label,
                status,
                ds.sagemaker_state(self.sagemaker, self.neptune, kind, job_id, self.endpoints),
            )
            rows.append(row if verdicts is None else (*row, verdicts.get((kind, job_id), "")))
        return rows


def _all_statuses(neptune: Any, glue: Any, jobs: sc.Scenario) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for group in (jobs.in_scope, jobs.out_of_scope, jobs.finished):
        found.update(sc.statuses(neptune, glue, group, jobs.transform_id, jobs.other_transform_id))
    return found


def _set_environment(bed: TestBed) -> None:
    export_aws_environment(bed, IDEMPOTENCY_TABLE_NAME=TABLE, POWERTOOLS_LOG_LEVEL="INFO")


def _install_log_printer(style: Style, started: float) -> _GuardLogPrinter:
    from jobjanitor import observability  # noqa: PLC0415 - after the environment is set

    service_logger = logging.getLogger(observability.logger.name)
    for handler in service_logger.handlers:
        handler.setLevel(logging.CRITICAL + 1)  # the JSON lines: shown readably below instead
    printer = _GuardLogPrinter(style, started)
    service_logger.addHandler(printer)
    return printer


HEADERS = ("kind", "job or endpoint id", "scope", "status", "SageMaker says")


def run(
    *, stop_delay: float, per_kind: int, latency_ms: float, color: bool, lambda_timeout: float, kinds: str = KINDS
) -> int:
    style = Style(color)
    problems: list[str] = []
    with TestBed(stop_delay=stop_delay, latency=latency_ms / 1000.0) as bed, ResponseReceiver() as receiver:
        _set_environment(bed)
        prepare_aws()
        # jobjanitor's install serves one Neptune cluster: a moto cluster standing for the emulator.
        os.environ.update(stand_in_environment(bed.neptune_url))
        started = time.time()
        printer = _install_log_printer(style, started)
        neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
        glue = boto3.client("glue")

        heading(style, "Test bed")
        print(f"  neptune={bed.neptune_url}   aws={bed.aws_url}   (stop delay {stop_delay:g}s)")

        heading(style, "A stack starts its jobs and puts up an inference endpoint (real Start and Create APIs)")
        jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, other_prefix=OTHER_PREFIX, per_kind=per_kind, testbed=bed)
        endpoints = ds.create_endpoints(neptune, bed, jobs, prefix=PREFIX, other_prefix=OTHER_PREFIX)
        services = _Services(neptune, glue, endpoints)
        print(table(services.rows(jobs), HEADERS))

        properties = {
            "NeptuneEndpoint": bed.neptune_url,
            "NeptuneIamRoleArn": sc.ROLE,
            "Kinds": kinds,
            "JobIdPrefix": PREFIX,
            "GlueTransformIds": [jobs.transform_id],
            "GlueRegion": "us-east-1",
            "Clean": "true",
            "MaxWaitSeconds": "300",
            "FailOnError": "false",
        }
        stack = stack_id("demo-stack")

        heading(style, "CloudFormation: Create Custom::JobJanitorGuard")
        print(style(DIM, "  " + json.dumps(properties)))
        created = deliver(custom_resource_event("Create", properties, receiver=receiver, stack=stack), receiver)
        print(f"  response: {json.dumps(created.body)}")
        if created.body.get("Status") != "SUCCESS":
            problems.append(f"Create answered {created.body.get('Status')}: {created.body.get('Reason')}")
            return _finish(style, problems)
        pid = created.body["PhysicalResourceId"]

        heading(style, "CloudFormation: Delete (the stack is being torn down)")
        delete_event = custom_resource_event("Delete", properties, receiver=receiver, stack=stack, physical_id=pid)
        sent = time.time()
        deleted = deliver(delete_event, receiver, timeout=lambda_timeout)
        answered = deleted.response.received_at if deleted.response else time.time()
        if deleted.ticks:
            print(f"  (the wait continued through {deleted.ticks} polling tick(s))")

        heading(style, "CloudFormation got this response")
        print("  " + json.dumps(deleted.body, indent=2).replace("\n", "\n  "))
        violations = contract_violations(deleted.response, delete_event) if deleted.response else ["no response"]
        if violations:
            problems.append(f"response contract: {violations}")
        if len(deleted.all_responses) != 1:
            problems.append(f"{len(deleted.all_responses)} responses to one Delete")
        if deleted.body.get("Status") != "SUCCESS":
            problems.append(f"Delete answered {deleted.body.get('Status')}")
        print(f"  answered {answered - sent:.2f}s after CloudFormation sent the Delete")

        heading(style, "Final states (status as Neptune and Glue say; SageMaker's own Describe; the guard's log)")
        problems += _final_states(bed, services, jobs, printer.billing)
        if problems:
            return _finish(style, problems)
        printer.label = "hook "
        problems += hook_scene(style, bed, services, jobs, printer.billing)
    return _finish(style, problems)


def _final_states(
    bed: TestBed, services: _Services, jobs: sc.Scenario, verdicts: dict[tuple[str, str], str]
) -> list[str]:
    problems: list[str] = []
    neptune, glue = services.neptune, services.glue
    found = _all_statuses(neptune, glue, jobs)
    print(table(services.rows(jobs, verdicts), (*HEADERS, "the guard's verdict")))
    still = sc.in_states({k: v for k, v in found.items() if k[1] in _ids(jobs.in_scope)}, sc.STOPPED)
    if still:
        problems.append(f"in-scope jobs not stopped: {still}")
    touched = sc.in_states({k: v for k, v in found.items() if k[1] in _ids(jobs.out_of_scope)}, sc.RUNNING)
    if touched:
        problems.append(f"out-of-scope jobs touched: {touched}")
    if polling_rules() or lambda_permissions():
        problems.append("a polling rule or Lambda permission was left behind")
    problems += ds.endpoint_problems(bed.neptune, neptune, services.sagemaker, services.endpoints)
    cancels = bed.neptune_log.count(method="DELETE") + bed.aws_log.count(operation="CancelMLTaskRun")
    print(
        f"\n  cancel and delete requests sent: {cancels}   in-scope jobs: {jobs.count('in_scope')}"
        f"   in-scope endpoints: {len(services.endpoints.in_scope)}"
    )
    return problems


def _ids(group: dict[str, list[str]]) -> set[str]:
    return {job_id for ids in group.values() for job_id in ids}


def _finish(style: Style, problems: list[str]) -> int:
    print()
    if problems:
        for problem in problems:
            print(style(RED, f"FAIL: {problem}"))
        return 1
    print(
        style(
            GREEN,
            "OK: every in-scope job stopped and the stack's endpoint deleted (SageMaker agrees), nothing else "
            "touched, one SUCCESS answer, nothing left; the hook stopped every job on the unguarded stack's cluster "
            "and transform, and deleted the cluster's endpoint, before they were deleted.",
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobjanitor_testbed.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop-delay", type=float, default=3.0, help="seconds a cancelled job takes to stop")
    parser.add_argument("--per-kind", type=int, default=2, help="in-scope jobs per kind")
    parser.add_argument("--latency-ms", type=float, default=5.0, help="latency added to every request")
    parser.add_argument(
        "--lambda-timeout",
        type=float,
        default=900.0,
        help="the guard's Lambda timeout; below ~20 s the wait continues through polling",
    )
    parser.add_argument(
        "--kinds",
        default=KINDS,
        help="the guard's Kinds property (default: every job kind and neptune-ml-endpoint; "
        "'all' leaves the endpoint, and the demo fails)",
    )
    parser.add_argument("--no-color", action="store_true")
    args = parser.parse_args(argv)
    return run(
        stop_delay=args.stop_delay,
        per_kind=args.per_kind,
        latency_ms=args.latency_ms,
        color=sys.stdout.isatty() and not args.no_color,
        lambda_timeout=args.lambda_timeout,
        kinds=args.kinds,
    )


if __name__ == "__main__":
    raise SystemExit(main())
