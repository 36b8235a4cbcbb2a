"""CloudFormation's side of the custom-resource protocol, on loopback.

- :class:`ResponseReceiver` stands in for the presigned S3 ResponseURL: it takes the PUTs,
  checks them as CloudFormation would, and keeps every one per request.
- :class:`LambdaContext` is a realistic Lambda context with a real countdown.
- :func:`custom_resource_event` builds Create/Update/Delete requests shaped exactly as
  CloudFormation sends them (every property value a string).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

REQUIRED_KEYS = ("Status", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId")


@dataclass
class ReceivedResponse:
    path: str
    raw: bytes
    headers: dict[str, str]
    received_at: float

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


def contract_violations(resp: ReceivedResponse, request: dict[str, Any] | None = None) -> list[str]:
    """What CloudFormation would reject or misread in a response (empty list: none)."""
    problems: list[str] = []
    if len(resp.raw) > 4096:
        problems.append(f"body is {len(resp.raw)} bytes (> 4096)")
    if resp.headers.get("content-type", "") != "":
        problems.append(f"Content-Type is {resp.headers.get('content-type')!r}, expected empty")
    try:
        body = resp.body
    except ValueError:
        return [*problems, "body is not JSON"]
    problems += [f"missing {k}" for k in REQUIRED_KEYS if k not in body]
    if body.get("Status") not in ("SUCCESS", "FAILED"):
        problems.append(f"Status is {body.get('Status')!r}")
    if body.get("Status") == "FAILED" and not body.get("Reason"):
        problems.append("FAILED without a Reason")
    pid = body.get("PhysicalResourceId")
    if not isinstance(pid, str) or not pid or len(pid.encode()) > 1024:
        problems.append(f"PhysicalResourceId {pid!r} is empty, not a string or over 1 KB")
    data = body.get("Data", {})
    if not isinstance(data, dict):
        problems.append("Data is not an object")
    if request is not None:
        for key in ("StackId", "RequestId", "LogicalResourceId"):
            if body.get(key) != request.get(key):
                problems.append(f"{key} does not echo the request")
        # Delete must keep the id; Update may change it only for a replacement.
        if request.get("RequestType") == "Delete" and pid != request.get("PhysicalResourceId"):
            problems.append("Delete changed the PhysicalResourceId")
    return problems


class _Handler(BaseHTTPRequestHandler):
    server: _ReceiverServer

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        status = self.server.owner._next_status()
        self.server.owner._record(
            ReceivedResponse(
                path=urlsplit(self.path).path,
                raw=raw,
                headers={k.lower(): v for k, v in self.headers.items()},
                received_at=time.time(),
            ),
            accepted=200 <= status < 300,
        )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: ResponseReceiver


class ResponseReceiver:
    """Loopback HTTP server that takes CloudFormation responses. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _ReceiverServer((host, port), _Handler)
        self._server.owner = self
        self._lock = threading.Condition()
        self._responses: dict[str, list[ReceivedResponse]] = {}
        self._rejected: list[ReceivedResponse] = []
        self._statuses: list[int] = []
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, request_id: str) -> str:
        # Shaped like a presigned S3 URL, with a query string that must never reach the logs.
        return f"{self.base_url}/cloudformation-custom-resource-response/{request_id}?X-Amz-Signature=secret"

    def fail_next(self, *statuses: int) -> None:
        """Answer the next PUTs with these HTTP statuses (e.g. 500, 403) before accepting."""
        with self._lock:
            self._statuses.extend(statuses)

    def _next_status(self) -> int:
        with self._lock:
            return self._statuses.pop(0) if self._statuses else 200

    def _record(self, resp: ReceivedResponse, *, accepted: bool) -> None:
        request_id = resp.path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            if accepted:
                self._responses.setdefault(request_id, []).append(resp)
            else:
                self._rejected.append(resp)
            self._lock.notify_all()

    def responses(self, request_id: str) -> list[ReceivedResponse]:
        with self._lock:
            return list(self._responses.get(request_id, []))

    @property
    def rejected(self) -> list[ReceivedResponse]:
        with self._lock:
            return list(self._rejected)

    def wait_for(self, request_id: str, timeout: float = 10.0) -> ReceivedResponse:
        end = time.monotonic() + timeout
        with self._lock:
            while not self._responses.get(request_id):
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no response for request {request_id} within {timeout}s")
                self._lock.wait(left)
            return self._responses[request_id][0]

    def start(self) -> ResponseReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="cfn-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ResponseReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context``, with a real countdown."""

    function_name: str = "jobjanitor-guard"
    timeout_seconds: float = 900.0
    memory_limit_in_mb: int = 256
    region: str = "us-east-1"
    account: str = "123456789012"
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"2026/11/24/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def stack_id(stack_name: str = "consumer", region: str = "us-east-1", account: str = "123456789012") -> str:
    return f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{uuid.uuid4()}"


def custom_resource_event(
    request_type: str,
    properties: dict[str, Any],
    *,
    receiver: ResponseReceiver | None = None,
    response_url: str | None = None,
    stack: str | None = None,
    logical_id: str = "JobJanitorGuard",
    physical_id: str | None = None,
    old_properties: dict[str, Any] | None = None,
    request_id: str | None = None,
    service_token: str = "arn:aws:lambda:us-east-1:123456789012:function:jobjanitor-guard",  # noqa: S107 - an ARN, not a secret
) -> dict[str, Any]:
    """A request exactly as CloudFormation sends it. Property values are not converted:
    pass strings, as CloudFormation does, or other types to test validation."""
    request_id = request_id or str(uuid.uuid4())
    if response_url is None:
        if receiver is None:
            raise ValueError("pass a receiver or a response_url")
        response_url = receiver.url_for(request_id)
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": service_token,
        "ResponseURL": response_url,
        "StackId": stack or stack_id(),
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": "Custom::JobJanitorGuard",
        "ResourceProperties": {"ServiceToken": service_token, **properties},
    }
    if request_type in ("Update", "Delete"):
        if physical_id is None:
            raise ValueError(f"{request_type} needs the physical_id of the resource")
        event["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = {"ServiceToken": service_token, **(old_properties or {})}
    return event
