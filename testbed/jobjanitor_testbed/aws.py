"""moto's server (the AWS side of the test bed) behind the shared fault injection and request log.

moto's own WSGI app (``DomainDispatcherApplication(create_backend_app)``) runs under
werkzeug's threaded server with a request handler that consults :class:`Faults` before moto
sees the request and records every request in a :class:`RequestLog`.

- Operation names: the ``X-Amz-Target`` operation (``AWSGlue.GetMLTaskRuns`` ->
  ``GetMLTaskRuns``), else the query protocol's ``Action`` (in the query string, or in the
  form-encoded body boto3 sends for CloudFormation, IAM, STS: ``DescribeStacks``), else
  ``"<METHOD> <path>"``. A form body read to name the operation is replayed to moto.
- Throttle (random, or the rate limit of ``faults.limit_rate``, one bucket per operation): json
  protocols get HTTP 400 ``{"__type": "ThrottlingException", "message": "Rate exceeded"}``;
  others get a 400 XML ``Throttling`` error.
- A slow or hung DynamoDB table: latency or ``hang_rate`` with
  ``operations=DYNAMODB_ITEM_OPERATIONS`` (a hung request is closed unanswered when released and
  never reaches moto).
- Error: json protocols get HTTP 500 ``{"__type": "InternalServiceException"}`` (Glue's
  name); others a 500 XML ``InternalFailure``.
- Injected codes (``faults.inject("EntityNotFoundException")``): HTTP 400 unless a status is
  given, body ``{"__type": code, "message": ...}`` (Glue: ``"Message"``). For Glue operations
  only codes Glue's model declares for the operation (or ThrottlingException) are accepted.
- Glue answers (``X-Amz-Target: AWSGlue.*``) go out as Glue sends them: Content-Type
  ``application/x-amz-json-1.1``, errors as ``{"__type": code, "Message": text}``; a moto
  failure (an operation moto lacks raises NotImplementedError, which werkzeug would answer
  with a 500 HTML page) becomes a 500 ``InternalServiceException`` JSON body.
- Glue requests (``X-Amz-Target: AWSGlue.*``, or signed for ``glue``, which moto routes to its
  Glue backend whatever the target) have their SigV4 signature verified before moto
  sees them, as Glue does (unless ``iam`` is off): :mod:`jobjanitor_testbed.sigv4`, service
  ``glue``, a region moto serves Glue in, the credentials of the verifier's keyring (the test bed
  shares the Neptune emulator's: one ``allow`` admits a key on both). A refused request is
  answered as a json-1.1 service answers it (``{"__type": code, "Message": ...}``: 403
  MissingAuthenticationTokenException, IncompleteSignatureException or InvalidSignatureException,
  400 UnrecognizedClientException), logged with that code, and never reaches moto. Requests to
  the other services moto serves are not verified (moto checks no signature).
- moto's control API (``/moto-api/...``) is never faulted nor logged.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.loaders import Loader
from botocore.session import get_session
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from . import sigv4
from .faults import Decision, Faults, LogEntry, RequestLog, sleep_latency
from .httpfast import FastParseMixin

# The DynamoDB item operations (json protocol: named by X-Amz-Target) the janitor's tables see.
DYNAMODB_ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"})


def _install_glue_extension() -> None:
    try:
        from . import moto_glue  # noqa: PLC0415 - optional, written separately
    except ImportError:  # pragma: no cover - only before moto_glue landed
        return
    moto_glue.install()


def _install_lambda_fidelity() -> None:
    from . import moto_lambda  # noqa: PLC0415 - moto's Lambda is loaded with the server

    moto_lambda.install()


class _FaultyMotoHandler(FastParseMixin, MotoRequestHandler):
    server: _AwsWSGIServer
    # One buffered write per answer (http.server flushes after each request) and no Nagle
    # delay, as in the Neptune emulator: headers and body in separate writes cost a second
    # system call and a delayed-ACK round trip per request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _operation(self) -> str:
        target = self.headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        url = urlsplit(self.path)
        action = parse_qs(url.query).get("Action")
        if action:
            return action[-1]
        content_type = (self.headers.get("Content-Type") or "").lower()
        if self.command == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
            action = parse_qs(self._body.decode("utf-8", "replace")).get("Action")
            if action:
                return action[-1]
        return f"{self.command} {url.path}"

    def _read_body(self) -> None:
        """The request's body, read once, here: the query protocol's form body names the
        operation, and moto gets the body from memory. werkzeug's handler drains the socket
        after each answer (it expects the connection to close); on a kept-alive connection that
        drain would swallow the client's next request and block until the client gave up."""
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""

    def _send_fault(self, status: int, code: str, message: str) -> None:
        if self.headers.get("X-Amz-Target"):
            key = "Message" if _is_glue(self.headers.get("X-Amz-Target")) else "message"
            body = json.dumps({"__type": code, key: message}).encode()
            ctype = "application/x-amz-json-1.1"
        else:
            body = (
                f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{_request_id()}</RequestId></ErrorResponse>"
            ).encode()
            ctype = "text/xml"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", _request_id())
        self.end_headers()
        self.wfile.write(body)

    def _refusal(self) -> tuple[int, str, str] | None:
        """What Glue answers a request not signed as it requires (None: served, or not Glue's).
        Glue's: an ``AWSGlue.`` target, or a credential scope naming glue (moto picks its backend
        by the scope's service: a request with another target would reach moto's Glue)."""
        aws = self.server.aws
        if not aws.iam:
            return None
        if not _is_glue(self.headers.get("X-Amz-Target")) and _GLUE_SCOPE not in (
            self.headers.get("Authorization") or ""
        ):
            return None
        refusal = aws.sigv4.verify(self.command, self.path, self.headers, self._body)
        return None if refusal is None else (refusal.status, refusal.code, refusal.message)

    def _fault_response(self, decision: Decision) -> tuple[int, str, str] | None:
        json_protocol = bool(self.headers.get("X-Amz-Target"))
        if decision.action in {"throttle", "rate-limit"}:
            return 400, "ThrottlingException" if json_protocol else "Throttling", "Rate exceeded"
        if decision.action == "error":
            return (500, "InternalServiceException" if json_protocol else "InternalFailure", "Internal service error")
        if decision.action == "inject":
            assert decision.code is not None  # noqa: S101
            return decision.status or 400, decision.code, decision.message or f"Injected {decision.code}"
        return None

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["jobjanitor.meta"] = getattr(self, "_meta", None)
        return environ

    def run_wsgi(self) -> None:
        url = urlsplit(self.path)
        self._meta: _Meta | None = None
        if url.path.startswith("/moto-api"):
            super().run_wsgi()
            return
        aws = self.server.aws
        arrived, t0 = time.time(), time.perf_counter()
        self._body = b""
        self._read_body()
        operation = self._operation()
        decision = aws.faults.decide(operation)
        sleep_latency(decision)
        decision.hold()  # a "hang": held until released, then closed unanswered (never applied)
        fault = decision.action if decision.action != "pass" else None
        if decision.action in {"drop", "hang"}:
            aws.log.add(
                LogEntry(
                    "aws", operation, self.command, url.path, "dropped", arrived, time.perf_counter() - t0, None, fault
                )
            )
            self.close_connection = True
            return
        answer = self._fault_response(decision) or self._refusal()
        if answer is not None:
            status, code, message = answer  # a fault's, or a signature refused (fault None)
            aws.log.add(
                LogEntry(
                    "aws", operation, self.command, url.path, status, arrived, time.perf_counter() - t0, code, fault
                )
            )
            self._send_fault(status, code, message)
            return
        if aws.fast_paths and self._fast(operation, url.path, arrived, t0):
            return
        # Passed through to moto: _LoggingApp logs once moto's answer is complete, before it is sent.
        self._meta = _Meta(aws.log, operation, self.command, url.path, arrived, t0)
        connection = self.rfile
        self.rfile = io.BytesIO(self._body)  # moto reads the body this handler already read
        try:
            super().run_wsgi()
        finally:
            self.rfile = connection

    def _fast(self, operation: str, path: str, arrived: float, t0: float) -> bool:
        """Glue's ML task-run operations and SageMaker's job listings, answered from moto's
        backends without moto's per-request dispatch (:func:`moto_glue.fast_answer`,
        :func:`moto_sagemaker.fast_answer`). False: for moto to answer."""
        from . import moto_glue, moto_sagemaker  # noqa: PLC0415 - installed with the server

        target = self.headers.get("X-Amz-Target") or ""
        glue = _is_glue(target) and operation in moto_glue.FAST_OPERATIONS
        if not glue and not (target.startswith("SageMaker.") and operation in moto_sagemaker.FAST_OPERATIONS):
            return False
        account, region = _account_and_region(self.headers.get("Authorization"), self.headers.get("x-moto-account-id"))
        if glue:
            status, payload = moto_glue.fast_answer(operation, self._body, account, region) or (500, b"{}")
        else:
            listing = moto_sagemaker.fast_answer(operation, self._body, account, region)
            if listing is None:
                return False
            status, payload = 200, listing
        code = _error_code(payload) if status >= 400 else None
        self.server.aws.log.add(
            LogEntry("aws", operation, self.command, path, status, arrived, time.perf_counter() - t0, code, None)
        )
        self.send_response(status)
        self.send_header("Content-Type", GLUE_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", _request_id())
        self.end_headers()
        self.wfile.write(payload)
        return True


def _account_and_region(authorization: str | None, account_header: str | None) -> tuple[str, str]:
    """The account and region moto would serve a SigV4-signed request from."""
    region, access_key = "us-east-1", ""
    if authorization and "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        access_key = scope[0]
        if len(scope) >= 3:
            region = scope[2]
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"], region
    if account_header:
        return account_header, region
    from moto.iam.models import get_account_id_from  # noqa: PLC0415 - moto's own rule

    return get_account_id_from(access_key), region


class _CachedDispatcher(DomainDispatcherApplication):
    """moto's dispatcher with its host -> backend answer kept: moto lists its module directory
    (some 180 stat calls) on every request to find it, a third of a request's CPU."""

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


@dataclass(frozen=True)
class _Meta:
    log: RequestLog
    operation: str
    method: str
    path: str
    arrived: float
    t0: float


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_GLUE_SCOPE = "/glue/aws4_request"
GLUE_CONTENT_TYPE = "application/x-amz-json-1.1"  # SageMaker's too


def _is_glue(target: str | None) -> bool:
    return bool(target) and str(target).startswith("AWSGlue.")


@cache
def glue_regions() -> frozenset[str]:
    """The regions moto serves Glue in: botocore's, in every partition (moto's own rule)."""
    session = get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("glue", partition_name=partition)
    )


