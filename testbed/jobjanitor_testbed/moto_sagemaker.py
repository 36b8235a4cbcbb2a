"""The SageMaker jobs underneath Neptune ML jobs, kept in moto's own SageMaker backend.

Each Neptune ML job runs on SageMaker jobs, and its Get names them (``processingJob``,
``hpoJob``, ``baseProcessingJob``, ``remoteModelTransformJob``: name, arn, status). The
Neptune emulator creates those jobs in moto's process-wide SageMaker backend through
:func:`create_linked`, so ``boto3.client("sagemaker")`` pointed at the test bed's moto server
describes them, with ``CreationTime`` taken from the test bed's clock (the Neptune job's start).

moto 5.2.5 creates every job ``Completed`` at once, and implements StopProcessingJob only
(it flips the job to ``Stopped``). :func:`install` extends moto's backend and response classes
in place, the way :mod:`jobjanitor_testbed.moto_glue` extends Glue:

- A linked job's status is read from its Neptune ML job on every Describe/List (InProgress,
  Stopping, Stopped, Completed, Failed: the same strings), with its end time and
  LastModifiedTime; ``FailureReason`` when Failed. A List reads the jobs it answers from: the
  page of processing, training or transform jobs moto slices before it filters; the page of
  tuning jobs moto picked, or every tuning job when it filters or sorts by status or
  LastModifiedTime.
- StopProcessingJob (replaced), StopTrainingJob, StopTransformJob and
  StopHyperParameterTuningJob (added): stopping an InProgress linked job cancels its Neptune ML
  job (so the Neptune job and all its SageMaker jobs go Stopping, then Stopped). Stopping a job
  already Stopping changes nothing. Stopping a finished job gives ValidationException ("The
  request was rejected because the <kind> job is in status <status>."); an unknown name gives
  moto's ValidationException ("Could not find ... job '<arn>'.").
- Every SageMaker time moto stamps (CreationTime of jobs made through the SageMaker API too)
  follows ``lifecycle.DEFAULT.clock``.

Cancelling the Neptune ML job needs no call here: the SageMaker status is derived from it.

Neptune ML inference endpoints (:func:`create_endpoint`) are a SageMaker model, endpoint
config and endpoint, made through moto's own backend methods with the test bed's clock as
their CreationTime. The endpoint's ``EndpointStatus`` is read from its Neptune endpoint on
every DescribeEndpoint/ListEndpoints (Creating, InService, Updating, Failed, Deleting: the same
strings); once the Neptune endpoint's deletion has finished, the endpoint is removed from moto
(and, unless the Neptune side leaves them behind, its config and model: see
:mod:`jobjanitor_testbed.neptune_endpoints`). A DeleteEndpoint sent to SageMaker directly
removes the endpoint only, as SageMaker does; the Neptune side is not told.

Not modelled: the phases of a real Neptune ML job (a training job's processing step ends
before its tuning job starts; here all its SageMaker jobs share one status and one
CreationTime); the training jobs a tuning job launches beyond the one made here; training's
``modelTransformJob``; SageMaker's own lists show linked statuses only as of the last
Describe/List/Stop that refreshed them.
"""

from __future__ import annotations

import calendar
import hashlib
import inspect
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import moto.sagemaker.models as sm_models
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from jobjanitor_testbed import lifecycle

__all__ = [
    "EndpointLink",
    "Link",
    "SageMakerEndpoint",
    "SageMakerJob",
    "create_endpoint",
    "create_linked",
    "install",
    "remove_endpoint",
    "remove_linked",
    "sagemaker_name",
]

