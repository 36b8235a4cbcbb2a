"""Each function as deployed, at Lambda's CPU share: for each MemorySize, a cold 20-job teardown
and a cold 1,000-job sweep through the function's own handler, run from the built artifact
inside a cgroup whose CPU quota is ``MemorySize / 1769`` of one CPU (:mod:`benchmarks.cgroup`).

Every invocation is a fresh interpreter (a cold execution environment: start-up and imports
count, as Lambda bills its init) from a read-only copy of ``.aws-sam/build``, laid out as Lambda
lays it out, no bytecode written (:func:`benchmarks.coldstart.invoke`), with the template's
defaults (tracing Active, log level INFO, metrics on) and ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``.
The test bed serves it from this process, outside the cgroup, with 25 ms added to every request;
a cancelled job stops 0.2 s after its cancel.

- **guard**: CloudFormation's Delete of a stack's guard (created first, outside the clock) whose
  scope holds the jobs: loads on the endpoint, Neptune ML jobs under its prefix, Glue runs of its
  transforms. Answered when the response reaches CloudFormation (the handler's return).
- **hook**: the first invocation of the teardown hook on ``DELETE_PRE_PROVISION`` of a stack's
  Neptune cluster holding the jobs (loads and Neptune ML), with its 30 s context.
- **sweeper**: the deletion of a stack that declares its scope in tags (Neptune ML jobs under its
  prefix, runs of its Glue transforms; a stack's tags never reach loads).

Per invocation: seconds to the answer (and to the end of the imports), CPU seconds, GB-seconds
(MemorySize in GB times the time to the answer: what Lambda bills for a cold invocation), peak
memory, the jobs the test bed shows stopped. A MemorySize whose cgroup cannot be made (or whose
quota does not hold) is reported as skipped, with the reason: never measured at full CPU.

    python -m benchmarks.share [MB ...] [guard|hook|sweeper ...] [--quick] [--teardown-only]
        # the table's figures as JSON: every MemorySize and function unless some are named;
        # --quick: small sizes; --teardown-only: only the cold 20-job teardowns (no 1,000-job sweep)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import yaml
from jobjanitor_testbed.cfn import ResponseReceiver, custom_resource_event, stack_id
from jobjanitor_testbed.clusters import stand_in_environment
from jobjanitor_testbed.guard_driver import TABLE, deliver, prepare_aws
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.stacks import put_stack

from artifact import built
from benchmarks import cgroup, coldstart, hook
from benchmarks.common import STOPPED_OR_STOPPING, Workload, final_states, seed_workload

TEARDOWN_JOBS = 20
SWEEP_JOBS = 1000
LATENCY = 0.025
STOP_DELAY = 0.2
ANSWER_TARGET_S = 5.0  # a cold 20-job teardown answers within this
PRICE_PER_GB_S = 0.0000133334  # Lambda, arm64, us-east-1, first tier (USD)
FUNCTIONS = {"guard": "GuardFunction", "hook": "HookFunction", "sweeper": "SweeperFunction"}
PREFIX = "bench-"
TAG_PREFIX = "jobjanitor:"
# The template's defaults the functions see in Lambda (benchmarks.common exports quieter ones).
TEMPLATE_DEFAULTS = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}


class _Template(yaml.SafeLoader):
    """template.yaml's plain values; every intrinsic (!Ref, !Sub...) reads as None."""


_Template.add_multi_constructor("!", lambda *_: None)


def function_settings(template: Path = built.TEMPLATE) -> dict[str, dict[str, Any]]:
    """Each function's Timeout and MemorySize as the template sets them (Globals, then its own)."""
    data = yaml.load(template.read_text(), Loader=_Template)  # noqa: S506 - a SafeLoader
    defaults = data.get("Globals", {}).get("Function", {})
    out: dict[str, dict[str, Any]] = {}
    for name, logical in FUNCTIONS.items():
        props = data["Resources"][logical]["Properties"]
        out[name] = {key: props.get(key, defaults.get(key)) for key in ("Timeout", "MemorySize")}
    return out


# -- one cold invocation per scenario ------------------------------------------------------
def _reset(bed: TestBed) -> None:
    bed.reset()
    bed.lifecycle.stop_delay = STOP_DELAY
    bed.faults_neptune.set(latency=LATENCY)
    bed.faults_aws.set(latency=LATENCY)


def _clear_logs(bed: TestBed) -> None:
    bed.neptune_log.clear()
    bed.aws_log.clear()


