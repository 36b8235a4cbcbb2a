"""``make demo`` with Neptune ML inference endpoints (issue 22): the pipeline stack's endpoint is
created with CreateMLEndpoint, deleted by the guard at teardown and gone from SageMaker; the
other stack's endpoint survives; the final tables show what SageMaker says of every job and
endpoint, and the guard's (and the hook's) verdict on the bill. The demo runs as ``make demo``
runs it (its main, in a process of its own); moto, in that same process, is then asked which
SageMaker endpoints are left."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobjanitor_testbed import demo_sagemaker as ds
from jobjanitor_testbed.scenario import ACCOUNT, ROLE
from jobjanitor_testbed.server import TestBed

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# The demo's own main, then moto's SageMaker endpoints as the demo's process left them.
RUN = f"""
import json, sys
from jobjanitor_testbed import demo, moto_sagemaker
rc = demo.main(sys.argv[1:])
print("MOTO-ENDPOINTS=" + json.dumps(sorted(moto_sagemaker.backend_for({ACCOUNT!r}, "us-east-1").endpoints)))
sys.exit(rc)
"""
FAST = ["--no-color", "--stop-delay", "1", "--latency-ms", "0"]


def run_demo(*args: str) -> tuple[int, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JOBJANITOR_"))}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", RUN, *FAST, *args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    left = re.search(r"^MOTO-ENDPOINTS=(.*)$", out, re.MULTILINE)
    assert left, f"the demo did not get to the end:\n{out}\n{done.stderr[-3000:]}"
    return done.returncode, out, json.loads(left.group(1))


def row(out: str, *cells: str) -> bool:
    """A table line with these cells, in this order, separated by the table's spacing."""
    return re.search(r"^  " + r"\s{2,}".join(map(re.escape, cells)) + r"\s*$", out, re.MULTILINE) is not None


def test_the_demo_deletes_the_stacks_endpoint_and_shows_what_sagemaker_says() -> None:
    rc, out, left = run_demo()
    assert rc == 0, out
    assert '"_aws"' not in out  # no metrics line among the guard's answers (metrics are off)
    # The guard opts in to inference endpoints by name, scoped by the stack's job-id prefix.
    kinds = "neptune-ml-dataprocessing,neptune-ml-training,neptune-ml-transform,neptune-loader,glue-ml-task-run"
    assert f'"Kinds": "{kinds},neptune-ml-endpoint", "JobIdPrefix": "demo-stack-"' in out
    # Before: the endpoints the pipelines made, up (or coming up) in Neptune and in SageMaker alike.
    before = out.split("== CloudFormation: Create")[0]
    for endpoint_id, scope in (("demo-stack-endpoint", "in scope"), ("stack-b-endpoint", "other stack")):
        assert any(row(before, ds.KIND, endpoint_id, scope, s, f"endpoint {s}") for s in ds.LIVE), before
    assert "guard | cancel neptune-ml-endpoint demo-stack-endpoint: cancelled (Deleting)" in out
    assert "guard | stopped neptune-ml-endpoint demo-stack-endpoint: cancelled; billing stopped" in out
    final = out.split("== Final states")[1].split("== Scene 2")[0]
    assert row(
        final, "neptune-ml-endpoint", "demo-stack-endpoint", "in scope", "gone", "endpoint deleted", "billing stopped"
    )
    assert row(final, "neptune-ml-endpoint", "stack-b-endpoint", "other stack", "InService", "endpoint InService")
    assert row(
        final,
        "neptune-ml-training",
        "demo-stack-neptune-ml-training-0",
        "in scope",
        "Stopped",
        "Stopped (processing, tuning)",
        "billing stopped",
    )
    assert row(
        final,
        "neptune-ml-transform",
        "demo-stack-neptune-ml-transform-0",
        "in scope",
        "Stopped",
        "Stopped (processing, transform)",
        "billing stopped",
    )
    assert row(
        final,
        "neptune-ml-training",
        "stack-b-neptune-ml-training-0",
        "other stack",
        "InProgress",
        "InProgress (processing, tuning)",
    )
    assert re.search(r"^  neptune-loader\s+\S+\s+in scope\s+LOAD_CANCELLED_BY_USER\s+-$", final, re.MULTILINE)
    # Scene 2: the hook deletes the unguarded cluster's endpoint with the cluster.
    hook = out.split("== Scene 2")[1]
    assert "hook  | cancel neptune-ml-endpoint pipeline-endpoint: cancelled (Deleting)" in hook
    assert row(
        hook.split("== Final states")[1],
        "neptune-ml-endpoint",
        "pipeline-endpoint",
        "gone",
        "endpoint deleted",
        "billing stopped",
    )
    assert "1 endpoint(s) in service" in hook
    # README.md's sample of the final table is what the demo prints.
    sample = README.read_text(encoding="utf-8").split("```text\n== Final states (")[1].split("```")[0]
    lines = out.splitlines()
    for line in ("== Final states (" + sample).splitlines():
        assert line in lines, f"README.md's sample line is not in the demo's output: {line!r}"
    # And in moto, after it all: only the other stack's SageMaker endpoint is left.
    assert left == ["stack-b-endpoint-endpoint"], left


def test_the_demo_fails_naming_the_endpoint_when_the_guard_leaves_it() -> None:
    # Kinds "all" never includes inference endpoints: the guard stops the jobs and leaves it.
    rc, out, left = run_demo("--kinds", "all")
    assert rc == 1, out
    assert "FAIL: the guard left in-scope endpoint demo-stack-endpoint: Neptune says InService" in out
    assert (
        "FAIL: the guard left in-scope endpoint demo-stack-endpoint: "
        "SageMaker endpoint demo-stack-endpoint-endpoint is InService" in out
    )
    assert "OK:" not in out
    assert "demo-stack-endpoint-endpoint" in left


def test_an_out_of_scope_endpoint_deleted_is_named_as_touched(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    model = testbed.neptune.seed_ml_job("modeltraining", "stack-b-model", status="Completed")
    endpoints = ds.Endpoints()
    for endpoint_id, in_scope in (("demo-stack-endpoint", True), ("stack-b-endpoint", False)):
        ds.create_endpoint(neptune_client, endpoint_id, model)
        endpoints.add(neptune_client, endpoint_id, in_scope=in_scope)
    problems = ds.endpoint_problems(testbed.neptune, neptune_client, sagemaker_client, endpoints)
    assert [p for p in problems if "stack-b-endpoint" in p] == []
    assert any("left in-scope endpoint demo-stack-endpoint" in p for p in problems)
    neptune_client.delete_ml_endpoint(id="stack-b-endpoint", neptuneIamRoleArn=ROLE)
    problems = ds.endpoint_problems(testbed.neptune, neptune_client, sagemaker_client, endpoints)
    assert any(p.startswith("the guard touched out-of-scope endpoint stack-b-endpoint") for p in problems), problems
