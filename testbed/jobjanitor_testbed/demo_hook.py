"""``make demo``'s scene 2: a stack that has no guard deletes its Neptune cluster and Glue ML
transform. The teardown hook (CloudFormation Lambda Hook, DELETE_PRE_PROVISION) stops every job
on them first, and deletes the inference endpoint made through the cluster (the hook takes a
configured cluster's endpoints with it: docs/hook.md); the other stack's jobs and endpoint on
the first cluster are left alone."""

from __future__ import annotations

import os
from typing import Any

import boto3

from jobjanitor_testbed import demo_sagemaker as ds
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.demo_print import Style, heading, table
from jobjanitor_testbed.hook_driver import HookDriver, attach_cluster, create_stack, delete_stack
from jobjanitor_testbed.neptune import NeptuneEmulator

HOOK_STACK = "graph-pipeline"
HEADERS = ("kind", "job or endpoint id", "status", "SageMaker says")


def _start(neptune: Any, glue: Any, emulator: NeptuneEmulator, transform: str) -> dict[str, list[str]]:
    """Jobs of every kind on the cluster and the transform, any owner, any id (the whole cluster
    is going away), and an inference endpoint from a finished model."""
    jobs: dict[str, list[str]] = {}
    for kind in sc.ML_KINDS:
        training = jobs["neptune-ml-training"][0] if kind == "neptune-ml-transform" else None
        jobs[kind] = [
            sc.start_ml_job(neptune, kind, f"pipeline-{kind.removeprefix('neptune-ml-')}", training_job_id=training)
        ]
    jobs["neptune-loader"] = [sc.start_load(neptune), sc.start_load(neptune)]
    jobs["glue-ml-task-run"] = [str(glue.start_ml_evaluation_task_run(TransformId=transform)["TaskRunId"])]
    model = emulator.seed_ml_job("modeltraining", "pipeline-model", status="Completed")
    jobs[ds.KIND] = [ds.create_endpoint(neptune, "pipeline-endpoint", model)]
    return jobs


def _rows(
    services: tuple[Any, Any, Any],
    jobs: dict[str, list[str]],
    transform: str,
    endpoints: ds.Endpoints,
    verdicts: dict[tuple[str, str], str] | None = None,
) -> list[tuple[str, ...]]:
    neptune, glue, sagemaker = services
    found = sc.statuses(neptune, glue, {k: v for k, v in jobs.items() if k != ds.KIND}, transform)
    found.update({(ds.KIND, e): ds.endpoint_status(neptune, e) for e in jobs.get(ds.KIND, [])})
    rows: list[tuple[str, ...]] = []
    for (kind, job_id), status in found.items():
        row = (kind, job_id, status, ds.sagemaker_state(sagemaker, neptune, kind, job_id, endpoints))
        rows.append(row if verdicts is None else (*row, verdicts.get((kind, job_id), "")))
    return rows


def hook_scene(
    style: Style, bed: Any, earlier_services: Any, earlier: sc.Scenario, verdicts: dict[tuple[str, str], str]
) -> list[str]:
    """Scene 2 (module docstring); the problems found."""
    problems: list[str] = []
    heading(style, f"Scene 2: stack {HOOK_STACK!r} has no guard; the account's teardown hook is on (Fail)")
    glue, sagemaker = earlier_services.glue, earlier_services.sagemaker
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
        jobs = _start(neptune, glue, emulator, transform)
        endpoints = ds.Endpoints()
        for endpoint_id in jobs[ds.KIND]:
            endpoints.add(neptune, endpoint_id, in_scope=True)
        services = (neptune, glue, sagemaker)
        print(table(_rows(services, jobs, transform, endpoints), HEADERS))

        heading(style, f"CloudFormation: DeleteStack {HOOK_STACK} (the hook runs before each targeted resource)")
        deletion = delete_stack(HOOK_STACK, HookDriver(failure_mode="FAIL"))
        for logical_id, run in deletion.runs.items():
            for i, answer in enumerate(run.answers, 1):
                print(f"  {logical_id} invocation {i}: {answer['hookStatus']}: {answer['message']}")
            if run.status != "SUCCESS":
                problems.append(f"the hook answered {run.status} for {logical_id}: {run.reason}")
        print(f"  stack status: {deletion.status}")
        if deletion.status != "DELETE_COMPLETE":
            problems.append(f"the stack ended {deletion.status}")
        # The hook does not wait for an endpoint it deleted (SageMaker deletes it with or without
        # the cluster): the demo does, before it looks.
        waited = ds.wait_gone(neptune, endpoints.in_scope, timeout=bed.lifecycle.stop_delay + 10.0)
        if waited >= 0.1:
            print(f"  (the endpoint's deletion finished {waited:.1f}s after the stack's: the hook did not wait)")
        problems += _hook_final_states(
            style, services=services, jobs=jobs, transform=transform, endpoints=endpoints, verdicts=verdicts
        )
        problems += ds.endpoint_problems(emulator, neptune, sagemaker, endpoints, who="the hook")
    problems += _untouched(earlier_services, bed, earlier)
    return problems


def _hook_final_states(
    style: Style,
    *,
    services: tuple[Any, Any, Any],
    jobs: dict[str, list[str]],
    transform: str,
    endpoints: ds.Endpoints,
    verdicts: dict[tuple[str, str], str],
) -> list[str]:
    heading(style, "Final states")
    shown = {k: v for k, v in jobs.items() if k != "glue-ml-task-run"}
    rows = _rows(services, shown, transform, endpoints, verdicts)
    print(table(rows, (*HEADERS, "the hook's verdict")))
    print(f"  (the transform's run was stopped before the transform was deleted: {len(jobs['glue-ml-task-run'])})")
    still = sc.in_states({(r[0], r[1]): r[2] for r in rows if r[0] != ds.KIND}, sc.STOPPED)
    return [f"jobs on the deleted cluster not stopped: {still}"] if still else []


def _untouched(services: Any, bed: Any, earlier: sc.Scenario) -> list[str]:
    """Scene 1's other-stack jobs and endpoint, on the first cluster: still running."""
    problems: list[str] = []
    neptune, glue = services.neptune, services.glue
    untouched = sc.in_states(
        sc.statuses(neptune, glue, earlier.out_of_scope, earlier.transform_id, earlier.other_transform_id), sc.RUNNING
    )
    if untouched:
        problems.append(f"the hook touched jobs on another cluster: {untouched}")
    other = ds.Endpoints(out_of_scope=services.endpoints.out_of_scope, sagemaker=services.endpoints.sagemaker)
    problems += ds.endpoint_problems(bed.neptune, neptune, services.sagemaker, other, who="the hook")
    print(
        f"  scene 1's other-stack jobs and endpoints on the first cluster: {earlier.count('out_of_scope')} job(s)"
        f" still running, {len(other.out_of_scope)} endpoint(s) in service"
    )
    return problems
