"""Delivering a custom-resource response to CloudFormation's presigned ResponseURL.

Used only by :class:`jobjanitor.protocol.custom_resource.Answer`, the one place that answers.
Bounded attempts with exponential backoff and full jitter, stopping at a deadline; only a 2xx
counts as delivered; the URL is never logged (only its host): it is a bearer credential that
answers for the resource. (crhelper's sender, which this replaced, retried in a ``while True``
loop, never checked the HTTP status and logged the URL at DEBUG: docs/design.md.)
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("jobjanitor.protocol.response")

# CloudFormation rejects a response body over 4,096 bytes.
MAX_BODY_BYTES = 4096
# Reasons are kept short, and cut keeping their start (the part that names the problem).
MAX_REASON_CHARS = 250
# encode_body never shortens a Reason below this (enough for "jobjanitor: ...").
MIN_REASON_CHARS = 20
TRUNCATED_KEY = "Truncated"
REDACTED = "[ResponseURL]"


def redact(text: str, url: str) -> str:
    """``text`` without the presigned ``url`` (whole, or without its query string)."""
    for secret in (url, url.split("?", 1)[0]):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def shorten_reason(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """Keep the start of a reason: it names the field or the failing job."""
    reason = " ".join(str(reason).split())
    if len(reason) <= limit:
        return reason
    return reason[: limit - 3].rstrip() + "..."


def encode_body(body: Mapping[str, Any]) -> bytes:
    """JSON-encode a response so that it fits 4,096 bytes, in a bounded number of steps.

    Data goes first, largest value first (counts are small and survive; id lists go), then
    Reason is halved down to a stub. The envelope (Status, ids) is never changed: CloudFormation
    matches the answer on it. If the envelope alone is over the limit (a malformed request with
    an oversized StackId or PhysicalResourceId) no valid answer exists: the smallest body is
    returned and an error logged, so the caller still sends one answer and never loops.
    """
    out = dict(body)
    out["Reason"] = shorten_reason(str(out.get("Reason", "")))
    data = {str(k): v for k, v in dict(out.get("Data") or {}).items()}
    out["Data"] = data

    def encoded() -> bytes:
        return json.dumps(out, separators=(",", ":"), default=str).encode()

    raw = encoded()
    # Each pass removes one original key: at most len(data) passes.
    for _ in range(len(data)):
        if len(raw) <= MAX_BODY_BYTES:
            return raw
        data.pop(TRUNCATED_KEY, None)
        if not data:
            break
        largest = max(data, key=lambda k: len(json.dumps(data[k], default=str)))
        del data[largest]
        data[TRUNCATED_KEY] = "true"
        raw = encoded()
    if len(raw) > MAX_BODY_BYTES and data:
        data.clear()  # even the "Truncated" marker does not fit
        raw = encoded()
    # Halving: at most log2(MAX_REASON_CHARS) passes.
    while len(raw) > MAX_BODY_BYTES and len(out["Reason"]) > MIN_REASON_CHARS:
        out["Reason"] = shorten_reason(out["Reason"], max(MIN_REASON_CHARS, len(out["Reason"]) // 2))
        raw = encoded()
    if len(raw) > MAX_BODY_BYTES:
        log.error(
            "response body cannot fit CloudFormation's limit: the request's own ids are too large",
            extra={"bytes": len(raw), "limit": MAX_BODY_BYTES},
        )
    return raw


Sleeper = Callable[[float], None]


def put_response(
    url: str,
    body: Mapping[str, Any],
    *,
    deadline: float | None = None,
    attempts: int = 6,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    timeout: float = 10.0,
    sleep: Sleeper = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """PUT ``body`` to the presigned ``url``. Returns True once a 2xx was received.

    ``deadline`` is a ``clock()`` value after which no new attempt starts.
    """
    raw = encode_body(body)
    host = urlsplit(url).netloc
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's presigned http(s) URL
            url, data=raw, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(raw))}
        )
        # No attempt may outlive the deadline: the Lambda would be cut off mid-PUT.
        attempt_timeout = timeout if deadline is None else max(0.5, min(timeout, deadline - clock()))
        try:
            with urllib.request.urlopen(request, timeout=attempt_timeout) as resp:  # noqa: S310 - see above
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            status = 0
            error = type(exc).__name__
        else:
            error = f"HTTP {status}"
        if 200 <= status < 300:
            log.info("response delivered", extra={"host": host, "attempt": attempt, "status": body.get("Status")})
            return True
        delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.random()  # noqa: S311 - jitter, not crypto
        last = attempt == attempts or (deadline is not None and clock() + delay >= deadline)
        log.warning(
            "response not accepted%s",
            "; giving up" if last else "; retrying",
            extra={"host": host, "attempt": attempt, "error": error},
        )
        if last:
            return False
        sleep(delay)
    return False
