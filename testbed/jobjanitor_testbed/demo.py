"""``make demo``: jobjanitor's main job, run locally.

1. Starts the test bed (Neptune data-API emulator + moto server with Glue ML task runs).
2. Starts jobs of every kind through the real Start APIs, as a user's stack would: some in
   the guard's scope, some of another stack, some already finished.
3. Sends the guard a Create, then a Delete, exactly as CloudFormation does, with a local
   receiver standing in for the presigned S3 ResponseURL (and fires the guard's polling rule
   as EventBridge would, if the guard hands over).
4. Prints the jobs found, the cancels, the waits, the final states and the response.
5. Scene 2: a stack with no guard (a Neptune cluster and a Glue ML transform in moto's
   CloudFormation) is deleted with the teardown hook on: CloudFormation's hook invocations
   are driven as CloudFormation would, and the hook stops every job on the cluster and the
   transform before moto deletes them.

Exits non-zero if any in-scope job is left running, an out-of-scope job was touched, the
response is not a well-formed SUCCESS, a polling rule or permission is left behind, or the
hook did not stop the unguarded stack's jobs (or touched another cluster's).
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

from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, contract_violations, custom_resource_event, stack_id
from jobjanitor_testbed.clusters import stand_in_environment
from jobjanitor_testbed.guard_driver import TABLE, deliver, lambda_permissions, polling_rules, prepare_aws
from jobjanitor_testbed.hook_driver import HookDriver, attach_cluster, create_stack, delete_stack
from jobjanitor_testbed.neptune import NeptuneEmulator
from jobjanitor_testbed.server import TestBed, export_aws_environment

PREFIX = "demo-stack-"
BOLD, DIM, RED, GREEN, RESET = "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m"


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text


def _heading(style: _Style, text: str) -> None:
    print()
    print(style(BOLD, f"== {text}"))


class _GuardLogPrinter(logging.Handler):
    """Shows the guard's structured log lines (Powertools) as readable lines."""

    def __init__(self, style: _Style, started: float) -> None:
        super().__init__(logging.INFO)
        self.style = style
        self.started = started
        self.label = "guard"

    def emit(self, record: logging.LogRecord) -> None:
        elapsed = record.created - self.started
        message = record.getMessage()
        line = f"  {elapsed:6.2f}s  {self.label} | {message}"
        print(self.style(RED, line) if record.levelno >= logging.WARNING else line, flush=True)


