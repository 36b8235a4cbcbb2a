"""Neptune ML inference endpoints in the Neptune emulator (``/ml/endpoints``).

Operations (botocore ``neptunedata`` 2023-08-01; outputs carry only the members the model
defines):

- CreateMLEndpoint ``POST /ml/endpoints``: ``id`` (1-48 letters, digits or hyphens, else 400
  InvalidParameterException; default a generated timestamped name,
  ``endpoint-YYYYMMDDHHMMSS-xxxxxx``); exactly one of ``mlModelTrainingJobId`` or
  ``mlModelTransformJobId`` (neither: 400 MissingParameterException; both: 400
  InvalidParameterException), naming a Neptune ML job of that kind that exists (else 400
  BadRequestException, as a transform naming a missing training job) and has Completed (else
  400 BadRequestException); ``modelName`` rgcn, kge, transe, distmult or rotate;
  ``instanceType`` (default ml.m5.xlarge; a type SageMaker refuses is 400 BadRequestException);
  ``instanceCount`` (default 1, at least 1); ``update`` true re-points an existing endpoint
  (Updating, then InService), false with a taken id is 400 InvalidParameterException. Answers
  ``{id, arn (the SageMaker endpoint's), creationTimeInMillis}``.
- ListMLEndpoints ``GET /ml/endpoints``: ``maxItems`` 1-1024, default 10; most recent first;
  endpoints being deleted are listed until their deletion finishes.
- GetMLEndpoint ``GET /ml/endpoints/{id}``: ``{status, id, endpoint: {name, arn, status,
  cloudwatchLogUrl, failureReason when Failed}, endpointConfig: {name, arn}}``.
- DeleteMLEndpoint ``DELETE /ml/endpoints/{id}`` (``clean`` parsed case-insensitively): any
  endpoint not already being deleted goes Deleting; answers ``{"status": "Deleting"}`` (the
  real string is not documented). A second delete while Deleting answers Deleting again and
  changes nothing (``clean`` is OR-ed in).
- Unknown ids (Get, Delete): as for ML jobs, 400 InvalidParameterException, or 404
  MLResourceNotFoundException with ``ml_not_found_style="404"``.

Lifecycle (test bed clock): Creating for ``lifecycle.starting_delay`` seconds, then InService
(``update``: Updating for as long). DeleteMLEndpoint: Deleting for ``lifecycle.stop_delay``
seconds, then the endpoint is gone: Get answers not found, List leaves it out, and its
SageMaker endpoint is removed from moto.

Assumptions (not documented by AWS; see docs/testbed.md): the status strings follow
SageMaker's EndpointStatus; Neptune answers Get while the endpoint is being deleted and not
found afterwards; DeleteMLEndpoint removes the SageMaker endpoint config and model with the
endpoint (``leave_config_and_model=True`` leaves them behind instead); a SageMaker endpoint
deleted through SageMaker directly leaves Neptune's record as it was (its Get still answers).

SageMaker underneath (:func:`jobjanitor_testbed.moto_sagemaker.create_endpoint`): a model
``<id>-endpoint-model``, a config ``<id>-endpoint-config`` and an endpoint ``<id>-endpoint``
(names shortened with a digest past 63 characters), CreationTime = the endpoint's creation
on the test bed clock; the SageMaker endpoint's status follows the Neptune endpoint's.

Billing: nothing is billed, but each endpoint's instance-seconds (instances times the time
from creation until its deletion finished, not counting a Failed endpoint) are counted:
:attr:`EndpointView.instance_seconds`.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from moto.sagemaker.exceptions import ValidationError

from . import moto_sagemaker, neptune

KIND = "endpoints"
STATUSES = frozenset({"Creating", "InService", "Updating", "Failed", "Deleting"})
MODEL_NAMES = frozenset({"rgcn", "kge", "transe", "distmult", "rotate"})
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
SOURCES = {"mlModelTrainingJobId": "modeltraining", "mlModelTransformJobId": "modeltransform"}


@dataclass
class MLEndpoint:
    id: str
    created_at: float
    ready_delay: float
    instance_type: str
    instance_count: int
    params: dict[str, Any] = field(default_factory=dict)
    pinned_status: str | None = None  # seeded status, held until deleted
    updated_at: float | None = None
    deleted_at: float | None = None
    delete_delay: float = 0.0
    clean: bool | None = None
    delete_count: int = 0
    sagemaker: moto_sagemaker.SageMakerEndpoint | None = None

    def status(self, now: float) -> str | None:
        """The status now; None once the deletion has finished."""
        if self.deleted_at is not None:
            return "Deleting" if now < self.deleted_at + self.delete_delay else None
        if self.pinned_status is not None:
            return self.pinned_status
        if self.updated_at is not None and now < self.updated_at + self.ready_delay:
            return "Updating"
        return "Creating" if now < self.created_at + self.ready_delay else "InService"

    def instance_seconds(self, now: float) -> float:
        if self.pinned_status == "Failed":
            return 0.0
        end = now if self.deleted_at is None else min(now, self.deleted_at + self.delete_delay)
        return max(0.0, end - self.created_at) * self.instance_count


@dataclass(frozen=True)
class EndpointView:
    """What a test can inspect about one endpoint (``status`` "Deleted" once it is gone)."""

    id: str
    status: str
    created_at: float
    deleted_at: float | None
    clean: bool | None
    delete_count: int
    instance_type: str
    instance_count: int
    instance_seconds: float
    sagemaker: moto_sagemaker.SageMakerEndpoint | None
    params: dict[str, Any]


class MLEndpoints:
    """The endpoints of one Neptune emulator; uses its state's lock, clock and error style."""

    def __init__(self, state: neptune.NeptuneState) -> None:
        self._state = state
        self._live: OrderedDict[str, MLEndpoint] = OrderedDict()
        self._deleted: list[MLEndpoint] = []
        # Whether DeleteMLEndpoint leaves the SageMaker endpoint config and model behind
        # (undocumented; by default they go with the endpoint).
        self.leave_config_and_model = False

    # ---- helpers (callers hold the state's lock)

    def _reap(self, now: float) -> None:
        for endpoint in [e for e in self._live.values() if e.status(now) is None]:
            del self._live[endpoint.id]
            self._deleted.append(endpoint)
            self._remove_sagemaker(endpoint)

    def _remove_sagemaker(self, endpoint: MLEndpoint) -> None:
        if endpoint.sagemaker is not None:
            state = self._state
            moto_sagemaker.remove_endpoint(
                state.account, state.region, endpoint.sagemaker, config_and_model=not self.leave_config_and_model
            )

    def _get(self, endpoint_id: str) -> MLEndpoint:
        self._reap(self._state.now())
        endpoint = self._live.get(endpoint_id)
        if endpoint is None:
            raise self._missing(endpoint_id)
        return endpoint

    def _missing(self, endpoint_id: str) -> neptune.NeptuneError:
        if self._state.ml_not_found_style == "404":
            return neptune.NeptuneError("MLResourceNotFoundException", f"No endpoint with id {endpoint_id} was found")
        return neptune.NeptuneError(
            "InvalidParameterException",
            "Invalid ID provided. Please check whether a resource with the given ID exists.",
        )

    def _sagemaker_status(self, endpoint: MLEndpoint) -> str | None:
        with self._state._lock:
            now = self._state.now()
            self._reap(now)
            return endpoint.status(now) if self._live.get(endpoint.id) is endpoint else None

    def _attach(self, endpoint: MLEndpoint) -> None:

        state = self._state
        if endpoint.sagemaker is not None:
            moto_sagemaker.remove_endpoint(state.account, state.region, endpoint.sagemaker)
        link = moto_sagemaker.EndpointLink(state=lambda: self._sagemaker_status(endpoint), owner=state)
        try:
            endpoint.sagemaker = moto_sagemaker.create_endpoint(
                state.account,
                state.region,
                moto_sagemaker.sagemaker_name(endpoint.id, "endpoint"),
                created=endpoint.created_at,
                link=link,
                role=neptune.ROLE.format(account=state.account),
                instance_type=endpoint.instance_type,
                instance_count=endpoint.instance_count,
                kms_key=endpoint.params.get("volumeEncryptionKMSKey"),
            )
        except ValidationError as error:  # SageMaker refused (an instance type it does not know)
            raise neptune.NeptuneError(
                "BadRequestException", f"SageMaker AI refused the endpoint: {error.message}"
            ) from None

    # ---- operations

    def create(self, body: dict[str, Any]) -> dict[str, Any]:

        state = self._state
        endpoint_id = body.get("id")
        if endpoint_id is None:
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(state.now()))
            endpoint_id = f"endpoint-{stamp}-{uuid.uuid4().hex[:6]}"
        neptune._check_ml_id(endpoint_id)
        instance_type, instance_count = _instances(body)
        model_name = body.get("modelName")
        if model_name is not None and model_name not in MODEL_NAMES:
            raise neptune.NeptuneError(
                "InvalidParameterException",
                f"Invalid modelName {model_name!r}: one of {', '.join(sorted(MODEL_NAMES))}",
            )
        update = neptune._body_bool(body.get("update"), "update", default=False)
        with state._lock:
            now = state.now()
            self._reap(now)
            self._check_source(body)
            existing = self._live.get(endpoint_id)
            if existing is not None and not update:
                raise neptune.NeptuneError(
                    "InvalidParameterException", "Another resource with same ID already exists. Please use a new ID."
                )
            if existing is None and update:
                raise self._missing(endpoint_id)
            if existing is not None:
                if existing.status(now) == "Deleting":
                    raise neptune.NeptuneError("BadRequestException", f"Endpoint {endpoint_id} is being deleted.")
                existing.params.update(body)
                existing.updated_at, existing.pinned_status = now, None
                existing.instance_type, existing.instance_count = instance_type, instance_count
                endpoint = existing
            else:
                endpoint = MLEndpoint(
                    endpoint_id, now, state.lifecycle.starting_delay, instance_type, instance_count, dict(body)
                )
                self._attach(endpoint)
                self._live[endpoint_id] = endpoint
            assert endpoint.sagemaker is not None  # noqa: S101 - _attach made it
            return {
                "id": endpoint.id,
                "arn": endpoint.sagemaker.endpoint_arn,
                "creationTimeInMillis": int(endpoint.created_at * 1000),
            }

    def _check_source(self, body: dict[str, Any]) -> None:

        given = [member for member in SOURCES if body.get(member) is not None]
        if not given:
            raise neptune.NeptuneError(
                "MissingParameterException", "Missing required parameter: mlModelTrainingJobId or mlModelTransformJobId"
            )
        if len(given) > 1:
            raise neptune.NeptuneError(
                "InvalidParameterException", "Provide either mlModelTrainingJobId or mlModelTransformJobId, not both."
            )
        member = given[0]
        kind, job_id = SOURCES[member], str(body[member])
        try:
            status = self._state.job(kind, job_id).status
        except KeyError:
            noun = "MLModelTraining" if kind == "modeltraining" else "MLModelTransform"
            raise neptune.NeptuneError("BadRequestException", f"Provided {noun} job doesn't exist.") from None
        if status != "Completed":
            raise neptune.NeptuneError("BadRequestException", f"The job {job_id} has not completed (status {status}).")

    def list(self, max_items: int) -> list[str]:
        with self._state._lock:
            self._reap(self._state.now())
            return list(reversed(self._live))[:max_items]

    def get(self, endpoint_id: str) -> dict[str, Any]:
        state = self._state
        with state._lock:
            endpoint = self._get(endpoint_id)
            status = endpoint.status(state.now())
            made = endpoint.sagemaker
            assert made is not None  # noqa: S101
            sub: dict[str, Any] = {
                "name": made.endpoint,
                "arn": made.endpoint_arn,
                "status": status,
                "cloudwatchLogUrl": f"https://console.aws.amazon.com/cloudwatch/home?region={state.region}"
                f"#logStream:group=/aws/sagemaker/Endpoints/{made.endpoint}",
            }
            if status == "Failed":
                sub["failureReason"] = "Neptune ML endpoint failed"
            return {
                "status": status,
                "id": endpoint.id,
                "endpoint": sub,
                "endpointConfig": {"name": made.config, "arn": made.config_arn},
            }

    def delete(self, endpoint_id: str, clean: bool | None) -> str:
        state = self._state
        with state._lock:
            endpoint = self._get(endpoint_id)
            now = state.now()
            if clean is not None:
                endpoint.clean = bool(endpoint.clean) or clean
            endpoint.delete_count += 1
            if endpoint.deleted_at is None:
                endpoint.deleted_at, endpoint.delete_delay = now, state.lifecycle.stop_delay
            return endpoint.status(now) or "Deleting"

    # ---- seeding and inspection

    def seed(
        self,
        endpoint_id: str | None = None,
        *,
        created_at: float | None = None,
        status: str | None = None,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        instance_count: int = 1,
        params: dict[str, Any] | None = None,
    ) -> str:
        """An endpoint made directly (no source job needed). ``status`` pins it (until deleted);
        ``Deleting`` starts its deletion now. Else Creating, then InService."""

        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown endpoint status {status!r}")
        if endpoint_id is not None and not neptune.ML_ID.fullmatch(endpoint_id):
            raise ValueError(f"invalid endpoint id {endpoint_id!r}: 1-48 letters, digits or hyphens")
        state = self._state
        with state._lock:
            now = state.now()
            endpoint = MLEndpoint(
                endpoint_id or f"endpoint-{uuid.uuid4().hex[:12]}",
                now if created_at is None else created_at,
                state.lifecycle.starting_delay,
                instance_type,
                instance_count,
                dict(params or {}),
                pinned_status=None if status in (None, "Deleting") else status,
            )
            if status == "Deleting":
                endpoint.deleted_at, endpoint.delete_delay = now, state.lifecycle.stop_delay
            previous = self._live.pop(endpoint.id, None)
            if previous is not None:
                endpoint.sagemaker = previous.sagemaker  # replaced by _attach
            self._attach(endpoint)
            self._live[endpoint.id] = endpoint
            return endpoint.id

    def view(self, endpoint_id: str) -> EndpointView:
        """The endpoint now (the latest one with that id, deleted ones too). KeyError if unknown."""
        state = self._state
        with state._lock:
            now = state.now()
            self._reap(now)
            endpoint = self._live.get(endpoint_id) or next(
                (e for e in reversed(self._deleted) if e.id == endpoint_id), None
            )
            if endpoint is None:
                raise KeyError(endpoint_id)
            return EndpointView(
                endpoint.id,
                endpoint.status(now) or "Deleted",
                endpoint.created_at,
                endpoint.deleted_at,
                endpoint.clean,
                endpoint.delete_count,
                endpoint.instance_type,
                endpoint.instance_count,
                endpoint.instance_seconds(now),
                endpoint.sagemaker,
                dict(endpoint.params),
            )

    def views(self) -> list[EndpointView]:
        with self._state._lock:
            self._reap(self._state.now())
            ids = [e.id for e in self._deleted if e.id not in self._live] + list(self._live)
            return [self.view(i) for i in dict.fromkeys(ids)]

    def reset(self) -> None:
        """Drop every endpoint and its SageMaker resources (leftovers of deleted ones too)."""
        state = self._state
        with state._lock:
            for endpoint in [*self._live.values(), *self._deleted]:
                if endpoint.sagemaker is not None:
                    moto_sagemaker.remove_endpoint(state.account, state.region, endpoint.sagemaker)
            self._live.clear()
            self._deleted.clear()
            self.leave_config_and_model = False


def _instances(body: dict[str, Any]) -> tuple[str, int]:

    instance_type = body.get("instanceType", DEFAULT_INSTANCE_TYPE)
    if not isinstance(instance_type, str) or not instance_type.startswith("ml."):
        raise neptune.NeptuneError("InvalidParameterException", f"Invalid instanceType {instance_type!r}")
    count = body.get("instanceCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise neptune.NeptuneError("InvalidParameterException", f"Invalid instanceCount {count!r}: at least 1")
    return instance_type, count


def dispatch(endpoints: MLEndpoints, operation: str, endpoint_id: str | None, query: dict[str, str], body: Any) -> Any:
    """One endpoint operation's output (raises NeptuneError)."""

    if operation == "CreateMLEndpoint":
        return endpoints.create(body)
    if operation == "ListMLEndpoints":
        return {"ids": endpoints.list(neptune._int(query.get("maxItems"), "maxItems", 1, 1024, 10))}
    assert endpoint_id is not None  # noqa: S101 - guaranteed by the route
    if operation == "GetMLEndpoint":
        return endpoints.get(endpoint_id)
    return {"status": endpoints.delete(endpoint_id, neptune._bool(query.get("clean"), "clean", None))}
