"""A local Neptune data-API stand-in: bulk-loader and Neptune ML job management over HTTP.

An unmodified ``boto3.client("neptunedata", endpoint_url=emulator.url, ...)`` talks to it.
Paths, query parameters, bodies and output keys follow botocore's ``neptunedata`` model
(2023-08-01); error statuses are read from that model.

Operations
----------
- Loader: StartLoaderJob ``POST /loader``, ListLoaderJobs ``GET /loader``
  (``limit`` 1-100, default 100; ``includeQueuedLoads`` default true; queued loads first,
  then the others, each group most recent first), GetLoaderJobStatus ``GET /loader/{loadId}``
  or ``GET /loader?loadId=ID`` (``details``, ``errors``, ``page``, ``errorsPerPage``),
  CancelLoaderJob ``DELETE /loader/{loadId}`` or ``DELETE /loader?loadId=ID``.
- ML, for kind in dataprocessing / modeltraining / modeltransform: Start ``POST /ml/<kind>``
  (caller may choose ``id``: 1-48 letters, digits or hyphens, else 400
  InvalidParameterException; a transform's ``mlModelTrainingJobId`` must name an existing
  training job, its ``trainingJobName`` an existing SageMaker training job, else 400
  BadRequestException), List ``GET /ml/<kind>`` (``maxItems`` 1-1024, default 10; most
  recent first), Get ``GET /ml/<kind>/{id}``, Cancel ``DELETE /ml/<kind>/{id}`` (``clean``
  parsed case-insensitively).
- ML inference endpoints: CreateMLEndpoint ``POST /ml/endpoints``, ListMLEndpoints
  ``GET /ml/endpoints``, GetMLEndpoint ``GET /ml/endpoints/{id}``, DeleteMLEndpoint
  ``DELETE /ml/endpoints/{id}``: see :mod:`jobjanitor_testbed.neptune_endpoints` (with a
  SageMaker endpoint, endpoint config and model underneath, in moto).
- Every other operation of the model (engine status, queries, streams, statistics...): 400
  UnsupportedOperationException, which the model declares for all of them.

Lifecycle (lazy, computed from ``lifecycle.clock`` on every read; no background threads)
-------------------------------------------------------------------------------------
- ML: InProgress until ``job_duration`` after its start, then Completed. Cancel ->
  Stopping for ``stop_delay`` seconds, then Stopped. Cancel of a Stopping job answers
  Stopping again and changes nothing (the clean flag is OR-ed in). A successful cancel
  answers ``{"status": "Stopping"}`` (real Neptune's string is not confirmed).
- Loads: one load runs at a time. StartLoaderJob with ``queueRequest=true`` while another
  load is outstanding -> LOAD_IN_QUEUE; it starts (LOAD_IN_PROGRESS) when the one before it
  ends. Without ``queueRequest`` while a load is outstanding -> 400 BadRequestException
  ("Max concurrent load limit breached"), as Neptune documents. At most 64 queued loads.
  A load completes (LOAD_COMPLETED) ``job_duration`` after it started running; cancel ->
  LOAD_CANCELLED_BY_USER at once. Only the most recent 1,024 loads are kept.
  ``overallStatus.startTime`` is epoch seconds (int) of when the load started running, or
  of when it was submitted while it is still queued.

Errors
------
JSON ``{"code", "requestId", "detailedMessage", "message"}`` with the model's HTTP status:
- unknown or finished load on Get/Cancel: 404 BulkLoadIdNotFoundException.
- unknown ML id (Get/Cancel) or cancel of a finished ML job: 400 InvalidParameterException
  (the Neptune ML guide's behaviour), or, with ``ml_not_found_style="404"``, 404
  MLResourceNotFoundException (what the SDK model declares).
- ``limit``/``maxItems`` out of range or not an integer, malformed booleans: 400
  InvalidParameterException (Neptune documents that exception for "an invalid or
  out-of-range value ... for some input parameter"; BadRequestException is its catch-all).
- missing required body members: 400 MissingParameterException; malformed JSON body:
  400 BadRequestException; a path no operation has: 400 BadRequestException; a path of an
  operation with a method none has: 405 MethodNotAllowedException.
- Faults (:class:`~jobjanitor_testbed.faults.Faults`) answer only with codes the model
  declares for the operation: throttling, random or by the service-side rate limit
  (``faults.limit_rate``: one token bucket per API, see :func:`operation_family`), is 429
  TooManyRequestsException (declared by all);
  the random "error" fault is 500 InternalFailureException where declared, else 408
  ClientTimeoutException (the ML operations declare no 500); injecting an undeclared code for
  a named operation is a ValueError. AccessDeniedException (IAM) is the one undeclared code
  allowed: Neptune sends it.
- IAM DB authentication (on unless ``iam=False``): every Neptune request's SigV4 signature is
  verified (:mod:`jobjanitor_testbed.sigv4`: the test bed's credentials, ``neptune-db``, the
  emulator's region, the date within 5 minutes, the signature recomputed from the request as
  received); a request that fails is answered 403 AccessDeniedException, as Neptune answers
  "Authentication or authorization failure". The test bed's own ``/testbed/*`` endpoints are
  not Neptune's and are not checked.

Endpoints of one cluster, and a stopped cluster
-----------------------------------------------
The emulator's own URL is the cluster (writer) endpoint. :meth:`NeptuneEmulator.add_listener`
opens another endpoint of the same cluster (same jobs, faults and log): a reader endpoint or a
reader instance's endpoint (``read_only=True``: what starts or cancels a job answers
:data:`READ_REPLICA_ERROR`, 405 MethodNotAllowedException: Neptune answers a cancel on a read
replica with 405, which code it sends is not confirmed), or the writer instance's. Each log entry
names the listener that took it (``endpoint``). ``stopped = True`` is a stopped cluster: every
listener closes each connection without an answer (logged as dropped, fault ``stopped``); the
jobs stay as they are (``jobjanitor_testbed.clusters.stop_cluster`` also marks the cluster
``stopped`` in DescribeDBClusters).

SageMaker underneath (see :mod:`jobjanitor_testbed.moto_sagemaker`)
-------------------------------------------------------------------
Starting or seeding an ML job starts the SageMaker jobs it runs on, in moto's SageMaker
backend, with CreationTime = the job's start (the test bed's clock): dataprocessing ->
processing job ``<id>-dataprocessing`` (``processingJob``); modeltraining -> processing job
``<id>-training-prep`` (``processingJob``) and tuning job ``<id>-hpo`` (``hpoJob``, which
launched one training job ``<hpo>-001-<hex>``); modeltransform -> processing job
``<id>-transform-prep`` (``baseProcessingJob``) and a transform job ``<id>-transform``
(``remoteModelTransformJob``; ``remote_transform_job="processing-job"`` makes it a processing
job instead: which one real Neptune runs is not documented). Names longer than SageMaker allows
(63, tuning jobs 32) are shortened with a digest. Their status follows the Neptune job's; the
Get members carry their name, arn and status. The model's Get outputs have no time member, and
the emulator sends none: a job's age is its SageMaker jobs' CreationTime.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.loaders import Loader

from . import moto_sagemaker, neptune_endpoints, sigv4
from .clock import FakeClock
from .faults import Decision, Faults, LogEntry, RequestLog, sleep_latency
from .httpfast import FastParseMixin
from .lifecycle import DEFAULT, Lifecycle

ML_KINDS: dict[str, str] = {
    "dataprocessing": "MLDataProcessingJob",
    "modeltraining": "MLModelTrainingJob",
    "modeltransform": "MLModelTransformJob",
}
LOADER = "loader"
CLOCK_PATH = "/testbed/clock"
CONTROL_PREFIX = "/testbed/"

ML_OUTSTANDING = frozenset({"InProgress", "Stopping"})
ML_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
LOAD_OUTSTANDING = frozenset({"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"})
LOAD_FORMATS = frozenset({"csv", "opencypher", "ntriples", "nquads", "rdfxml", "turtle"})
MAX_LOADS_KEPT = 1024
MAX_QUEUED_LOADS = 64

_ML_REQUIRED = {
    "dataprocessing": ("inputDataS3Location", "processedDataS3Location"),
    "modeltraining": ("dataProcessingJobId", "trainModelS3Location"),
    "modeltransform": ("modelTransformOutputS3Location",),
}
# The Neptune ML guide's errors page: "ID can be 1-48 alphanumeric characters" and "Must contain
# only letters, digits, or hyphens".
ML_ID = re.compile(r"[A-Za-z0-9-]{1,48}")
ML_ID_CHARS = re.compile(r"[A-Za-z0-9-]*")
ROLE = "arn:aws:iam::{account}:role/neptune-ml-sagemaker"
_LOG_GROUP = {
    "processing-job": "ProcessingJobs",
    "training-job": "TrainingJobs",
    "hyper-parameter-tuning-job": "TrainingJobs",
    "transform-job": "TransformJobs",
}
# (kind, Get member) -> the Start parameter its outputLocation echoes.
_OUTPUT_PARAM = {
    ("dataprocessing", "processingJob"): "processedDataS3Location",
    ("modeltraining", "hpoJob"): "trainModelS3Location",
    ("modeltransform", "remoteModelTransformJob"): "modelTransformOutputS3Location",
}


@cache
def error_statuses() -> dict[str, int]:
    """Exception name -> HTTP status, from botocore's neptunedata model."""
    model = Loader().load_service_model("neptunedata", "service-2")
    return {
        name: shape["error"]["httpStatusCode"]
        for name, shape in model["shapes"].items()
        if shape.get("exception") and "error" in shape
    }


