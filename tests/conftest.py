"""Fixtures every test directory shares: the test bed (plugin), a job still starting, and a
hostile endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest_plugins = ["jobjanitor_testbed.pytest_plugin"]


@pytest.fixture
def still_starting() -> Callable[[object, str, str], None]:
    """``still_starting(bed, api_kind, job_id)``: make a seeded Neptune ML job one that names no
    SageMaker job yet (a job still starting). The test bed starts a job's SageMaker jobs with
    it and has no such phase, so this drops them from the job (and from moto), through the
    emulator's state."""

    def make(bed: object, kind: str, job_id: str) -> None:
        from jobjanitor_testbed import moto_sagemaker

        state = bed.neptune.state  # type: ignore[attr-defined]
        with state._lock:
            job = state._ml[kind][job_id]
            moto_sagemaker.remove_linked(state.account, state.region, job.sagemaker)
            job.sagemaker = []

    return make


# -- a hostile "endpoint": records what reaches it, answers with an unsafe error body -------
HOSTILE_MARKER = "SECRET-TAIL-MUST-NOT-SHOW"
HOSTILE_MESSAGE = "<html>\n<script>alert(1)</script>\r\n" + "x" * 400 + HOSTILE_MARKER


class _Hostile(BaseHTTPRequestHandler):
    server: Any

    def _answer(self) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        body = json.dumps({"code": "BadRequestException", "message": HOSTILE_MESSAGE}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hostile() -> Iterator[Any]:
    """A loopback HTTP server standing in for a host that is not Neptune (169.254.169.254, a
    random web server): ``.url``, ``.requests`` it received, ``.marker`` (the tail of its
    error message, which must never reach a Reason)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.requests = []
    server.marker = HOSTILE_MARKER
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