# resource type in the ARN -> (backend collection, status attribute, end-time attribute, noun in messages)
_RESOURCES: dict[str, tuple[str, str, str, str]] = {
    "processing-job": ("processing_jobs", "processing_job_status", "processing_end_time", "processing"),
    "training-job": ("training_jobs", "training_job_status", "training_end_time", "training"),
    "transform-job": ("transform_jobs", "transform_job_status", "transform_end_time", "transform"),
    "hyper-parameter-tuning-job": (
        "hyper_parameter_tuning_jobs",
        "hyper_parameter_tuning_job_status",
        "hyper_parameter_tuning_end_time",
        "hyper parameter tuning",
    ),
}
# Guards the link table and job creation. Lock order: the Neptune emulator's state lock, then
# this one; refreshes and stops never take this lock (they call into the Neptune state).
_LOCK = threading.RLock()
_INSTALLED = False


def _clock_now() -> datetime:
    """moto's ``utcnow`` (a naive UTC datetime), from the test bed's clock."""
    return datetime.fromtimestamp(lifecycle.DEFAULT.now(), tz=UTC).replace(tzinfo=None)


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Link:
    """How a SageMaker job follows its Neptune ML job.

    ``state()`` -> (status, end epoch or None, failure reason or None); ``stop()`` cancels the
    Neptune ML job (it is only called while the job is InProgress).
    """

    state: Callable[[], tuple[str, float | None, str | None]]
    stop: Callable[[], None]
    owner: object = None  # the emulator state the Neptune job lives in


@dataclass(frozen=True)
class SageMakerJob:
    """One SageMaker job a Neptune ML job runs on: its Get member, resource type, name and ARN."""

    member: str
    resource: str
    name: str
    arn: str


def _links(backend: SageMakerModelBackend) -> dict[tuple[str, str], Link]:
    # Kept on the backend object, so moto's reset (which re-initialises backends) drops them.
    links: dict[tuple[str, str], Link] | None = backend.__dict__.get("jobjanitor_links")
    if links is None:
        links = {}
        backend.__dict__["jobjanitor_links"] = links
    return links


def backend_for(account: str, region: str) -> SageMakerModelBackend:
    return sagemaker_backends[account][region]  # type: ignore[no-any-return]


def sagemaker_name(base: str, suffix: str, limit: int = 63) -> str:
    """``base-suffix`` if it fits SageMaker's name limit, else a shortened base plus a digest."""
    name = f"{base}-{suffix}" if suffix else base
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = limit - len(digest) - 1
    return f"{name[:keep].rstrip('-')}-{digest}"