@cache
def glue_operation_errors() -> dict[str, frozenset[str]]:
    """Glue operation -> the error codes botocore's model declares for it."""
    model = Loader().load_service_model("glue", "service-2")
    return {name: frozenset(e["shape"] for e in op.get("errors", [])) for name, op in model["operations"].items()}


def glue_declared(operation: str) -> frozenset[str] | None:
    """Codes a fault may answer a Glue operation with (None: not a Glue operation, anything goes).
    ThrottlingException is AWS's common throttling error, which Glue's model lists nowhere."""
    codes = glue_operation_errors().get(operation)
    return None if codes is None else codes | {"ThrottlingException"}


def _request_id() -> str:
    """A version-4 UUID's text from the process's PRNG: ``uuid.uuid4`` reads ``os.urandom``, a
    system call (and a GIL hand-off under 16 concurrent requests) on every answer; a request id
    needs to be unique, not secret."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _glue_answer(status: int, headers: list[tuple[str, str]], body: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Content-Type and error body as Glue sends them."""
    if status >= 400:
        try:
            parsed = json.loads(body)
            code = str(parsed.get("__type") or "InternalServiceException")
            message = str(parsed.get("Message") or parsed.get("message") or "")
        except (ValueError, AttributeError):
            code, message = "InternalServiceException", "Internal service error"
        body = json.dumps({"__type": code, "Message": message}).encode()
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
    return [*kept, ("Content-Type", GLUE_CONTENT_TYPE), ("Content-Length", str(len(body)))], body