def _guard(bed: TestBed, jobs: int, receiver: ResponseReceiver) -> tuple[dict[str, str], dict[str, Any], Workload]:
    _reset(bed)
    prepare_aws()
    env = stand_in_environment(bed.neptune_url)
    os.environ.update(env)  # the Create below runs in this process
    workload = seed_workload(bed, boto3.client("glue"), total=jobs, prefix=PREFIX)
    properties = {
        "NeptuneEndpoint": bed.neptune_url,
        "Kinds": "all",
        "JobIdPrefix": PREFIX,
        "GlueTransformIds": workload.transforms,
        "MaxWaitSeconds": "600",
    }
    stack = stack_id()
    import jobjanitor.guard.app as guard_app  # noqa: PLC0415 - the test bed's environment first

    guard_app._app = None
    os.environ["IDEMPOTENCY_TABLE_NAME"] = TABLE
    created = deliver(custom_resource_event("Create", properties, receiver=receiver, stack=stack), receiver)
    event = custom_resource_event(
        "Delete", properties, receiver=receiver, stack=stack, physical_id=created.body["PhysicalResourceId"]
    )
    put_stack(stack, "DELETE_IN_PROGRESS")  # as CloudFormation has it while it sends the Delete
    return {**env, "IDEMPOTENCY_TABLE_NAME": TABLE, "JOBJANITOR_POLL_MINUTES": "1"}, event, workload


def _hook(bed: TestBed, jobs: int) -> tuple[dict[str, str], dict[str, Any], Workload]:
    prepared = hook.prepare(bed, jobs)
    bed.lifecycle.stop_delay = STOP_DELAY
    env = dict(prepared.env)
    env[hook.ALLOWED_ENV] = ",".join(filter(None, [os.environ.get(hook.ALLOWED_ENV), env[hook.ALLOWED_ENV]]))
    return env, prepared.event, prepared.workload


def _sweeper(bed: TestBed, jobs: int) -> tuple[dict[str, str], dict[str, Any], Workload]:
    _reset(bed)
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    env = stand_in_environment(bed.neptune_url)
    # The stack's Neptune ML jobs carry its prefix, which extends the install's.
    stack_prefix = f"{PREFIX}stack-"
    workload = seed_workload(bed, boto3.client("glue"), total=jobs, prefix=stack_prefix, with_loads=False)
    tags = {f"{TAG_PREFIX}job-id-prefix": stack_prefix, f"{TAG_PREFIX}glue-transforms": ",".join(workload.transforms)}
    stack = stack_id("bench-sweeper")
    put_stack(stack, "DELETE_IN_PROGRESS", tags)
    event = {
        "version": "0",
        "id": "2c7e1f8a-9b3d-4e6f-a1c2-d3e4f5a6b7c8",
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": [stack],
        "detail": {"stack-id": stack, "status-details": {"status": "DELETE_IN_PROGRESS", "status-reason": "User"}},
    }
    env.update(
        {
            "IDEMPOTENCY_TABLE_NAME": TABLE,
            "JOBJANITOR_KINDS": "all",
            "JOBJANITOR_JOB_ID_PREFIX": PREFIX,
            "JOBJANITOR_GLUE_TRANSFORM_IDS": ",".join(workload.transforms),
            "JOBJANITOR_MAX_AGE": "1h",
            "JOBJANITOR_STACK_TAG_PREFIX": TAG_PREFIX,
            "JOBJANITOR_CLEAN": "false",
            "JOBJANITOR_DRY_RUN": "false",
        }
    )
    return env, event, workload


def _answer(name: str, answer: Any, receiver: ResponseReceiver, event: dict[str, Any]) -> str:
    """What the function answered, in a word (and why, when it was not a plain success)."""
    if name == "guard":
        responses = receiver.responses(event["RequestId"])
        if not responses:
            return "no response"
        body = responses[0].body
        return str(body["Status"]) if body["Status"] == "SUCCESS" else f"{body['Status']}: {body.get('Reason', '')}"
    if name == "hook":
        status = str(answer.get("hookStatus"))
        return status if status == "SUCCESS" else f"{status}: {answer.get('message', '')[:200]}"
    return "ok" if answer.get("ok") else f"not ok: {json.dumps(answer)[:200]}"


def invocation(
    bed: TestBed,
    name: str,
    jobs: int,
    *,
    memory_mb: int,
    deployed: Path,
    wrap: Callable[[list[str]], list[str]] | None,
    receiver: ResponseReceiver,
    timeout_s: float,
) -> dict[str, Any]:
    """One cold invocation of function ``name`` over ``jobs`` outstanding jobs."""
    if name == "guard":
        env, event, workload = _guard(bed, jobs, receiver)
    elif name == "hook":
        env, event, workload = _hook(bed, jobs)
    else:
        env, event, workload = _sweeper(bed, jobs)
    _clear_logs(bed)
    run = coldstart.invoke(
        FUNCTIONS[name],
        event,
        deployed=deployed,
        env={**TEMPLATE_DEFAULTS, **env},
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        wrap=wrap,
    )
    states = final_states(bed, workload)
    requests = Counter(e.operation for e in bed.neptune_log.entries() + bed.aws_log.entries())
    stopped = sum(1 for status in states.values() if status in STOPPED_OR_STOPPING)
    return {
        "jobs": workload.total,
        "answer_s": run["answer_s"],
        "import_s": run["import_s"],
        "cpu_s": run["cpu_s"],
        "gb_s": memory_mb / 1024 * run["answer_s"],
        "vmhwm_mb": run["vmhwm_mb"],
        "stopped": stopped,
        "requests": sum(requests.values()),
        "answer": _answer(name, run["answer"], receiver, event),
    }


