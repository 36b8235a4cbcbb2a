"""A lean request path for the calls a sweep makes many times: the Neptune data API's list, get
and cancel, and Glue's GetMLTaskRuns, GetMLTaskRun and CancelMLTaskRun.

botocore spends about 0.8 ms of CPU on every request (event hooks, serialising and validating
against the model, urllib3, parsing the answer), four times what sending one takes: at the
0.145 of a CPU Lambda gives 256 MB that is most of a sweep (docs/benchmarks.md). Here each
call of the operations in :data:`OPERATIONS` is sent on the common path without it:

- the request is the one botocore builds, from the service model (read once per client):
  rest-json (Neptune): method, path and query, values percent-encoded as botocore encodes them;
  json 1.1 (Glue): ``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``, its Content-Type and
  the parameters as a JSON document. Signed by botocore's own SigV4 signer (the service's
  signing name, ``neptune-db`` or ``glue``) with the session's current credentials;
- it goes over a pooled keep-alive connection (``http.client``, TLS verified against the CA
  bundle botocore uses, or ``AWS_CA_BUNDLE``), each attempt's read bounded by the run's
  deadline (:data:`jobjanitor.deadline.CURRENT_DEADLINE`), like the botocore client's;
- every attempt waits its turn at the service's shared rate and reports its answer to it
  (:class:`jobjanitor.ratelimit.RateLimiter`).

A 2xx answer is returned as its JSON document, its timestamps (members the output shape types
``timestamp``; Glue sends epoch seconds) as aware datetimes, as botocore's parser returns them
(without ``ResponseMetadata``). A 4xx answer no retry can change is raised as botocore raises it
(the client's modeled exception, parsed by botocore's own parser). Anything else (throttling,
5xx, a timeout, a dropped connection) hands the call to the botocore client, which sends it
again under the full retry policy (:mod:`jobjanitor.retry`): the lean attempt is one more
attempt before botocore's own, counted by the rate limiter like any other.

Not used when the client needs botocore's own path: a proxy in the environment, an endpoint URL
with a path of its own, or a caller that configures the client (the CLI's tunnel, tests that
hook its events). A call with a parameter this path does not send (a body member on rest-json,
one the input shape lacks, a value JSON cannot hold) and calls not listed here (and ``meta``,
``exceptions``...) go to the botocore client. X-Ray records no subsegment for the calls sent here.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jobjanitor.deadline import CURRENT_DEADLINE
from jobjanitor.lean_model import Operation

__all__ = ["OPERATIONS", "LeanClient", "lean", "usable"]

# The calls sent on this path, by botocore service name.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "neptunedata": (
        "list_loader_jobs",
        "get_loader_job_status",
        "cancel_loader_job",
        "list_ml_data_processing_jobs",
        "get_ml_data_processing_job",
        "cancel_ml_data_processing_job",
        "list_ml_model_training_jobs",
        "get_ml_model_training_job",
        "cancel_ml_model_training_job",
        "list_ml_model_transform_jobs",
        "get_ml_model_transform_job",
        "cancel_ml_model_transform_job",
    ),
    "glue": ("get_ml_task_runs", "get_ml_task_run", "cancel_ml_task_run"),
}
PROTOCOLS = frozenset({"rest-json", "json"})
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
# 4xx answers botocore's standard retry mode retries: handed to it.
RETRIED_CODES = THROTTLING_CODES | {
    "ClientTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
}
RETRIED_STATUSES = frozenset({408, 429})


def usable(environ: Any = os.environ) -> bool:
    """False when requests must go through a proxy (botocore's path honours it; this one does not)."""
    return not any(environ.get(name) for name in PROXY_VARIABLES)


def lean[C](client: C, session: Any, limiter: Any, profile: Any, *, pool: int, handover: Callable[[], Any]) -> C:
    """``client`` (a botocore client of a service :data:`OPERATIONS` names) with the sweep's calls
    on the lean path, when it can take them (credentials found, no proxy, an endpoint that is a
    host and port only: botocore joins an endpoint's own path to each request's, this path does
    not); else ``client`` itself. ``profile``: the client's timeouts; ``session``:
    its credentials (None: boto3's default session); ``handover()``: a client like it with one
    attempt fewer (the lean attempt was the first), sharing ``limiter``, made on first need."""
    if session is None:
        import boto3  # noqa: PLC0415 - lazy: cold start

        session = boto3.DEFAULT_SESSION or boto3.session.Session()
    credentials = session.get_credentials()
    plain: Any = client  # a botocore client (typed by its caller)
    endpoint = urlsplit(plain.meta.endpoint_url)
    if credentials is None or not usable() or endpoint.path not in ("", "/") or endpoint.query:
        return client
    wrapped = LeanClient(
        client,
        credentials=credentials,
        limiter=limiter,
        handover=handover,
        pool_size=max(10, pool),
        connect_timeout=profile.connect_timeout_s,
        read_timeout=profile.read_timeout_s,
    )
    return wrapped  # type: ignore[return-value] # a stand-in with the client's interface


class LeanClient:
    """The botocore client ``client`` (``neptunedata`` or ``glue``), with its :data:`OPERATIONS`
    sent on the lean path (see the module docstring). ``credentials``: the session's (refreshed as botocore
    refreshes them); ``limiter``: the service's shared rate (``turn()``, ``answered(throttled)``)."""

    def __init__(
        self,
        client: Any,
        *,
        credentials: Any,
        limiter: Any = None,
        handover: Callable[[], Any] | None = None,
        pool_size: int = 10,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
    ) -> None:
        from botocore import __version__ as botocore_version  # noqa: PLC0415 - lazy: cold start
        from botocore.auth import SigV4Auth  # noqa: PLC0415

        self._client = client
        self._credentials = credentials
        self._limiter = limiter
        self._make_handover = handover
        self._handover: Any = None
        self._signer: Any = SigV4Auth
        service = client.meta.service_model
        if service.protocol not in PROTOCOLS:
            raise ValueError(f"{service.service_name} speaks {service.protocol}, not one of {sorted(PROTOCOLS)}")
        self._signing_name: str = service.signing_name
        self._region: str = client.meta.region_name
        self._operations = {
            method: Operation(service.operation_model(client.meta.method_to_api_mapping[method]))
            for method in OPERATIONS[service.service_name]
        }
        url = urlsplit(client.meta.endpoint_url)
        self._https = url.scheme == "https"
        self._host = str(url.hostname)
        self._port = url.port or (443 if self._https else 80)
        self._base = f"{url.scheme}://{url.netloc}"
        self._netloc = url.netloc
        self._pool: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(maxsize=pool_size)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._user_agent = f"Botocore/{botocore_version} jobjanitor/lean-http"
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self.lean_calls = 0  # answered on the lean path (tests, benchmarks)
        self.handed_over = 0  # sent again by the botocore client

    def __getattr__(self, name: str) -> Any:
        operation = self.__dict__.get("_operations", {}).get(name)
        if operation is None:
            return getattr(self._client, name)
        return lambda **params: self._call(name, operation, params)

    # -- one call ------------------------------------------------------------------------
    def _call(self, method: str, operation: Operation, params: dict[str, Any]) -> Any:
        request = operation.request(params)
        if request is None:  # what this path does not send: botocore's whole path
            return getattr(self._client, method)(**params)
        target, payload = request
        if self._limiter is not None:
            self._limiter.turn()
        try:
            status, headers, body = self._send(operation.method, target, payload, operation.headers)
        except (OSError, http.client.HTTPException) as failure:
            return self._hand_over(method, params, self._connection_error(failure))
        code = _error_code(status, headers, body)
        if self._limiter is not None:
            self._limiter.answered(status == 429 or code in THROTTLING_CODES)
        if 200 <= status < 300:
            with self._lock:
                self.lean_calls += 1
            answer = json.loads(body) if body else {}
            return answer if operation.convert is None else operation.convert(answer)
        error = self._client_error(operation, status, headers, body)
        if 400 <= status < 500 and status not in RETRIED_STATUSES and code not in RETRIED_CODES:
            raise error
        return self._hand_over(method, params, error)

    def _hand_over(self, method: str, params: dict[str, Any], error: Exception) -> Any:
        """The call sent again by a botocore client under the retry policy (its attempts after
        the lean one); ``error`` raised instead when no retry may start (none left, or too
        little time before the deadline, as the policy decides for its own retries)."""
        from jobjanitor.retry import RETRY_HEADROOM_S  # noqa: PLC0415 - lazy: cold start

        deadline = CURRENT_DEADLINE.get()
        if self._make_handover is None or (deadline is not None and deadline.remaining() < RETRY_HEADROOM_S):
            raise error
        with self._lock:
            self.handed_over += 1
            if self._handover is None:
                self._handover = self._make_handover()
        return getattr(self._handover, method)(**params)

    def _connection_error(self, error: BaseException) -> Exception:
        """What botocore raises when an attempt's connection fails or times out."""
        from botocore.exceptions import EndpointConnectionError, ReadTimeoutError  # noqa: PLC0415 - lazy

        if isinstance(error, TimeoutError):
            return ReadTimeoutError(endpoint_url=self._base, error=error)
        return EndpointConnectionError(endpoint_url=self._base, error=error)

    def _send(
        self, method: str, target: str, body: bytes | None = None, extra: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415 - lazy: cold start

        headers = {**(extra or {}), "User-Agent": self._user_agent}
        request = AWSRequest(method, self._base + target, headers=headers, data=body)
        self._signer(self._credentials.get_frozen_credentials(), self._signing_name, self._region).add_auth(request)
        headers = dict(request.headers.items())
        conn = self._connection()
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            conn.close()
            raise
        answer = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            conn.close()
        else:
            self._release(conn)
        return response.status, answer, body

    def _connection(self) -> http.client.HTTPConnection:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._new_connection()
        if conn.sock is None:
            conn.timeout = self._connect_timeout
            conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self._attempt_timeout())
        return conn

    def _new_connection(self) -> http.client.HTTPConnection:
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        if self._tls is None:
            from botocore.httpsession import where  # noqa: PLC0415 - lazy: cold start

            self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or where())
        return http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout, context=self._tls)

    def _release(self, conn: http.client.HTTPConnection) -> None:
        try:
            self._pool.put_nowait(conn)
        except queue.Full:
            conn.close()

    def _attempt_timeout(self) -> float:
        """The read timeout of one attempt: the time left before the run's deadline, within bounds
        (as :mod:`jobjanitor.retry` bounds the botocore client's)."""
        from jobjanitor.retry import MIN_READ_TIMEOUT_S, time_left  # noqa: PLC0415 - lazy: cold start

        left = time_left()
        return self._read_timeout if left is None else max(MIN_READ_TIMEOUT_S, min(self._read_timeout, left))

    def _client_error(self, operation: Operation, status: int, headers: dict[str, str], body: bytes) -> Exception:
        """The exception botocore raises for this answer (its parser, the client's modeled classes)."""
        from botocore.parsers import create_parser  # noqa: PLC0415 - lazy: cold start

        model = self._client.meta.service_model.operation_model(operation.name)
        parsed = create_parser(operation.protocol).parse(
            {"status_code": status, "headers": headers, "body": body}, model.output_shape
        )
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
        error_class: type[Exception] = self._client.exceptions.from_code(parsed.get("Error", {}).get("Code"))
        return error_class(parsed, operation.name)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return


def _error_code(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """The error code of a non-2xx answer (rest-json: the x-amzn-ErrorType header, else the
    body's ``code`` or ``__type``), as botocore reads it."""
    if 200 <= status < 300:
        return None
    code = headers.get("x-amzn-errortype")
    if not code:
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = {}
        code = document.get("code") or document.get("__type") if isinstance(document, dict) else None
    if not code:
        return None
    return str(code).split(":", 1)[0].rsplit("#", 1)[-1]