def _error_code(body: bytes) -> str | None:
    text = body.strip()
    if text.startswith(b"{"):
        try:
            code = json.loads(text).get("__type")
        except (ValueError, AttributeError):
            return None
        return str(code).rsplit("#", 1)[-1] if code else None
    match = _XML_CODE.search(text)
    return match.group(1).decode(errors="replace") if match else None


class _LoggingApp:
    """WSGI wrapper: buffers moto's answer and logs the request before the answer goes out."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        meta: _Meta | None = environ.get("jobjanitor.meta")
        if meta is None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        seen: dict[str, Any] = {}

        def _start(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, list(headers)
            return lambda data: None  # moto returns its body; nobody writes through this

        try:
            result = self.app(environ, _start)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # moto failed (e.g. NotImplementedError): answer as AWS would
            body = json.dumps({"__type": "InternalServiceException", "message": f"{type(exc).__name__}"}).encode()
            seen["status"] = "500 INTERNAL SERVER ERROR"
            seen["headers"] = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        status = int(seen.get("status", "500").split()[0])
        headers: list[tuple[str, str]] = seen.get("headers", [])
        if _is_glue(environ.get("HTTP_X_AMZ_TARGET")):
            headers, body = _glue_answer(status, headers, body)
        start_response(seen.get("status", "500 INTERNAL SERVER ERROR"), headers)
        meta.log.add(
            LogEntry(
                "aws",
                meta.operation,
                meta.method,
                meta.path,
                status,
                meta.arrived,
                time.perf_counter() - meta.t0,
                _error_code(body) if status >= 400 else None,
                None,
            )
        )
        return [body]


class _AwsWSGIServer(BaseWSGIServer):
    aws: AwsServer


class AwsServer:
    """moto's server on loopback with fault injection and a request log."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        log: RequestLog | None = None,
        iam: bool = True,
        region: str = "us-east-1",
        keyring: sigv4.Keyring | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.faults = faults if faults is not None else Faults()
        self.faults.declared = glue_declared
        self.log = log if log is not None else RequestLog()
        self.iam = iam  # every Glue request's SigV4 signature verified (False: none is)
        # Glue's signatures: service glue, the test bed's region or another moto serves Glue in
        # (a janitor's GlueRegion), the keyring's credentials (the test bed shares Neptune's).
        self.sigv4 = sigv4.Verifier(region, service="glue", regions=glue_regions(), keyring=keyring)
        # Glue's task-run operations and SageMaker's job listings answered without moto's
        # dispatcher (the same backends and answers, a fraction of the CPU); False: all by moto.
        self.fast_paths = True
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> AwsServer:
        if self._server is not None:
            return self
        _install_glue_extension()
        _install_lambda_fidelity()
        app = _LoggingApp(_CachedDispatcher(create_backend_app))
        server = make_server(self.host, self.port, app, threaded=True, request_handler=_FaultyMotoHandler)
        server.aws = self  # type: ignore[attr-defined]
        server.socket.listen(1024)  # a deeper accept backlog than werkzeug's, for bursts of clients
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="moto-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> AwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset_backends(self) -> None:
        """Reset moto's state (all services) in this process, like POST /moto-api/reset."""
        from moto.moto_api import _internal  # noqa: PLC0415 - heavy import, only when used

        _internal.moto_api_backend.reset()

    def reset(self) -> None:
        """moto's state, the log and faults cleared; only the test bed's own credentials accepted
        (the keyring is shared: the Neptune emulator's too), nothing counted (``iam`` stays)."""
        self.reset_backends()
        self.sigv4.reset()
        self.log.clear()
        self.faults.clear()