def measure(
    bed: TestBed,
    *,
    sizes: Sequence[int] = cgroup.MEMORY_SIZES,
    teardown_jobs: int = TEARDOWN_JOBS,
    sweep_jobs: int = SWEEP_JOBS,
    functions: Sequence[str] = tuple(FUNCTIONS),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The table: for each MemorySize, each function's cold teardown and cold sweep."""
    settings = function_settings()
    rows: list[dict[str, Any]] = []
    environ = dict(os.environ)
    with coldstart.deployed_copy() as deployed, ResponseReceiver() as receiver:
        for mb in sizes:
            with cgroup.cpu_limit(mb) as limit:
                if isinstance(limit, str):
                    rows.append({"memory_mb": mb, "share": cgroup.share(mb), "skipped": limit})
                    continue
                row: dict[str, Any] = {"memory_mb": mb, "share": limit.share, "measured_share": limit.measured}
                for name in functions:
                    progress(f"{name} at {mb} MB ({limit.share:.3f} CPU)")
                    timeout = float(settings[name]["Timeout"])
                    row[name] = {
                        label: invocation(
                            bed,
                            name,
                            jobs,
                            memory_mb=mb,
                            deployed=deployed,
                            wrap=limit.command,
                            receiver=receiver,
                            timeout_s=timeout,
                        )
                        for label, jobs in (("teardown", teardown_jobs), ("sweep", sweep_jobs))
                        if jobs
                    }
                    os.environ.clear()
                    os.environ.update(environ)
                rows.append(row)
    return {
        "rows": rows,
        "teardown_jobs": teardown_jobs,
        "sweep_jobs": sweep_jobs,
        "latency_ms": LATENCY * 1000,
        "stop_delay": STOP_DELAY,
        "settings": settings,
        "hook_budget_s": hook.BUDGET_S,
    }


# -- choosing MemorySize -----------------------------------------------------------------
def fits(name: str, row: dict[str, Any], figures: dict[str, Any]) -> bool:
    """A MemorySize serves ``name``: its cold teardown answers within 5 s, everything stopped,
    and (the hook) its first invocation on the sweep's jobs cancels all of them within its budget."""
    if "skipped" in row or name not in row:
        return False
    teardown, sweep = row[name]["teardown"], row[name]["sweep"]
    ok = teardown["answer_s"] <= ANSWER_TARGET_S and teardown["stopped"] == teardown["jobs"]
    if name == "hook":
        ok = ok and sweep["answer_s"] <= figures["hook_budget_s"] and sweep["stopped"] == sweep["jobs"]
    return ok


def chosen(figures: dict[str, Any]) -> dict[str, int | None]:
    """Per function, the smallest (cheapest per second) MemorySize that :func:`fits`."""
    out: dict[str, int | None] = {}
    for name in FUNCTIONS:
        fitting = [row["memory_mb"] for row in figures["rows"] if fits(name, row, figures)]
        out[name] = min(fitting) if fitting else None
    return out


def main(argv: list[str]) -> None:
    from benchmarks.common import aws_environment  # noqa: PLC0415

    quick = "--quick" in argv
    teardown_only = "--teardown-only" in argv
    sizes = [int(a) for a in argv if a.isdigit()] or list(cgroup.MEMORY_SIZES)
    functions = [a for a in argv if a in FUNCTIONS] or list(FUNCTIONS)
    with TestBed() as bed:
        aws_environment(bed)
        figures = measure(
            bed,
            sizes=sizes,
            teardown_jobs=5 if quick else TEARDOWN_JOBS,
            sweep_jobs=0 if teardown_only else 40 if quick else SWEEP_JOBS,
            functions=functions,
            progress=lambda text: print(f"[share] {text}", file=sys.stderr, flush=True),
        )
    if not teardown_only and functions == list(FUNCTIONS):
        figures["chosen"] = chosen(figures)
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])