def _table(rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _job_rows(jobs: sc.Scenario, found: dict[tuple[str, str], str]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for label, group in (("in scope", jobs.in_scope), ("other stack", jobs.out_of_scope), ("finished", jobs.finished)):
        for kind, ids in group.items():
            rows += [(kind, job_id, label, found[(kind, job_id)]) for job_id in ids]
    return rows


def _all_statuses(neptune: Any, glue: Any, jobs: sc.Scenario) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for group in (jobs.in_scope, jobs.out_of_scope, jobs.finished):
        found.update(sc.statuses(neptune, glue, group, jobs.transform_id, jobs.other_transform_id))
    return found


def _set_environment(bed: TestBed) -> None:
    export_aws_environment(bed, IDEMPOTENCY_TABLE_NAME=TABLE, POWERTOOLS_LOG_LEVEL="INFO")


def _install_log_printer(style: _Style, started: float) -> _GuardLogPrinter:
    from jobjanitor import observability  # noqa: PLC0415 - after the environment is set

    service_logger = logging.getLogger(observability.logger.name)
    for handler in service_logger.handlers:
        handler.setLevel(logging.CRITICAL + 1)  # the JSON lines: shown readably below instead
    printer = _GuardLogPrinter(style, started)
    service_logger.addHandler(printer)
    return printer


def run(*, stop_delay: float, per_kind: int, latency_ms: float, color: bool, lambda_timeout: float) -> int:
    style = _Style(color)
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

        _heading(style, "Test bed")
        print(f"  neptune={bed.neptune_url}   aws={bed.aws_url}   (stop delay {stop_delay:g}s)")

        _heading(style, "A stack starts its jobs (real Start APIs through boto3)")
        jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, per_kind=per_kind, testbed=bed)
        print(_table(_job_rows(jobs, _all_statuses(neptune, glue, jobs)), ("kind", "job id", "scope", "status")))

        properties = {
            "NeptuneEndpoint": bed.neptune_url,
            "NeptuneIamRoleArn": sc.ROLE,
            "Kinds": "all",
            "JobIdPrefix": PREFIX,
            "GlueTransformIds": [jobs.transform_id],
            "GlueRegion": "us-east-1",
            "Clean": "true",
            "MaxWaitSeconds": "300",
            "FailOnError": "false",
        }
        stack = stack_id("demo-stack")

        _heading(style, "CloudFormation: Create Custom::JobJanitorGuard")
        print(style(DIM, "  " + json.dumps(properties)))
        created = deliver(custom_resource_event("Create", properties, receiver=receiver, stack=stack), receiver)
        print(f"  response: {json.dumps(created.body)}")
        if created.body.get("Status") != "SUCCESS":
            problems.append(f"Create answered {created.body.get('Status')}: {created.body.get('Reason')}")
            return _finish(style, problems)
        pid = created.body["PhysicalResourceId"]

        _heading(style, "CloudFormation: Delete (the stack is being torn down)")
        delete_event = custom_resource_event("Delete", properties, receiver=receiver, stack=stack, physical_id=pid)
        sent = time.time()
        deleted = deliver(delete_event, receiver, timeout=lambda_timeout)
        answered = deleted.response.received_at if deleted.response else time.time()
        if deleted.ticks:
            print(f"  (the wait continued through {deleted.ticks} polling tick(s))")

        _heading(style, "CloudFormation got this response")
        print("  " + json.dumps(deleted.body, indent=2).replace("\n", "\n  "))
        violations = contract_violations(deleted.response, delete_event) if deleted.response else ["no response"]
        if violations:
            problems.append(f"response contract: {violations}")
        if len(deleted.all_responses) != 1:
            problems.append(f"{len(deleted.all_responses)} responses to one Delete")
        if deleted.body.get("Status") != "SUCCESS":
            problems.append(f"Delete answered {deleted.body.get('Status')}")
        print(f"  answered {answered - sent:.2f}s after CloudFormation sent the Delete")

        _heading(style, "Final states")
        problems += _final_states(bed, neptune, glue, jobs)
        if problems:
            return _finish(style, problems)
        printer.label = "hook "
        problems += hook_scene(style, bed, neptune, glue, jobs)
    return _finish(style, problems)


def _final_states(bed: TestBed, neptune: Any, glue: Any, jobs: sc.Scenario) -> list[str]:
    problems: list[str] = []
    found = _all_statuses(neptune, glue, jobs)
    print(_table(_job_rows(jobs, found), ("kind", "job id", "scope", "status")))
    still = sc.in_states({k: v for k, v in found.items() if k[1] in _ids(jobs.in_scope)}, sc.STOPPED)
    if still:
        problems.append(f"in-scope jobs not stopped: {still}")
    touched = sc.in_states({k: v for k, v in found.items() if k[1] in _ids(jobs.out_of_scope)}, sc.RUNNING)
    if touched:
        problems.append(f"out-of-scope jobs touched: {touched}")
    if polling_rules() or lambda_permissions():
        problems.append("a polling rule or Lambda permission was left behind")
    cancels = bed.neptune_log.count(method="DELETE") + bed.aws_log.count(operation="CancelMLTaskRun")
    print(f"\n  cancel requests sent: {cancels}   in-scope jobs: {jobs.count('in_scope')}")
    return problems


HOOK_STACK = "graph-pipeline"


def hook_scene(style: _Style, bed: TestBed, other_neptune: Any, glue: Any, earlier: sc.Scenario) -> list[str]:
    """Scene 2: a stack that has no guard deletes its Neptune cluster and Glue ML transform.
    The teardown hook (CloudFormation Lambda Hook, DELETE_PRE_PROVISION) stops every job on them
    first; the other stack's jobs on the first cluster are left alone."""
    problems: list[str] = []
    _heading(style, f"Scene 2: stack {HOOK_STACK!r} has no guard; the account's teardown hook is on (Fail)")
    with NeptuneEmulator(lifecycle=bed.lifecycle).start() as emulator:
        stack = create_stack(HOOK_STACK, name="graph-pipeline-dedupe")
        cluster, transform = stack["GraphCluster"], stack["MatchTransform"]
        attach_cluster(cluster, emulator.url, os.environ)
        os.environ.update(
            {
                "JOBJANITOR_HOOK_MODE": "Fail",
                "JOBJANITOR_NEPTUNE_CLUSTERS": cluster,
                "JOBJANITOR_GLUE_TRANSFORM_IDS": transform,
                "JOBJANITOR_NEPTUNE_IAM_ROLE_ARN": sc.ROLE,
            }
        )
        print(f"  stack {HOOK_STACK}: Neptune cluster {cluster} ({emulator.url}), Glue ML transform {transform}")
        neptune = boto3.client("neptunedata", endpoint_url=emulator.url)
        jobs: dict[str, list[str]] = {}
        for kind in sc.ML_KINDS:  # any owner, any id: the whole cluster is going away
            training = jobs["neptune-ml-training"][0] if kind == "neptune-ml-transform" else None
            jobs[kind] = [
                sc.start_ml_job(neptune, kind, f"pipeline-{kind.removeprefix('neptune-ml-')}", training_job_id=training)
            ]
        jobs["neptune-loader"] = [sc.start_load(neptune), sc.start_load(neptune)]
        jobs["glue-ml-task-run"] = [str(glue.start_ml_evaluation_task_run(TransformId=transform)["TaskRunId"])]
        found = sc.statuses(neptune, glue, jobs, transform)
        print(_table([(k, j, s) for (k, j), s in found.items()], ("kind", "job id", "status")))

        _heading(style, f"CloudFormation: DeleteStack {HOOK_STACK} (the hook runs before each targeted resource)")
        deletion = delete_stack(HOOK_STACK, HookDriver(failure_mode="FAIL"))
        for logical_id, run in deletion.runs.items():
            for i, answer in enumerate(run.answers, 1):
                print(f"  {logical_id} invocation {i}: {answer['hookStatus']}: {answer['message']}")
            if run.status != "SUCCESS":
                problems.append(f"the hook answered {run.status} for {logical_id}: {run.reason}")
        print(f"  stack status: {deletion.status}")
        if deletion.status != "DELETE_COMPLETE":
            problems.append(f"the stack ended {deletion.status}")

        _heading(style, "Final states")
        found = sc.statuses(neptune, glue, {k: v for k, v in jobs.items() if k != "glue-ml-task-run"}, transform)
        rows = [(k, j, s) for (k, j), s in found.items()]
        print(_table(rows, ("kind", "job id", "status")))
        print(f"  (the transform's run was stopped before the transform was deleted: {len(jobs['glue-ml-task-run'])})")
        still = sc.in_states(found, sc.STOPPED)
        if still:
            problems.append(f"jobs on the deleted cluster not stopped: {still}")
        untouched = sc.in_states(
            sc.statuses(other_neptune, glue, earlier.out_of_scope, earlier.transform_id, earlier.other_transform_id),
            sc.RUNNING,
        )
        if untouched:
            problems.append(f"the hook touched jobs on another cluster: {untouched}")
        print(f"  scene 1's other-stack jobs on the first cluster: {earlier.count('out_of_scope')} still running")
    return problems


def _ids(group: dict[str, list[str]]) -> set[str]:
    return {job_id for ids in group.values() for job_id in ids}


def _finish(style: _Style, problems: list[str]) -> int:
    print()
    if problems:
        for problem in problems:
            print(style(RED, f"FAIL: {problem}"))
        return 1
    print(
        style(
            GREEN,
            "OK: every in-scope job stopped, nothing else touched, one SUCCESS answer, nothing left; "
            "the hook stopped every job on the unguarded stack's cluster and transform before they were deleted.",
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
    parser.add_argument("--no-color", action="store_true")
    args = parser.parse_args(argv)
    return run(
        stop_delay=args.stop_delay,
        per_kind=args.per_kind,
        latency_ms=args.latency_ms,
        color=sys.stdout.isatty() and not args.no_color,
        lambda_timeout=args.lambda_timeout,
    )


if __name__ == "__main__":
    raise SystemExit(main())