@cache
def operation_errors() -> dict[str, list[str]]:
    """Operation name -> the exception names botocore's model declares for it."""
    model = Loader().load_service_model("neptunedata", "service-2")
    return {name: [e["shape"] for e in op.get("errors", [])] for name, op in model["operations"].items()}


# Sent by Neptune with IAM authentication on (and by the emulator's IAM mode) though the model
# declares it for no operation.
UNDECLARED_BUT_SENT = frozenset({"AccessDeniedException"})


def declared_errors(operation: str) -> frozenset[str] | None:
    """The codes a fault may answer ``operation`` with (None for a name the model lacks)."""
    codes = operation_errors().get(operation)
    return None if codes is None else frozenset(codes) | UNDECLARED_BUT_SENT


def server_error(operation: str | None, message: str) -> NeptuneError:
    """A 5xx-style failure the operation declares: InternalFailureException (500) where the model
    declares it, else ClientTimeoutException (408, which the model marks retryable): the ML
    operations declare no 500."""
    codes = operation_errors().get(operation or "", [])
    if not codes or "InternalFailureException" in codes:
        return NeptuneError("InternalFailureException", message, 500)
    return NeptuneError("ClientTimeoutException", message, 408)


@cache
def _model_routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, operation) for every operation of the model."""
    model = Loader().load_service_model("neptunedata", "service-2")
    routes = []
    for name, op in model["operations"].items():
        uri = op["http"]["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\{[^}]+\\+\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", pattern)
        routes.append((op["http"]["method"], re.compile(pattern), name))
    return tuple(routes)


class NeptuneError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else error_statuses().get(code, 400)


# --------------------------------------------------------------------------- jobs


@dataclass
class MLJob:
    kind: str
    id: str
    started_at: float
    duration: float
    params: dict[str, Any] = field(default_factory=dict)
    pinned_status: str | None = None  # seeded status, held until cancelled
    cancelled_at: float | None = None
    stop_delay: float = 0.0
    clean: bool | None = None
    cancel_count: int = 0
    sagemaker: list[moto_sagemaker.SageMakerJob] = field(default_factory=list)

    def status(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "Stopping" if now < self.cancelled_at + self.stop_delay else "Stopped"
        if self.pinned_status is not None:
            return self.pinned_status
        return "Completed" if now >= self.started_at + self.duration else "InProgress"

    def ended_at(self, now: float) -> float | None:
        """When the job reached its terminal status, or None while it is outstanding."""
        status = self.status(now)
        if status == "Stopped" and self.cancelled_at is not None:
            return self.cancelled_at + self.stop_delay
        if status in ML_TERMINAL:
            return self.started_at if self.pinned_status is not None else self.started_at + self.duration
        return None


@dataclass
class Load:
    id: str
    submitted_at: float
    duration: float
    source: str = "s3://bucket/data"
    fmt: str = "csv"
    status: str = "LOAD_IN_PROGRESS"
    started_at: float | None = None
    ended_at: float | None = None
    pinned: bool = False  # seeded status: never advances on its own (cancel still works)
    cancelled_at: float | None = None
    cancel_count: int = 0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobView:
    """What a test can inspect about one job (``kind`` is ``"loader"`` or an ML kind)."""

    kind: str
    id: str
    status: str
    started_at: float | None
    cancelled_at: float | None
    clean: bool | None
    cancel_count: int
    params: dict[str, Any]


# --------------------------------------------------------------------------- state


class NeptuneState:
    """Jobs and their lifecycle; all methods are thread-safe. Raises :class:`NeptuneError`."""

    def __init__(
        self,
        lifecycle: Lifecycle | None = None,
        *,
        ml_not_found_style: Literal["400", "404"] = "400",
        region: str = "us-east-1",
        account: str = "123456789012",
        remote_transform_job: Literal["transform-job", "processing-job"] = "transform-job",
    ) -> None:
        if ml_not_found_style not in ("400", "404"):
            raise ValueError("ml_not_found_style must be '400' or '404'")
        if remote_transform_job not in ("transform-job", "processing-job"):
            raise ValueError("remote_transform_job must be 'transform-job' or 'processing-job'")
        self.lifecycle = lifecycle if lifecycle is not None else DEFAULT
        self.ml_not_found_style = ml_not_found_style
        self.region = region
        self.account = account
        # Which SageMaker job type a model transform's remoteModelTransformJob is: not documented.
        self.remote_transform_job = remote_transform_job
        self._lock = threading.RLock()
        self._loads: OrderedDict[str, Load] = OrderedDict()
        self._ml: dict[str, OrderedDict[str, MLJob]] = {k: OrderedDict() for k in ML_KINDS}
        self._last_load_end = 0.0
        self.endpoints = neptune_endpoints.MLEndpoints(self)
        # Seconds a stopped ML job's SageMaker jobs still read Stopping after Neptune reads
        # Stopped (SageMaker lagging Neptune; 0: they agree at once).
        self.sagemaker_lag = 0.0

    def now(self) -> float:
        return self.lifecycle.now()

    def reset(self) -> None:
        with self._lock:
            self._loads.clear()
            for jobs in self._ml.values():
                linked = [sm for job in jobs.values() for sm in job.sagemaker]
                if linked:
                    moto_sagemaker.remove_linked(self.account, self.region, linked)
                jobs.clear()
            self._last_load_end = 0.0
            self.endpoints.reset()
            self.sagemaker_lag = 0.0

    # ---- loads

    def _advance_loads(self, now: float) -> None:
        while True:
            changed = False
            for load in self._loads.values():
                if load.pinned or load.status != "LOAD_IN_PROGRESS" or load.started_at is None:
                    continue
                end = load.started_at + load.duration
                if now >= end:
                    load.status, load.ended_at = "LOAD_COMPLETED", end
                    self._last_load_end = max(self._last_load_end, end)
                    changed = True
            if not any(load.status == "LOAD_IN_PROGRESS" for load in self._loads.values()):
                queued = next(
                    (ld for ld in self._loads.values() if ld.status == "LOAD_IN_QUEUE" and not ld.pinned), None
                )
                if queued is not None:
                    queued.status = "LOAD_IN_PROGRESS"
                    queued.started_at = max(queued.submitted_at, self._last_load_end)
                    changed = True
            if not changed:
                return

    def _add_load(self, load: Load) -> None:
        self._loads[load.id] = load
        while len(self._loads) > MAX_LOADS_KEPT:
            self._loads.popitem(last=False)

    def start_load(self, body: dict[str, Any]) -> str:
        missing = [k for k in ("source", "format", "region", "iamRoleArn") if not body.get(k)]
        if missing:
            raise NeptuneError("MissingParameterException", f"Missing required parameter(s): {', '.join(missing)}")
        fmt = str(body["format"])
        if fmt not in LOAD_FORMATS:
            raise NeptuneError("InvalidParameterException", f"Invalid format {fmt!r}: one of {sorted(LOAD_FORMATS)}")
        queue = _body_bool(body.get("queueRequest"), "queueRequest", default=False)
        with self._lock:
            now = self.now()
            self._advance_loads(now)
            outstanding = [ld for ld in self._loads.values() if ld.status in LOAD_OUTSTANDING]
            if outstanding and not queue:
                raise NeptuneError(
                    "BadRequestException",
                    f"Failed to start new load for the source {body['source']}. "
                    "Max concurrent load limit breached. Limit is 1",
                )
            if sum(ld.status == "LOAD_IN_QUEUE" for ld in outstanding) >= MAX_QUEUED_LOADS:
                raise NeptuneError(
                    "BadRequestException",
                    f"Failed to start new load: the load queue is full ({MAX_QUEUED_LOADS} loads)",
                )
            load = Load(
                id=str(uuid.uuid4()),
                submitted_at=now,
                duration=self.lifecycle.job_duration,
                source=str(body["source"]),
                fmt=fmt,
                params=dict(body),
            )
            if outstanding:
                load.status = "LOAD_IN_QUEUE"
            else:
                load.started_at = now
            self._add_load(load)
            return load.id

    def list_loads(self, limit: int, include_queued: bool) -> list[str]:
        with self._lock:
            self._advance_loads(self.now())
            newest_first = list(reversed(self._loads.values()))
            queued = [ld.id for ld in newest_first if ld.status == "LOAD_IN_QUEUE"]
            others = [ld.id for ld in newest_first if ld.status != "LOAD_IN_QUEUE"]
            ids = (queued if include_queued else []) + others
            return ids[:limit]

    def _load(self, load_id: str) -> Load:
        load = self._loads.get(load_id)
        if load is None:
            raise NeptuneError(
                "BulkLoadIdNotFoundException", f"The load with id = {load_id} does not exist or not active"
            )
        return load

    def load_status(self, load_id: str, *, details: bool, errors: bool, page: int, per_page: int) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self._advance_loads(now)
            load = self._load(load_id)
            start = load.started_at if load.started_at is not None else load.submitted_at
            end = load.ended_at if load.ended_at is not None else now
            spent = max(0, int(end - start)) if load.started_at is not None else 0
            overall: dict[str, Any] = {
                "fullUri": load.source,
                "runNumber": 1,
                "retryNumber": 0,
                "status": load.status,
                "totalTimeSpent": spent,
                "startTime": int(start),
                "totalRecords": spent * 1000,
                "totalDuplicates": 0,
                "parsingErrors": 0,
                "datatypeMismatchErrors": 0,
                "insertErrors": 0,
            }
            payload: dict[str, Any] = {"feedCount": [{load.status: 1}], "overallStatus": overall}
            if details:
                payload["failedFeeds"] = []
            if errors:
                payload["errors"] = {
                    "startIndex": (page - 1) * per_page + 1,
                    "endIndex": (page - 1) * per_page,
                    "loadId": load.id,
                    "errorLogs": [],
                }
            return payload

    def cancel_load(self, load_id: str) -> None:
        with self._lock:
            now = self.now()
            self._advance_loads(now)
            load = self._load(load_id)
            if load.status not in LOAD_OUTSTANDING:
                raise NeptuneError(
                    "BulkLoadIdNotFoundException", f"The load with id = {load_id} does not exist or not active"
                )
            was_running = load.status == "LOAD_IN_PROGRESS"
            load.status, load.ended_at, load.cancelled_at, load.pinned = "LOAD_CANCELLED_BY_USER", now, now, False
            load.cancel_count += 1
            if was_running:
                self._last_load_end = max(self._last_load_end, now)
            self._advance_loads(now)

    # ---- ML

    def _ml_missing(self, kind: str, job_id: str, *, finished: bool) -> NeptuneError:
        if self.ml_not_found_style == "404":
            return NeptuneError("MLResourceNotFoundException", f"No active {kind} job with id {job_id} was found")
        if finished:
            return NeptuneError(
                "InvalidParameterException", "Failed to stop the job because it has already completed or failed."
            )
        return NeptuneError(
            "InvalidParameterException",
            "Invalid ID provided. Please check whether a resource with the given ID exists.",
        )

    def start_ml(self, kind: str, body: dict[str, Any]) -> MLJob:
        missing = [k for k in _ML_REQUIRED[kind] if not body.get(k)]
        if missing:
            raise NeptuneError("MissingParameterException", f"Missing required parameter(s): {', '.join(missing)}")
        job_id = body.get("id")
        if job_id is None:
            job_id = str(uuid.uuid4())  # 36 characters of hex digits and hyphens: a valid id
        _check_ml_id(job_id)
        with self._lock:
            if job_id in self._ml[kind]:
                raise NeptuneError(
                    "InvalidParameterException", "Another resource with same ID already exists. Please use a new ID."
                )
            if kind == "modeltransform":
                self._check_transform_source(body)
            job = MLJob(kind, job_id, self.now(), self.lifecycle.job_duration, params=dict(body))
            self._ml[kind][job_id] = job
            self._attach_sagemaker(job)
            return job

    def _check_transform_source(self, body: dict[str, Any]) -> None:
        """A model transform names a Neptune ML training job that exists (or a SageMaker one)."""
        training = body.get("mlModelTrainingJobId")
        if training is not None and training not in self._ml["modeltraining"]:
            raise NeptuneError("BadRequestException", "Provided MLModelTraining job doesn't exist.")
        name = body.get("trainingJobName")
        if name is not None and training is None:
            backend = moto_sagemaker.backend_for(self.account, self.region)
            if name not in backend.training_jobs:
                raise NeptuneError(
                    "BadRequestException", "Unable to find SageMaker AI resource. Please check your input."
                )

    def _sagemaker_plan(self, job: MLJob) -> list[tuple[str, str, str]]:
        """(Get member, SageMaker resource type, name) of the jobs a Neptune ML job runs on."""
        name = moto_sagemaker.sagemaker_name
        if job.kind == "dataprocessing":
            return [("processingJob", "processing-job", name(job.id, "dataprocessing"))]
        if job.kind == "modeltraining":
            return [
                ("processingJob", "processing-job", name(job.id, "training-prep")),
                ("hpoJob", "hyper-parameter-tuning-job", name(job.id, "hpo", 32)),
            ]
        return [
            ("baseProcessingJob", "processing-job", name(job.id, "transform-prep")),
            ("remoteModelTransformJob", self.remote_transform_job, name(job.id, "transform")),
        ]

    def _attach_sagemaker(self, job: MLJob) -> None:
        """Start the job's SageMaker jobs in moto; they follow the Neptune job's status."""
        if job.sagemaker:
            moto_sagemaker.remove_linked(self.account, self.region, job.sagemaker)
        output = str(
            job.params.get("processedDataS3Location")
            or job.params.get("trainModelS3Location")
            or job.params.get("modelTransformOutputS3Location")
            or f"s3://neptune-ml/{job.kind}/{job.id}/"
        )
        link = moto_sagemaker.Link(
            state=lambda: self._sagemaker_state(job), stop=lambda: self._stop_from_sagemaker(job), owner=self
        )
        job.sagemaker = moto_sagemaker.create_linked(
            self.account,
            self.region,
            self._sagemaker_plan(job),
            created=job.started_at,
            link=link,
            role=ROLE.format(account=self.account),
            output=output,
        )

    def _sagemaker_state(self, job: MLJob) -> tuple[str, float | None, str | None]:
        with self._lock:
            now = self.now()
            status, ended = job.status(now), job.ended_at(now)
            if status == "Stopped" and ended is not None and now < ended + self.sagemaker_lag:
                return "Stopping", None, None  # SageMaker lags Neptune (sagemaker_lag)
            return status, ended, "Neptune ML job failed" if status == "Failed" else None

    def _stop_from_sagemaker(self, job: MLJob) -> None:
        """A SageMaker Stop* on one of the job's SageMaker jobs stops the Neptune ML job too."""
        with self._lock:
            now = self.now()
            if job.status(now) == "InProgress" and job.cancelled_at is None:
                job.cancelled_at, job.stop_delay, job.pinned_status = now, self.lifecycle.stop_delay, None

    def list_ml(self, kind: str, max_items: int) -> list[str]:
        with self._lock:
            return list(reversed(self._ml[kind]))[:max_items]

    def _ml_job(self, kind: str, job_id: str) -> MLJob:
        job = self._ml[kind].get(job_id)
        if job is None:
            raise self._ml_missing(kind, job_id, finished=False)
        return job

    def ml_arn(self, job: MLJob) -> str:
        """The Start output's ``arn``: the job's first SageMaker job."""
        return job.sagemaker[0].arn

    def get_ml(self, kind: str, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._ml_job(kind, job_id)
            status = job.status(self.now())
            out: dict[str, Any] = {"status": status, "id": job.id}
            for sm in job.sagemaker:
                sub: dict[str, Any] = {
                    "name": sm.name,
                    "arn": sm.arn,
                    "status": status,
                    "cloudwatchLogUrl": f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}"
                    f"#logStream:group=/aws/sagemaker/{_LOG_GROUP[sm.resource]};prefix={sm.name}",
                }
                if status == "Failed":
                    sub["failureReason"] = "Neptune ML job failed"
                output = _OUTPUT_PARAM.get((kind, sm.member))
                if output is not None:
                    sub["outputLocation"] = str(job.params.get(output, ""))
                out[sm.member] = sub
            if status == "Completed" and kind != "dataprocessing":
                model = {"name": f"{job.id}-model", "arn": f"{job.sagemaker[-1].arn}-model"}
                out["mlModels" if kind == "modeltraining" else "models"] = [model]
            return out

    def cancel_ml(self, kind: str, job_id: str, clean: bool | None) -> str:
        with self._lock:
            job = self._ml_job(kind, job_id)
            now = self.now()
            status = job.status(now)
            if status in ML_TERMINAL:
                raise self._ml_missing(kind, job_id, finished=True)
            if clean is not None:
                job.clean = bool(job.clean) or clean
            job.cancel_count += 1
            if job.cancelled_at is None:
                job.cancelled_at, job.stop_delay, job.pinned_status = now, self.lifecycle.stop_delay, None
            return job.status(now)

    # ---- seeding and inspection (tests, benchmarks, demo)

    def seed_ml_job(
        self,
        kind: str,
        job_id: str | None = None,
        *,
        started_at: float | None = None,
        status: str | None = None,
        duration: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        """Create an ML job directly. ``status`` pins it (until cancelled); else lifecycle rules apply."""
        if kind not in ML_KINDS:
            raise ValueError(f"unknown ML kind {kind!r}")
        if status is not None and status not in ML_OUTSTANDING | ML_TERMINAL:
            raise ValueError(f"unknown ML status {status!r}")
        if job_id is not None and not ML_ID.fullmatch(job_id):
            raise ValueError(f"invalid Neptune ML job id {job_id!r}: 1-48 letters, digits or hyphens")
        with self._lock:
            now = self.now()
            job = MLJob(
                kind,
                job_id or str(uuid.uuid4()),
                now if started_at is None else started_at,
                self.lifecycle.job_duration if duration is None else duration,
                params=dict(params or {}),
                pinned_status=status,
            )
            if status == "Stopping":
                job.pinned_status, job.cancelled_at, job.stop_delay = None, now, self.lifecycle.stop_delay
            previous = self._ml[kind].pop(job.id, None)
            if previous is not None:
                job.sagemaker = previous.sagemaker  # replaced by _attach_sagemaker
            self._ml[kind][job.id] = job
            self._attach_sagemaker(job)
            return job.id

    def seed_load(
        self,
        load_id: str | None = None,
        *,
        started_at: float | None = None,
        status: str | None = None,
        source: str = "s3://bucket/data",
        duration: float | None = None,
    ) -> str:
        """Create a load directly. ``status`` pins it (until cancelled); else it runs from ``started_at``.

        Without ``status`` the load is LOAD_IN_PROGRESS from ``started_at`` (default now) and
        completes ``duration`` (default ``job_duration``) later.
        """
        with self._lock:
            now = self.now()
            start = now if started_at is None else started_at
            load = Load(
                id=load_id or str(uuid.uuid4()),
                submitted_at=start,
                duration=self.lifecycle.job_duration if duration is None else duration,
                source=source,
                status=status or "LOAD_IN_PROGRESS",
                started_at=None if status in ("LOAD_IN_QUEUE", "LOAD_NOT_STARTED") else start,
                pinned=status is not None,
            )
            if status is not None and status not in LOAD_OUTSTANDING:
                load.ended_at = start
            self._add_load(load)
            return load.id

    def job(self, kind: str, job_id: str) -> JobView:
        """Current state of one job; ``kind`` is ``"loader"`` or an ML kind. KeyError if unknown."""
        with self._lock:
            now = self.now()
            if kind == LOADER:
                self._advance_loads(now)
                ld = self._loads[job_id]
                return JobView(
                    LOADER, ld.id, ld.status, ld.started_at, ld.cancelled_at, None, ld.cancel_count, dict(ld.params)
                )
            job = self._ml[kind][job_id]
            return JobView(
                kind, job.id, job.status(now), job.started_at, job.cancelled_at, job.clean, job.cancel_count, job.params
            )

    def jobs(self, kind: str) -> list[JobView]:
        with self._lock:
            ids = list(self._loads) if kind == LOADER else list(self._ml[kind])
            return [self.job(kind, i) for i in ids]


# --------------------------------------------------------------------------- parsing helpers


def _check_ml_id(job_id: Any) -> None:
    if not isinstance(job_id, str) or not ML_ID_CHARS.fullmatch(job_id):
        raise NeptuneError(
            "InvalidParameterException", "Invalid ID provided. Must contain only letters, digits, or hyphens."
        )
    if not ML_ID.fullmatch(job_id):
        raise NeptuneError("InvalidParameterException", "Invalid ID provided. ID can be 1-48 alphanumeric characters.")


def _bool(value: str | None, name: str, default: bool | None) -> bool | None:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise NeptuneError("InvalidParameterException", f"Invalid value for {name}: {value!r} (expected true or false)")


def _body_bool(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return bool(_bool(value, name, default))
    raise NeptuneError("InvalidParameterException", f"Invalid value for {name}: {value!r} (expected a boolean)")


def _int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise NeptuneError("InvalidParameterException", f"Invalid value for {name}: {value!r}") from None
    if not low <= number <= high:
        raise NeptuneError(
            "InvalidParameterException", f"Invalid value for {name}: {number}; it must be between {low} and {high}"
        )
    return number


# --------------------------------------------------------------------------- routing

Route = tuple[str, Callable[[NeptuneState, dict[str, str], dict[str, Any], str | None], dict[str, Any]]]

OK = "200 OK"


def _route(  # noqa: PLR0911 - one return per route shape
    method: str, path: str, params: dict[str, str] | None = None
) -> tuple[str | None, str | None, str | None, bool]:
    """-> (operation, kind, id, path_known). ``kind`` is None for an operation not implemented."""
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if parts and parts[0] == LOADER and len(parts) <= 2:
        if len(parts) == 1:
            if params is not None and "loadId" in params and method in ("GET", "DELETE"):
                # The loader's query-string forms: GET/DELETE /loader?loadId=ID, as /loader/ID.
                op = {"GET": "GetLoaderJobStatus", "DELETE": "CancelLoaderJob"}[method]
                return op, LOADER, params["loadId"], True
            op = {"POST": "StartLoaderJob", "GET": "ListLoaderJobs"}.get(method)
            return op, LOADER, None, True
        op = {"GET": "GetLoaderJobStatus", "DELETE": "CancelLoaderJob"}.get(method)
        return op, LOADER, parts[1], True
    if len(parts) in (2, 3) and parts[:2] == ["ml", neptune_endpoints.KIND]:
        if len(parts) == 2:
            return {"POST": "CreateMLEndpoint", "GET": "ListMLEndpoints"}.get(method), parts[1], None, True
        return {"GET": "GetMLEndpoint", "DELETE": "DeleteMLEndpoint"}.get(method), parts[1], parts[2], True
    if len(parts) in (2, 3) and parts[0] == "ml" and parts[1] in ML_KINDS:
        noun = ML_KINDS[parts[1]]
        if len(parts) == 2:
            op = {"POST": f"Start{noun}", "GET": f"List{noun}s"}.get(method)
            return op, parts[1], None, True
        op = {"GET": f"Get{noun}", "DELETE": f"Cancel{noun}"}.get(method)
        return op, parts[1], parts[2], True
    known = False
    for route_method, pattern, name in _model_routes():
        if pattern.fullmatch(path):
            if route_method == method:
                return name, None, None, True
            known = True
    return None, None, None, known


def dispatch(  # noqa: PLR0911 - one branch per operation
    state: NeptuneState,
    operation: str,
    *,
    kind: str,
    job_id: str | None,
    query: dict[str, str],
    body: dict[str, Any],
) -> dict[str, Any]:
    if operation == "StartLoaderJob":
        return {"status": OK, "payload": {"loadId": state.start_load(body)}}
    if operation == "ListLoaderJobs":
        limit = _int(query.get("limit"), "limit", 1, 100, 100)
        include = _bool(query.get("includeQueuedLoads"), "includeQueuedLoads", True)
        return {"status": OK, "payload": {"loadIds": state.list_loads(limit, bool(include))}}
    if operation == "GetLoaderJobStatus":
        assert job_id is not None  # noqa: S101 - guaranteed by the route
        payload = state.load_status(
            job_id,
            details=bool(_bool(query.get("details"), "details", False)),
            errors=bool(_bool(query.get("errors"), "errors", False)),
            page=_int(query.get("page"), "page", 1, 2**31 - 1, 1),
            per_page=_int(query.get("errorsPerPage"), "errorsPerPage", 1, 2**31 - 1, 10),
        )
        return {"status": OK, "payload": payload}
    if operation == "CancelLoaderJob":
        assert job_id is not None  # noqa: S101
        state.cancel_load(job_id)
        return {"status": OK}
    if kind == neptune_endpoints.KIND:
        return neptune_endpoints.dispatch(state.endpoints, operation, job_id, query, body)  # type: ignore[no-any-return]
    if operation.startswith("Start"):
        job = state.start_ml(kind, body)
        return {"id": job.id, "arn": state.ml_arn(job), "creationTimeInMillis": int(job.started_at * 1000)}
    if operation.startswith("List"):
        return {"ids": state.list_ml(kind, _int(query.get("maxItems"), "maxItems", 1, 1024, 10))}
    if operation.startswith("Get"):
        assert job_id is not None  # noqa: S101
        return state.get_ml(kind, job_id)
    assert job_id is not None  # noqa: S101
    clean = _bool(query.get("clean"), "clean", None)
    return {"status": state.cancel_ml(kind, job_id, clean)}


# --------------------------------------------------------------------------- HTTP server


class _Handler(FastParseMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per answer (flushed by handle_one_request) and no Nagle delay:
    # headers and body in separate small segments cost a delayed-ACK round trip per request.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", payload.get("requestId") or str(uuid.uuid4()))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, err: NeptuneError) -> None:
        request_id = str(uuid.uuid4())
        self._send(
            err.status,
            {"code": err.code, "requestId": request_id, "detailedMessage": err.message, "message": err.message},
        )

    def _authorise(self, raw: bytes) -> NeptuneError | None:
        """The 403 a cluster with IAM DB authentication answers to a request not signed as it
        requires (:mod:`jobjanitor_testbed.sigv4`), or None."""
        refusal = self.server.emulator.sigv4.check(self.command, self.path, self.headers, raw)
        return None if refusal is None else NeptuneError("AccessDeniedException", refusal, 403)

    def _answer(
        self, op: str | None, route: tuple[str | None, str | None, bool], query: str, raw: bytes
    ) -> dict[str, Any] | NeptuneError:
        """Run one operation: its output, or the error to answer with."""
        kind, job_id, known = route
        try:
            if op is not None and kind is None:
                raise NeptuneError("UnsupportedOperationException", f"The test bed does not implement {op}.")
            if op is None or kind is None:
                if known:
                    raise NeptuneError("MethodNotAllowedException", f"Method {self.command} is not allowed here")
                raise NeptuneError("BadRequestException", f"Bad request: unknown path {urlsplit(self.path).path}")
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            body: Any = {}
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise NeptuneError("BadRequestException", "Malformed JSON request body") from None
                if not isinstance(body, dict):
                    raise NeptuneError("BadRequestException", "The request body must be a JSON object")
            if op in {"GetLoaderJobStatus", "CancelLoaderJob"} and not job_id:
                raise NeptuneError("MissingParameterException", "Missing required parameter: loadId")
            return dispatch(self.server.emulator.state, op, kind=kind, job_id=job_id, query=params, body=body)
        except NeptuneError as exc:
            return exc
        except Exception as exc:  # a bug in the emulator: answer like Neptune would
            return server_error(op, f"Internal failure: {exc!r}")

    def _clock(self, raw: bytes) -> None:
        """``GET /testbed/clock`` -> {"now", "fake"}; ``POST`` {"advance": s} or {"set": epoch}
        moves a fake clock (``jobjanitor-testbed --clock``); a real clock cannot be moved."""
        clock = self.server.emulator.lifecycle.clock
        if self.command == "POST":
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(clock, FakeClock):
                    raise ValueError("the test bed runs on the real clock: start it with --clock to move time")
                if "advance" in body:
                    clock.advance(float(body["advance"]))
                elif "set" in body:
                    clock.set(float(body["set"]))
                else:
                    raise ValueError('send {"advance": seconds} or {"set": epoch_seconds}')
            except (ValueError, TypeError) as exc:
                self._send(400, {"code": "BadRequestException", "message": str(exc), "detailedMessage": str(exc)})
                return
        elif self.command != "GET":
            self._send(405, {"code": "MethodNotAllowedException", "message": "GET or POST"})
            return
        self._send(200, {"now": clock(), "fake": isinstance(clock, FakeClock)})

    def _handle(self) -> None:
        emulator = self.server.emulator
        arrived, t0 = time.time(), time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path == CLOCK_PATH:
            self._clock(raw)  # the test bed's own control, not Neptune's: never faulted nor logged
            return
        if url.path.startswith(CONTROL_PREFIX) and emulator.control is not None:
            self._send(*emulator.control(self.command, url.path, raw))  # likewise (jobjanitor_testbed.control)
            return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        op, kind, job_id, known = _route(self.command, url.path, query)
        operation = op or f"{self.command} {url.path}"
        decision = Decision("drop", fault="stopped") if emulator.stopped else emulator.faults.decide(operation)
        sleep_latency(decision)
        decision.hold()  # a "hang": held until released, then closed unanswered
        outcome: dict[str, Any] | NeptuneError | None = None
        if decision.action not in {"drop", "hang"}:
            outcome = _fault_error(decision, op) or (self._authorise(raw) if emulator.iam else None)
            if outcome is None and self.server.read_only and self.command in ("POST", "DELETE") and op is not None:
                outcome = READ_REPLICA_ERROR
            if outcome is None:
                outcome = self._answer(op, (kind, job_id, known), url.query, raw)
        # Log before answering, so a client that got its answer finds the entry already there.
        emulator.log.add(
            LogEntry(
                service="neptune",
                operation=operation,
                method=self.command,
                path=url.path,
                status="dropped" if outcome is None else outcome.status if isinstance(outcome, NeptuneError) else 200,
                timestamp=arrived,
                duration=time.perf_counter() - t0,
                error_code=outcome.code if isinstance(outcome, NeptuneError) else None,
                fault=decision.fault or (decision.action if decision.action != "pass" else None),
                endpoint=self.server.url,
            )
        )
        if outcome is None:
            self.close_connection = True
        elif isinstance(outcome, NeptuneError):
            self._error(outcome)
        else:
            self._send(200, outcome)


# What a read-only listener answers to a start or a cancel (the code is not confirmed).
READ_REPLICA_ERROR = NeptuneError(
    "MethodNotAllowedException", "Writes are not allowed on a read replica instance.", 405
)


def _fault_error(decision: Decision, operation: str | None) -> NeptuneError | None:
    """The error a fault answers with; random faults use codes every operation declares."""
    if decision.action in {"throttle", "rate-limit"}:
        return NeptuneError("TooManyRequestsException", "Too many requests. Please retry later.", 429)
    if decision.action == "error":
        return server_error(operation, "An internal failure occurred. Please retry.")
    if decision.action == "inject":
        assert decision.code is not None  # noqa: S101
        return NeptuneError(decision.code, decision.message or f"Injected {decision.code}", decision.status)
    return None


def operation_family(operation: str) -> str:
    """The family an operation's requests are rate-limited in (:meth:`Faults.limit_rate`): its
    API, e.g. every loader operation, or every operation on Neptune ML data-processing jobs."""
    if "LoaderJob" in operation:
        return LOADER
    return next((kind for kind, name in ML_KINDS.items() if name in operation), operation)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    emulator: NeptuneEmulator
    read_only = False  # a reader: refuses starts and cancels (READ_REPLICA_ERROR)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class NeptuneEmulator:
    """The Neptune data-API emulator: state plus an HTTP server on loopback.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Seeding and inspection
    methods are forwarded to :attr:`state` (a :class:`NeptuneState`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifecycle: Lifecycle | None = None,
        faults: Faults | None = None,
        log: RequestLog | None = None,
        iam: bool = True,
        ml_not_found_style: Literal["400", "404"] = "400",
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        self.host, self.port = host, port
        self.state = NeptuneState(lifecycle, ml_not_found_style=ml_not_found_style, region=region, account=account)
        self.faults = faults if faults is not None else Faults()
        self.faults.declared = declared_errors
        self.faults.family = operation_family
        self.log = log if log is not None else RequestLog()
        self.iam = iam  # IAM DB authentication: every request's SigV4 signature verified
        self.sigv4 = sigv4.Verifier(region)
        # The test bed's other /testbed/* endpoints: (method, path, body) -> (status, answer).
        self.control: Callable[[str, str, bytes], tuple[int, dict[str, Any]]] | None = None
        self.stopped = False  # a stopped cluster: no listener answers (see the module docstring)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[tuple[_Server, threading.Thread]] = []

    # ---- server

    def start(self) -> NeptuneEmulator:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="neptune-emulator", daemon=True)
        self._thread.start()
        return self

    def add_listener(self, *, host: str | None = None, port: int = 0, read_only: bool = True) -> str:
        """Another endpoint of this cluster, sharing its jobs, faults and log: a reader (or a
        reader instance), or with ``read_only=False`` the writer instance. Returns its URL.
        ``host`` defaults to the emulator's (a reader endpoint shares the cluster's port, so
        it needs another loopback address, e.g. 127.0.0.2: Linux answers on all of 127/8)."""
        server = _Server((host or self.host, port), _Handler)
        server.emulator, server.read_only = self, read_only
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="neptune-listener", daemon=True)
        thread.start()
        self._listeners.append((server, thread))
        return server.url

    def stop(self) -> None:
        for server, thread in self._listeners:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._listeners.clear()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> NeptuneEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- convenience

    @property
    def lifecycle(self) -> Lifecycle:
        return self.state.lifecycle

    @property
    def ml_not_found_style(self) -> str:
        return self.state.ml_not_found_style

    @ml_not_found_style.setter
    def ml_not_found_style(self, value: Literal["400", "404"]) -> None:
        if value not in ("400", "404"):
            raise ValueError("ml_not_found_style must be '400' or '404'")
        self.state.ml_not_found_style = value

    def reset(self) -> None:
        """Drop all jobs and log entries, clear faults, start a stopped cluster, accept only the
        test bed's own credentials in the emulator's region again (IAM mode, the not-found style
        and the listeners stay)."""
        self.stopped = False
        self.sigv4.reset()
        self.state.reset()
        self.log.clear()
        self.faults.clear()

    def seed_ml_job(self, kind: str, job_id: str | None = None, **kwargs: Any) -> str:
        return self.state.seed_ml_job(kind, job_id, **kwargs)

    def seed_load(self, load_id: str | None = None, **kwargs: Any) -> str:
        return self.state.seed_load(load_id, **kwargs)

    def seed_ml_endpoint(self, endpoint_id: str | None = None, **kwargs: Any) -> str:
        return self.state.endpoints.seed(endpoint_id, **kwargs)

    def ml_endpoint(self, endpoint_id: str) -> neptune_endpoints.EndpointView:
        return self.state.endpoints.view(endpoint_id)

    def ml_endpoints(self) -> list[neptune_endpoints.EndpointView]:
        return self.state.endpoints.views()

    def job(self, kind: str, job_id: str) -> JobView:
        return self.state.job(kind, job_id)

    def jobs(self, kind: str) -> list[JobView]:
        return self.state.jobs(kind)