# -- docs/benchmarks.md ------------------------------------------------------------------
def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def target_rows(f: dict[str, Any]) -> list[str]:
    """Rows of the targets table: each function's MemorySize in the template is the one the
    table chooses, or none was measured (no cgroup)."""
    measured = [row for row in f["rows"] if "skipped" not in row]
    if not measured:
        reason = f["rows"][0]["skipped"] if f["rows"] else "no MemorySize was measured"
        return [f"| MemorySize chosen at Lambda's CPU share | not measured: {reason} | **missed** |"]
    picks = f.get("chosen") or chosen(f)
    settings = function_settings()  # the template as it is now
    cells = []
    ok = True
    for name, pick in picks.items():
        template = settings[name]["MemorySize"]
        cells.append(f"{name} {template} MB (table: {pick if pick else 'none fits'})")
        ok = ok and pick is not None and int(template) == pick
    return [
        f"| each function's MemorySize in template.yaml is the cheapest at which a cold {f['teardown_jobs']}-job teardown "
        f"answers within {ANSWER_TARGET_S:.0f} s (and the hook's first invocation cancels {f['sweep_jobs']:,} jobs within "
        f"its {f['hook_budget_s']:.0f} s) at Lambda's CPU share | {', '.join(cells)} | {_met(ok)} |"
    ]


def _cell(run: dict[str, Any]) -> str:
    stopped = "" if run["stopped"] == run["jobs"] else f", **{run['stopped']}/{run['jobs']} stopped**"
    answer = "" if run["answer"] in ("SUCCESS", "ok") else f", {run['answer'][:80]}"
    return f"{run['answer_s']:.1f} s ({run['import_s']:.1f}) | {run['cpu_s']:.2f} | {run['gb_s']:.2f}{stopped}{answer}"


def section(f: dict[str, Any], number: int) -> list[str]:
    """docs/benchmarks.md's section on Lambda's CPU share."""
    lines = [
        f"## {number}. At Lambda's CPU share: MemorySize",
        "",
        "Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB. Each row runs",
        "the measured process in a cgroup whose CPU quota is MemorySize / 1769 of one CPU (`benchmarks/cgroup.py`;",
        "the share a busy loop got in it is in brackets), from a read-only copy of the built artifact, cold: a",
        "fresh interpreter that imports the handler and answers one event (`benchmarks/share.py`). Times are",
        "from the process's start (in brackets: when its imports were done) to the handler's answer; CPU",
        "seconds are the whole process's; GB-s is MemorySize times that time, what Lambda bills for a cold",
        f"invocation (${PRICE_PER_GB_S * 1e6:.2f} per million GB-s on arm64). Teardown: {f['teardown_jobs']} outstanding jobs; sweep:",
        f"{f['sweep_jobs']:,}; {f['latency_ms']:.0f} ms added to every request, a cancelled job stops {f['stop_delay']:g} s after its cancel.",
        "guard: CloudFormation's Delete of a stack's guard; hook: its first invocation on `DELETE_PRE_PROVISION` of a",
        "stack's Neptune cluster; sweeper: a stack deletion whose tags declare its scope (never loads).",
        "",
        "| MemorySize (CPU) | function | teardown: answer (imports) | CPU s | GB-s | sweep: answer (imports) | CPU s | GB-s | peak memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in f["rows"]:
        if "skipped" in row:
            lines.append(
                f"| {row['memory_mb']} MB ({row['share']:.3f}) | all | skipped: {row['skipped']} | | | | | | |"
            )
            continue
        measured = row.get("measured_share")
        share = f"{row['share']:.3f}" + (f", got {measured:.3f}" if measured is not None else "")
        for name in FUNCTIONS:
            if name not in row:
                continue
            teardown, sweep = row[name]["teardown"], row[name]["sweep"]
            peak = max(teardown["vmhwm_mb"], sweep["vmhwm_mb"])
            lines.append(
                f"| {row['memory_mb']} MB ({share}) | {name} | {_cell(teardown)} | {_cell(sweep)} | {peak:.0f} MB |"
            )
    picks = f.get("chosen") or chosen(f)
    lines += [
        "",
        f"**MemorySize chosen**: per function, the smallest MemorySize at which the cold {f['teardown_jobs']}-job teardown",
        f"answers within {ANSWER_TARGET_S:.0f} s with every job stopped and, for the hook, the first invocation on {f['sweep_jobs']:,} jobs",
        f"cancels all of them within CloudFormation's {f['hook_budget_s']:.0f} s. A larger MemorySize costs more per second; a",
        "CPU-bound invocation takes proportionally less time, so its GB-s stay about level, while the time spent",
        "waiting for jobs to stop is billed at the larger size. Chosen here: "
        + ", ".join(f"{name} {pick} MB" if pick else f"{name}: none fits" for name, pick in picks.items())
        + f"; template.yaml: {', '.join(f'{n} {s["MemorySize"]} MB' for n, s in function_settings().items())}.",
        "",
    ]
    return lines
