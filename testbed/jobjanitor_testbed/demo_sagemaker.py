"""``make demo``'s SageMaker side: the inference endpoints a pipeline makes, and what SageMaker
(moto) says of every job and endpoint at the end.

- :func:`create_endpoints`: a stack's pipeline puts a Neptune ML inference endpoint up from its
  finished training job with the real CreateMLEndpoint API (id under the stack's prefix);
  another stack does the same from its own model (an endpoint that must survive).
- :func:`sagemaker_state`: what SageMaker says now, read with SageMaker's own Describe calls on
  the names Neptune's Get gave: the status of the SageMaker jobs under a Neptune ML job, with
  their types (``Stopped (processing, tuning)``), or the endpoint's status, or ``deleted`` once
  SageMaker no longer knows it; ``-`` for loads and Glue runs (no SageMaker under them).
- :func:`endpoint_problems`: what the demo fails on: an in-scope endpoint left in Neptune or in
  SageMaker, an out-of-scope endpoint deleted or touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from jobjanitor.billing import MISSING, STATUS_KEYS
from jobjanitor.model import UnderlyingJob
from jobjanitor.sagemaker_dating import SAGEMAKER_DESCRIBE, sagemaker_job

from jobjanitor_testbed import scenario as sc

KIND = "neptune-ml-endpoint"
GONE = "gone"  # Neptune's Get no longer knows the endpoint
DELETED = "deleted"  # SageMaker's DescribeEndpoint no longer knows it
LIVE = frozenset({"Creating", "InService"})
# Neptune ML Get operation of each kind: its answer names the SageMaker jobs doing the work.
ML_GETS = {
    "neptune-ml-dataprocessing": "get_ml_data_processing_job",
    "neptune-ml-training": "get_ml_model_training_job",
    "neptune-ml-transform": "get_ml_model_transform_job",
}
# How the table names each SageMaker job type (an ARN's resource type).
SHORT = {
    "processing-job": "processing",
    "hyper-parameter-tuning-job": "tuning",
    "training-job": "training",
    "transform-job": "transform",
}
NOT_FOUND = frozenset({"InvalidParameterException", "MLResourceNotFoundException"})


@dataclass
class Endpoints:
    """Inference endpoint ids by scope, and the SageMaker endpoint GetMLEndpoint named for each
    (kept: once the endpoint is gone, Neptune no longer names it)."""

    in_scope: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)
    sagemaker: dict[str, str] = field(default_factory=dict)

    def add(self, neptune: Any, endpoint_id: str, *, in_scope: bool) -> None:
        (self.in_scope if in_scope else self.out_of_scope).append(endpoint_id)
        self.sagemaker[endpoint_id] = str(neptune.get_ml_endpoint(id=endpoint_id)["endpoint"]["name"])


def create_endpoint(neptune: Any, endpoint_id: str, training_job_id: str) -> str:
    """CreateMLEndpoint from a finished model-training job, as a pipeline's last step does."""
    neptune.create_ml_endpoint(
        id=endpoint_id, mlModelTrainingJobId=training_job_id, modelName="rgcn", neptuneIamRoleArn=sc.ROLE
    )
    return endpoint_id


def create_endpoints(neptune: Any, bed: Any, jobs: sc.Scenario, *, prefix: str, other_prefix: str) -> Endpoints:
    """The stack's endpoint (``<prefix>endpoint``) from its finished training job, and the other
    stack's (``<other_prefix>endpoint``) from a finished training job of its own, which joins
    ``jobs.finished``."""
    endpoints = Endpoints()
    own_model = jobs.finished["neptune-ml-training"][0]
    other_model = bed.neptune.seed_ml_job(
        "modeltraining",
        f"{other_prefix}neptune-ml-training-done-0",
        started_at=bed.lifecycle.now() - 7200,
        status="Completed",
    )
    jobs.finished["neptune-ml-training"].append(other_model)
    endpoints.add(neptune, create_endpoint(neptune, f"{prefix}endpoint", own_model), in_scope=True)
    endpoints.add(neptune, create_endpoint(neptune, f"{other_prefix}endpoint", other_model), in_scope=False)
    return endpoints


def endpoint_status(neptune: Any, endpoint_id: str) -> str:
    """GetMLEndpoint's status, or :data:`GONE` when Neptune no longer knows the endpoint."""
    try:
        return str(neptune.get_ml_endpoint(id=endpoint_id)["status"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            return GONE
        raise


def _described(sagemaker: Any, method: str, status_key: str, **name: str) -> str:
    try:
        return str(getattr(sagemaker, method)(**name)[status_key])
    except ClientError as error:
        if MISSING in str(error):
            return DELETED
        raise


def sagemaker_state(sagemaker: Any, neptune: Any, kind: str, job_id: str, endpoints: Endpoints) -> str:
    """What SageMaker says now of a job's SageMaker jobs or of an endpoint (module docstring)."""
    if kind == KIND:
        name = endpoints.sagemaker[job_id]
        return f"endpoint {_described(sagemaker, 'describe_endpoint', 'EndpointStatus', EndpointName=name)}"
    get = ML_GETS.get(kind)
    if get is None:
        return "-"
    answer = getattr(neptune, get)(id=job_id)
    seen: dict[str, list[str]] = {}
    for member, sub in answer.items():
        if not isinstance(sub, dict) or not sub.get("name"):
            continue
        found = sagemaker_job(UnderlyingJob(member, str(sub["name"]), sub.get("arn")))
        if found is None:
            continue
        resource, name = found
        method, parameter = SAGEMAKER_DESCRIBE[resource]
        status = _described(sagemaker, method, STATUS_KEYS[resource], **{parameter: name})
        seen.setdefault(status, []).append(SHORT[resource])
    return "; ".join(f"{status} ({', '.join(types)})" for status, types in seen.items()) or "-"


def wait_gone(neptune: Any, endpoint_ids: list[str], *, timeout: float) -> float:
    """Wait (at most ``timeout`` seconds) until Neptune no longer knows the endpoints; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(endpoint_status(neptune, e) == GONE for e in endpoint_ids):
            break
        time.sleep(0.25)
    return time.monotonic() - started


def endpoint_problems(
    emulator: Any, neptune: Any, sagemaker: Any, endpoints: Endpoints, *, who: str = "the guard"
) -> list[str]:
    """An in-scope endpoint left (in Neptune or in SageMaker); an out-of-scope one touched."""
    problems: list[str] = []
    for endpoint_id in endpoints.in_scope:
        status = endpoint_status(neptune, endpoint_id)
        if status != GONE:
            problems.append(f"{who} left in-scope endpoint {endpoint_id}: Neptune says {status}")
        name = endpoints.sagemaker[endpoint_id]
        left = _described(sagemaker, "describe_endpoint", "EndpointStatus", EndpointName=name)
        if left != DELETED:
            problems.append(f"{who} left in-scope endpoint {endpoint_id}: SageMaker endpoint {name} is {left}")
    for endpoint_id in endpoints.out_of_scope:
        status = endpoint_status(neptune, endpoint_id)
        name = endpoints.sagemaker[endpoint_id]
        in_sagemaker = _described(sagemaker, "describe_endpoint", "EndpointStatus", EndpointName=name)
        deletes = emulator.ml_endpoint(endpoint_id).delete_count
        if status not in LIVE or in_sagemaker not in LIVE or deletes:
            problems.append(
                f"{who} touched out-of-scope endpoint {endpoint_id}: Neptune says {status}, "
                f"SageMaker endpoint {name} is {in_sagemaker}, {deletes} DeleteMLEndpoint(s)"
            )
    return problems