def _make(backend: SageMakerModelBackend, resource: str, name: str, role: str, output: str) -> Any:
    """Create one job through moto's own backend methods (moto fills in its defaults)."""
    if resource == "processing-job":
        return backend.create_processing_job(
            app_specification={"ImageUri": "neptune-ml-processing"},
            experiment_config={},
            network_config={},
            processing_inputs=[],
            processing_job_name=name,
            processing_output_config={"Outputs": [{"OutputName": "output", "S3Output": {"S3Uri": output}}]},
            role_arn=role,
            tags=[],
            stopping_condition={},
        )
    if resource == "training-job":
        return backend.create_training_job(
            training_job_name=name,
            hyper_parameters={},
            algorithm_specification={"TrainingInputMode": "File", "TrainingImage": "neptune-ml-training"},
            role_arn=role,
            input_data_config=[],
            output_data_config={"S3OutputPath": output},
            resource_config={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            vpc_config={},
            stopping_condition={"MaxRuntimeInSeconds": 86400},
            tags=[],
            enable_network_isolation=False,
            enable_inter_container_traffic_encryption=False,
            enable_managed_spot_training=False,
            checkpoint_config={},
            debug_hook_config={},
            debug_rule_configurations=[],
            tensor_board_output_config={},
            experiment_config={},
        )
    if resource == "transform-job":
        return backend.create_transform_job(
            transform_job_name=name,
            model_name=f"{name}-model",
            max_concurrent_transforms=1,
            model_client_config={},
            max_payload_in_mb=6,
            batch_strategy="MultiRecord",
            environment={},
            transform_input={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": output}}},
            transform_output={"S3OutputPath": output},
            data_capture_config={},
            transform_resources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            data_processing={},
            tags={},
            experiment_config={},
        )
    backend.create_hyper_parameter_tuning_job(
        hyper_parameter_tuning_job_name=name,
        hyper_parameter_tuning_job_config={
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
        },
        training_job_definition={"RoleArn": role, "OutputDataConfig": {"S3OutputPath": output}},
        training_job_definitions=None,
        warm_start_config=None,
        tags=None,
        autotune=None,
    )
    return backend.hyper_parameter_tuning_jobs[name]


def create_linked(
    account: str,
    region: str,
    jobs: list[tuple[str, str, str]],
    *,
    created: float,
    link: Link,
    role: str,
    output: str,
) -> list[SageMakerJob]:
    """Create SageMaker jobs ``(member, resource, name)`` in moto, all following ``link``.

    ``created`` (epoch seconds) becomes their CreationTime. A name already taken is replaced
    (moto keeps one job per name, as SageMaker does).
    """
    install()
    backend = backend_for(account, region)
    made: list[SageMakerJob] = []
    with _LOCK:
        links = _links(backend)
        for member, resource, planned in jobs:
            name = planned
            taken = links.get((resource, name))
            if taken is not None and taken.owner is not link.owner:
                # Another emulator in this process (another cluster) has a job with this id: the
                # SageMaker names of one account and region are one namespace, so tell them apart.
                tag = hashlib.sha256(f"{id(link.owner)}".encode()).hexdigest()[:6]
                limit = 32 if resource == "hyper-parameter-tuning-job" else 63
                name = sagemaker_name(planned, tag, limit)
            collection = getattr(backend, _RESOURCES[resource][0])
            collection.pop(name, None)  # the tuning job refuses a taken name; a re-seeded id replaces it
            job = _make(backend, resource, name, role, output)
            job.creation_time = _naive(created)
            links[(resource, name)] = link
            _refresh(backend, resource, job)
            made.append(SageMakerJob(member, resource, name, job.arn))
            if resource == "hyper-parameter-tuning-job":
                # The training job the tuning job launched, named as SageMaker names them.
                child = sagemaker_name(name, f"001-{hashlib.sha256(name.encode()).hexdigest()[:8]}")
                backend.training_jobs.pop(child, None)
                trained = _make(backend, "training-job", child, role, output)
                trained.creation_time = _naive(created)
                links[("training-job", child)] = link
                _refresh(backend, "training-job", trained)
                job.best_training_job = dict(job.best_training_job, TrainingJobName=child, TrainingJobArn=trained.arn)
                job.OverallBestTrainingJob = dict(
                    job.OverallBestTrainingJob, TrainingJobName=child, TrainingJobArn=trained.arn
                )
    return made


def remove_linked(account: str, region: str, jobs: list[SageMakerJob]) -> None:
    """Drop linked jobs from moto (the Neptune emulator's reset)."""
    backend = backend_for(account, region)
    with _LOCK:
        links = _links(backend)
        for job in jobs:
            names = [job.name]
            if job.resource == "hyper-parameter-tuning-job":
                names += [n for (r, n) in links if r == "training-job" and n.startswith(f"{job.name}-001-")]
            for name in names:
                resource = job.resource if name == job.name else "training-job"
                links.pop((resource, name), None)
                getattr(backend, _RESOURCES[resource][0]).pop(name, None)


def _refresh(backend: SageMakerModelBackend, resource: str, job: Any) -> None:
    """Copy the linked Neptune job's state onto moto's job object (no-op for unlinked jobs)."""
    link = _links(backend).get((resource, getattr(job, _NAME_ATTR[resource])))
    if link is not None:
        _apply(resource, job, link)


def _apply(resource: str, job: Any, link: Link) -> None:
    status, end, failure = link.state()
    _, status_attr, end_attr, _ = _RESOURCES[resource]
    setattr(job, status_attr, status)
    setattr(job, end_attr, None if end is None else _naive(end))
    job.last_modified_time = _naive(end) if end is not None else job.creation_time
    job.failure_reason = failure or ""
    if resource == "training-job":
        job.secondary_status = {"InProgress": "Training"}.get(status, status)
        job.training_start_time = job.creation_time
    if resource == "transform-job":
        job.transform_start_time = job.creation_time
    if resource == "hyper-parameter-tuning-job":
        done = status == "Completed"
        job.training_job_status_counters = dict(
            job.training_job_status_counters,
            Completed=int(done),
            InProgress=int(status in ("InProgress", "Stopping")),
            Stopped=int(status == "Stopped"),
        )


# The name attribute of moto's job object, by resource type.
_NAME_ATTR = {
    "processing-job": "processing_job_name",
    "training-job": "training_job_name",
    "transform-job": "transform_job_name",
    "hyper-parameter-tuning-job": "hyper_parameter_tuning_job_name",
}


def _refresh_named(backend: SageMakerModelBackend, resource: str, name: Any) -> None:
    job = getattr(backend, _RESOURCES[resource][0]).get(name)
    if job is not None:
        _refresh(backend, resource, job)


def _refresh_jobs(backend: SageMakerModelBackend, resource: str, jobs: list[Any]) -> None:
    links = _links(backend)
    name_attr = _NAME_ATTR[resource]
    for job in jobs:
        link = links.get((resource, getattr(job, name_attr)))
        if link is not None:
            _apply(resource, job, link)


def _read_by_listing(backend: SageMakerModelBackend, resource: str, params: dict[str, Any]) -> list[Any]:
    """The jobs moto's listing of ``resource`` reads. moto 5 lists processing, training and
    transform jobs by slicing its collection (in creation order) at ``NextToken`` for
    ``MaxResults`` first and filtering that slice after, so only the slice is read (at 20,000
    seeded jobs, refreshing every job on every page was most of the test bed's CPU); the tuning
    jobs' listing filters and sorts them all first (by a refreshed member: see ``_listing``).
    Every job when unsure."""
    jobs = getattr(backend, _RESOURCES[resource][0]).values()
    max_results, token = params.get("max_results"), params.get("next_token")
    if resource == "hyper-parameter-tuning-job" or not max_results:
        return list(jobs)
    try:
        start = int(token) if token else 0
        # islice, not a copy of every job: at 15,000 jobs the copy was a third of a page's CPU
        return list(itertools.islice(jobs, start, start + int(max_results)))
    except (TypeError, ValueError):  # moto refuses the token (or it is negative): refresh all
        return list(jobs)


def _stop(backend: SageMakerModelBackend, resource: str, name: str) -> None:
    collection_name, status_attr, end_attr, noun = _RESOURCES[resource]
    job = getattr(backend, collection_name).get(name)
    if job is None:
        arn = sm_models.arn_formatter(resource, name, backend.account_id, backend.region_name)
        raise ValidationError(message=f"Could not find {noun} job '{arn}'.")
    _refresh(backend, resource, job)
    status = getattr(job, status_attr)
    if status == "Stopping":
        return
    if status != "InProgress":
        raise ValidationError(message=f"The request was rejected because the {noun} job is in status {status}.")
    link = _links(backend).get((resource, name))
    if link is not None:
        link.stop()
        _refresh(backend, resource, job)
    else:  # a job made through moto's SageMaker API and set InProgress by hand
        setattr(job, status_attr, "Stopped")
        setattr(job, end_attr, _clock_now())


# -- inference endpoints ---------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointLink:
    """How a SageMaker endpoint follows its Neptune ML endpoint: ``state()`` is the Neptune
    endpoint's status now (None once its deletion has finished: the call removes it)."""

    state: Callable[[], str | None]
    owner: object = None


@dataclass(frozen=True)
class SageMakerEndpoint:
    """The SageMaker resources under one Neptune ML endpoint (names as GetMLEndpoint gives them)."""

    endpoint: str
    endpoint_arn: str
    config: str
    config_arn: str
    model: str
    model_arn: str


def _endpoint_links(backend: SageMakerModelBackend) -> dict[str, EndpointLink]:
    links: dict[str, EndpointLink] | None = backend.__dict__.get("jobjanitor_endpoint_links")
    if links is None:
        links = {}
        backend.__dict__["jobjanitor_endpoint_links"] = links
    return links


def create_endpoint(
    account: str,
    region: str,
    base: str,
    *,
    created: float,
    link: EndpointLink,
    role: str,
    instance_type: str,
    instance_count: int,
    kms_key: str | None = None,
) -> SageMakerEndpoint:
    """Create ``<base>-model``, ``<base>-config`` and the endpoint ``<base>`` in moto, dated
    ``created``; the endpoint's status follows ``link``. Names already taken are replaced."""
    install()
    backend = backend_for(account, region)
    with _LOCK:
        links = _endpoint_links(backend)
        taken = links.get(base)
        if taken is not None and taken.owner is not link.owner:
            base = sagemaker_name(base, hashlib.sha256(f"{id(link.owner)}".encode()).hexdigest()[:6])
        model_name, config_name = sagemaker_name(base, "model"), sagemaker_name(base, "config")
        _drop_model(backend, model_name)
        backend.endpoint_configs.pop(config_name, None)
        backend.endpoints.pop(base, None)
        model = backend.create_model(
            model_name=model_name,
            execution_role_arn=role,
            primary_container={"Image": "neptune-ml-inference"},
            vpc_config=None,
            containers=None,
            tags=None,
        )
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": model_name,
            "InstanceType": instance_type,
            "InitialInstanceCount": instance_count,
        }
        config = backend.create_endpoint_config(
            endpoint_config_name=config_name,
            production_variants=[variant],
            data_capture_config={},
            async_inference_config={},
            tags=[],
            kms_key_id=kms_key or "",
        )
        endpoint = backend.create_endpoint(endpoint_name=base, endpoint_config_name=config_name, tags=[])
        for made in (model, config, endpoint):
            made.creation_time = _naive(created)
        endpoint.last_modified_time = endpoint.creation_time
        links[base] = link
        _refresh_endpoint(backend, base)
        return SageMakerEndpoint(base, endpoint.arn, config_name, config.endpoint_config_arn, model_name, model.arn)


def remove_endpoint(account: str, region: str, made: SageMakerEndpoint, *, config_and_model: bool = True) -> None:
    """Delete the endpoint from moto (as its deletion finishes), and its config and model
    unless ``config_and_model`` is False. Already gone (deleted through SageMaker) is fine."""
    backend = backend_for(account, region)
    with _LOCK:
        _endpoint_links(backend).pop(made.endpoint, None)
        backend.endpoints.pop(made.endpoint, None)
        if config_and_model:
            backend.endpoint_configs.pop(made.config, None)
            _drop_model(backend, made.model)


def _drop_model(backend: SageMakerModelBackend, name: str) -> None:
    if any(model.model_name == name for model in backend.list_models()):
        backend.delete_model(name)


def _refresh_endpoint(backend: SageMakerModelBackend, name: Any) -> None:
    link = _endpoint_links(backend).get(name)
    if link is None:
        return
    status = link.state()  # may remove the endpoint (its Neptune deletion finished)
    endpoint = backend.endpoints.get(name)
    if endpoint is None or status is None:
        return
    if endpoint.endpoint_status != status:
        endpoint.endpoint_status = status
        endpoint.last_modified_time = _clock_now()
    endpoint.failure_reason = "Neptune ML endpoint failed" if status == "Failed" else None


def _describing_endpoint(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: SageMakerModelBackend, endpoint_name: str) -> Any:
        _refresh_endpoint(self, endpoint_name)
        return original(self, endpoint_name)

    describe.__wrapped__ = original  # type: ignore[attr-defined]
    return describe


def _listing_endpoints(original: Callable[..., Any]) -> Callable[..., Any]:
    def listing(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        for name in list(_endpoint_links(self)):
            _refresh_endpoint(self, name)
        return original(self, *args, **kwargs)

    listing.__wrapped__ = original  # type: ignore[attr-defined]
    return listing


# -- backend and response methods ------------------------------------------------------------
def _describing(resource: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def describe(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        name = args[0] if args else next(iter(kwargs.values()), None)
        _refresh_named(self, resource, name)
        return original(self, *args, **kwargs)

    describe.__wrapped__ = original  # type: ignore[attr-defined]
    return describe


# The tuning jobs' listing filters on these refreshed members (and sorts by status on request).
_TUNING_BY_STATE = ("status_equals", "last_modified_time_after", "last_modified_time_before")


def _listing(resource: str, original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def listing(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
        by_state = args or any(map(kwargs.get, _TUNING_BY_STATE)) or kwargs.get("sort_by") == "Status"
        if resource == "hyper-parameter-tuning-job" and not by_state:
            # moto picks the page by name, times and arn: refresh the page it picked only (the
            # response builds the summaries after this returns).
            page, token = original(self, *args, **kwargs)
            _refresh_jobs(self, resource, list(page))
            return page, token
        try:
            params = signature.bind_partial(self, *args, **kwargs).arguments
        except TypeError:  # moto will refuse the call too (or its paginator takes the token)
            params = {}
        _refresh_jobs(self, resource, _read_by_listing(self, resource, params))
        return original(self, *args, **kwargs)

    listing.__wrapped__ = original  # type: ignore[attr-defined]
    return listing


def _stopper(resource: str) -> Callable[..., None]:
    def stop(self: SageMakerModelBackend, name: str) -> None:
        _stop(self, resource, name)

    return stop


def _r_stopper(method: str, param: str) -> Callable[[SageMakerResponse], ActionResult]:
    def respond(self: SageMakerResponse) -> ActionResult:
        getattr(self.sagemaker_backend, method)(self._get_param(param))
        return EmptyResult()

    return respond


def install() -> None:
    """Extend moto's SageMaker classes (idempotent, process-wide)."""
    global _INSTALLED  # noqa: PLW0603 - one-shot patch of process-global moto classes
    if _INSTALLED:  # set last, once every class is extended: no lock on each fast answer
        return
    with _LOCK:
        if _INSTALLED:
            return
        sm_models.utcnow = _clock_now  # every time moto's SageMaker stamps follows the test bed's clock
        for resource, describe, listing in (
            ("processing-job", "describe_processing_job", "list_processing_jobs"),
            ("training-job", "describe_training_job", "list_training_jobs"),
            ("transform-job", "describe_transform_job", "list_transform_jobs"),
            (
                "hyper-parameter-tuning-job",
                "describe_hyper_parameter_tuning_job",
                "list_hyper_parameter_tuning_jobs",
            ),
        ):
            setattr(SageMakerModelBackend, describe, _describing(resource, getattr(SageMakerModelBackend, describe)))
            setattr(SageMakerModelBackend, listing, _listing(resource, getattr(SageMakerModelBackend, listing)))
        for resource, method, param in (
            ("processing-job", "stop_processing_job", "ProcessingJobName"),
            ("training-job", "stop_training_job", "TrainingJobName"),
            ("transform-job", "stop_transform_job", "TransformJobName"),
            ("hyper-parameter-tuning-job", "stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
        ):
            setattr(SageMakerModelBackend, method, _stopper(resource))
            setattr(SageMakerResponse, method, _r_stopper(method, param))
        SageMakerModelBackend.describe_endpoint = _describing_endpoint(SageMakerModelBackend.describe_endpoint)  # type: ignore[method-assign]
        SageMakerModelBackend.list_endpoints = _listing_endpoints(SageMakerModelBackend.list_endpoints)  # type: ignore[method-assign]
        _INSTALLED = True


# -- listings answered without moto's dispatcher ---------------------------------------------
# operation -> the backend method moto's response calls
_FAST_LISTINGS = {
    "ListProcessingJobs": "list_processing_jobs",
    "ListTrainingJobs": "list_training_jobs",
    "ListTransformJobs": "list_transform_jobs",
}
FAST_OPERATIONS = frozenset({*_FAST_LISTINGS, "DescribeProcessingJob", "ListHyperParameterTuningJobs"})
# request member -> the backend's parameter; the time filters are left to moto's own path
_FAST_PARAMS = {"MaxResults": "max_results", "NextToken": "next_token", "NameContains": "name_contains"}
_SORTS = {"SortBy": ("Name", "CreationTime", "Status"), "SortOrder": ("Ascending", "Descending")}
_STATUSES = ("Completed", "Stopped", "InProgress", "Stopping", "Failed")


def fast_answer(operation: str, body: bytes, account: str, region: str) -> bytes | None:
    """The JSON answer to a List{Processing,Training,Transform,HyperParameterTuning}Jobs or
    DescribeProcessingJob request, from the same backend method moto's response calls, serialized as moto serializes
    it (the output shape's members that are not None, times as epoch seconds to the
    millisecond); None: for moto's own path (another operation, a parameter or value that path
    checks or refuses, a time filter, any failure).

    moto's dispatcher and model-driven serializer cost several milliseconds per page of 100
    summaries: at 20,000 jobs the test bed's CPU per request would measure moto, not the client.
    """
    method = _FAST_LISTINGS.get(operation)
    if operation == "DescribeProcessingJob":
        params = _describe_params(body)
        method = "describe_processing_job"
    elif operation == "ListHyperParameterTuningJobs":
        params = _tuning_params(body)
        method = "list_hyper_parameter_tuning_jobs"
    else:
        params = _fast_params(body) if method is not None else None
    if method is None or params is None:
        return None
    install()
    try:
        backend = backend_for(account, region)
        listed = _LISTED.get(operation)
        if listed:  # already as moto's serializer writes it
            return json.dumps(_page(backend, *listed, params)).encode()
        result = getattr(backend, method)(**params)
    except Exception:  # moto's own path answers it (with its error)
        return None
    if operation == "ListHyperParameterTuningJobs":  # as moto's response builds it
        jobs, token = result
        result = {"HyperParameterTuningJobSummaries": [job.summary() for job in jobs], "NextToken": token}
    return json.dumps(_shaped(result, _output_shape(operation))).encode()


# operation -> its resource, the summaries' prefix (moto 5 lists the three alike)
_LISTED = {
    "ListProcessingJobs": ("processing-job", "Processing"),
    "ListTrainingJobs": ("training-job", "Training"),
    "ListTransformJobs": ("transform-job", "Transform"),
}


def _page(backend: SageMakerModelBackend, resource: str, prefix: str, params: dict[str, Any]) -> dict[str, Any]:
    """What moto 5's list_{processing,training,transform}_jobs returns for ``params`` (no time
    filters), after the same refresh of the jobs it reads (``_listing``), without its copy of
    every job on each page (at 15,000 jobs, most of a page's CPU): the slice at ``NextToken`` for
    ``MaxResults`` in creation order, filtered after, the next index unless the slice reached the
    end. Raises where moto refuses the token (its own path answers the refusal), or a negative one.
    Shaped as :func:`_shaped` would shape it (no None member, times as epoch seconds), without
    its walk of the output shape for every value."""
    collection, status_attr, end_attr, _ = _RESOURCES[resource]
    jobs, name_attr = getattr(backend, collection), _NAME_ATTR[resource]
    token, max_results = params["next_token"], params["max_results"]
    start = int(token) if token else 0
    if not 0 <= start <= len(jobs):
        raise ValueError(token)
    end = start + max_results if max_results else len(jobs)
    page = list(itertools.islice(jobs.values(), start, end))
    _refresh_jobs(backend, resource, page)
    name_contains, status = params["name_contains"], params["status_equals"]
    summaries = [
        {
            key: _epoch_seconds(value) if isinstance(value, datetime) else value
            for key, value in (
                (f"{prefix}JobName", getattr(job, name_attr)),
                (f"{prefix}JobArn", job.arn),
                ("CreationTime", job.creation_time),
                (f"{prefix}EndTime", getattr(job, end_attr)),
                ("LastModifiedTime", job.last_modified_time),
                (f"{prefix}JobStatus", getattr(job, status_attr)),
            )
            if value is not None
        }
        for job in page
        if (name_contains is None or name_contains in getattr(job, name_attr))
        and (status is None or getattr(job, status_attr) == status)
    ]
    listing: dict[str, Any] = {f"{prefix}JobSummaries": summaries}
    if end < len(jobs):
        listing["NextToken"] = str(end)
    return listing


_TUNING_PARAMS = {
    "NextToken": "next_token",
    "MaxResults": "max_results",
    "SortBy": "sort_by",
    "SortOrder": "sort_order",
    "NameContains": "name_contains",
    "StatusEquals": "status_equals",
}


def _tuning_params(body: bytes) -> dict[str, Any] | None:
    """What moto's response passes its backend (unchecked), without the time filters."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(request, dict) or not set(request) <= set(_TUNING_PARAMS):
        return None
    times = ("creation_time_after", "creation_time_before", "last_modified_time_after", "last_modified_time_before")
    return {arg: request.get(member) for member, arg in _TUNING_PARAMS.items()} | dict.fromkeys(times)


def _describe_params(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    name = (
        request.get("ProcessingJobName")
        if isinstance(request, dict) and set(request) == {"ProcessingJobName"}
        else None
    )
    return {"processing_job_name": name} if isinstance(name, str) else None


@cache
def _output_shape(operation: str) -> Any:
    return _service_model().operation_model(operation).output_shape


@cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _fast_params(body: bytes) -> dict[str, Any] | None:
    """The backend's arguments for a request moto's response would pass unchanged, else None."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(request, dict) or not set(request) <= {*_FAST_PARAMS, *_SORTS, "StatusEquals"}:
        return None
    max_results, status = request.get("MaxResults"), request.get("StatusEquals")
    usual = (
        (max_results is None or (type(max_results) is int and 1 <= max_results <= 100))
        and all(request.get(key, allowed[1]) in allowed for key, allowed in _SORTS.items())
        and (status is None or status in _STATUSES)
        and all(isinstance(request.get(key, ""), str) for key in ("NextToken", "NameContains"))
    )
    if not usual:
        return None
    times = ("creation_time_after", "creation_time_before", "last_modified_time_after", "last_modified_time_before")
    return (
        {arg: request.get(member) for member, arg in _FAST_PARAMS.items()}
        | dict.fromkeys(times)
        | {"status_equals": status}
    )


def _shaped(value: Any, shape: Any) -> Any:
    """``value`` as moto's JSON serializer writes it for ``shape``: a structure's members that
    are set and not None, lists and maps member by member, times as epoch seconds."""
    if shape.type_name == "structure":
        members = shape.members
        return {
            name: _shaped(item, members[name]) for name, item in value.items() if item is not None and name in members
        }
    if shape.type_name == "list":
        return [_shaped(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: _shaped(item, shape.value) for key, item in value.items()}
    if isinstance(value, datetime):
        return _epoch_seconds(value)
    return value


def _epoch_seconds(value: datetime) -> float:
    """moto's unixtimestamp: whole seconds of the naive (UTC) time, truncated to milliseconds."""
    seconds = calendar.timegm(value.timetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
