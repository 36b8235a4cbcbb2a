"""A handler in another process than the test bed's gets what a guard needs: a configured cluster
(``jobjanitor-testbed --cluster NAME``) and its stack's status (``POST /testbed/stacks``).

The test bed runs as a command (``--background``); the guard's handler runs in a third
process, a harness script as a user would write one, driving it as CloudFormation would
(``jobjanitor_testbed.guard_driver``) with only the test bed's URLs in its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobjanitor_testbed.pytest_plugin import make_client
from jobjanitor_testbed.sigv4 import ACCESS_KEY, SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/ml-pipeline/5b2f0a10-8c3e-11ef-9a4b-0affd3c2e5a1"

HARNESS = textwrap.dedent(
    """
    import json, os, sys
    from jobjanitor_testbed.cfn import ResponseReceiver, custom_resource_event
    from jobjanitor_testbed.guard_driver import deliver, prepare_aws

    props = json.loads(os.environ["GUARD_PROPERTIES"])
    step = sys.argv[1]
    with ResponseReceiver() as receiver:
        if step == "create":
            prepare_aws()
            event = custom_resource_event("Create", props, receiver=receiver, stack=os.environ["STACK"])
        else:
            event = custom_resource_event(
                "Delete", props, receiver=receiver, stack=os.environ["STACK"], physical_id=os.environ["PHYSICAL_ID"]
            )
        # stack_status=None: the stack's status is the test bed's (POST /testbed/stacks), not set here.
        print(json.dumps(deliver(event, receiver, stack_status=None).body))
    """
)


def post(url: str, path: str, body: object) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start() -> dict[str, str]:
    started = subprocess.run(
        [sys.executable, "-m", "jobjanitor_testbed", "--cluster", "ml-graph", "--stop-delay", "0.3", "--background"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(line.split("=", 1) for line in started.stdout.split())


@pytest.fixture
def bed() -> Iterator[dict[str, str]]:
    lines = start()
    yield lines
    os.kill(int(lines["pid"]), 15)


@pytest.fixture(scope="module")
def shared_bed() -> Iterator[dict[str, str]]:
    lines = start()
    yield lines
    os.kill(int(lines["pid"]), 15)


def harness(bed: dict[str, str], step: str, props: dict[str, Any], **extra: str) -> dict[str, Any]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "JOBJANITOR_", "POWERTOOLS_"))
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": bed["aws"],
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,  # the credentials the test bed's Neptune accepts
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "IDEMPOTENCY_TABLE_NAME": "jobjanitor-idempotency",
            "JOBJANITOR_NEPTUNE_CLUSTERS": "ml-graph",
            "JOBJANITOR_ALLOWED_ENDPOINTS": bed["neptune"],
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "GUARD_PROPERTIES": json.dumps(props),
            "STACK": STACK,
            **extra,
        }
    )
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", HARNESS, step], capture_output=True, text=True, timeout=240, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_guard_in_another_process_is_served_by_the_test_beds_cluster_and_stack(bed: dict[str, str]) -> None:
    assert bed["cluster"] == "ml-graph"
    cluster = make_client("neptune", bed["aws"]).describe_db_clusters(DBClusterIdentifier="ml-graph")["DBClusters"][0]
    assert f"http://{cluster['Endpoint']}:{cluster['Port']}" == bed["neptune"]
    neptune = make_client("neptunedata", bed["neptune"])
    neptune.start_ml_model_training_job(id="5b2f0a10-train", dataProcessingJobId="d", trainModelS3Location="s3://t")
    neptune.start_ml_model_training_job(id="other-train", dataProcessingJobId="d", trainModelS3Location="s3://t")
    props = {
        "NeptuneEndpoint": bed["neptune"],
        "Kinds": "neptune-ml-training",
        "JobIdPrefix": "5b2f0a10-",
        "MaxWaitSeconds": "120",
    }
    created = harness(bed, "create", props)
    assert created["Status"] == "SUCCESS", created
    assert created["Data"]["Outstanding"] == "1"

    status, answer = post(bed["neptune"], "/testbed/stacks", {"stackId": STACK, "status": "DELETE_IN_PROGRESS"})
    assert (status, answer) == (200, {"stackId": STACK, "status": "DELETE_IN_PROGRESS"})
    deleted = harness(bed, "delete", props, PHYSICAL_ID=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS", deleted
    assert deleted["Data"]["Cancelled"] == "1"
    assert neptune.get_ml_model_training_job(id="5b2f0a10-train")["status"] in ("Stopping", "Stopped")
    assert neptune.get_ml_model_training_job(id="other-train")["status"] == "InProgress"


def test_a_stack_the_test_bed_does_not_know_as_deleting_is_not_swept(bed: dict[str, str]) -> None:
    neptune = make_client("neptunedata", bed["neptune"])
    neptune.start_ml_model_training_job(id="5b2f0a10-train", dataProcessingJobId="d", trainModelS3Location="s3://t")
    props = {"NeptuneEndpoint": bed["neptune"], "Kinds": "neptune-ml-training", "JobIdPrefix": "5b2f0a10-"}
    created = harness(bed, "create", props)
    post(bed["neptune"], "/testbed/stacks", {"stackId": STACK, "status": "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"})
    answer = harness(bed, "delete", props, PHYSICAL_ID=created["PhysicalResourceId"])
    assert answer["Status"] == "SUCCESS", answer
    assert "not being deleted" in answer["Data"]["Skipped"]
    assert neptune.get_ml_model_training_job(id="5b2f0a10-train")["status"] == "InProgress"


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("/testbed/stacks", {"stackId": STACK, "status": "GONE"}, 400, "status: not a CloudFormation stack status"),
        ("/testbed/stacks", {"stackId": "ml-pipeline", "status": "DELETE_IN_PROGRESS"}, 400, "stackId: not a stack"),
        ("/testbed/stacks", {"status": "DELETE_IN_PROGRESS"}, 400, "stackId: required"),
        ("/testbed/clusters", {"name": "1-graph"}, 400, "name: not a Neptune cluster identifier"),
        ("/testbed/jobs", {"kind": "neptune-ml-training", "ageSeconds": -1}, 400, "ageSeconds: must be a number"),
        ("/testbed/jobs", {"kind": "glue-ml-task-run", "transformId": "tfm-none"}, 400, "tfm-none"),
        ("/testbed/nothing", {}, 404, "no test bed endpoint /testbed/nothing"),
    ],
)
def test_a_bad_control_request_names_its_field(
    shared_bed: dict[str, str], path: str, body: dict[str, Any], status: int, text: str
) -> None:
    got, answer = post(shared_bed["neptune"], path, body)
    assert got == status, answer
    assert text in answer["message"]
