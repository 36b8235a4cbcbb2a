"""The test bed's own request parsing (jobjanitor_testbed.httpfast) on both servers: keep-alive,
malformed request lines, Expect: 100-continue, oversized headers."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign


def signed(method: str, url: str, body: bytes = b"") -> bytes:
    """Header lines signing the request, as the Neptune emulator requires (jobjanitor_testbed.sigv4)."""
    return "".join(f"{name}: {value}\r\n" for name, value in sign(method, url, body).items()).encode()


def exchange(url: str, raw: bytes, *, reads: int = 1) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        for _ in range(reads):
            chunk = sock.recv(65536)
            data += chunk
        return data


@pytest.mark.parametrize("server", ["neptune", "aws"])
def test_malformed_request_line_is_a_400(testbed: TestBed, server: str) -> None:
    url = testbed.neptune_url if server == "neptune" else testbed.aws_url
    # As http.server answers a request line it cannot read: its error page, status 400.
    assert b"Error code: 400" in exchange(url, b"GET /loader FOO/1.1\r\n\r\n")


def test_two_requests_on_one_connection_and_100_continue(testbed: TestBed) -> None:
    parts = urlsplit(testbed.neptune_url)
    request = b"GET /loader HTTP/1.1\r\n%sContent-Length: 0\r\n\r\n" % signed("GET", testbed.neptune_url + "/loader")
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(request)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            assert b'"loadIds": []' in answer
        head = signed("POST", testbed.neptune_url + "/loader", b"{}")
        sock.sendall(b"POST /loader HTTP/1.1\r\n%sExpect: 100-continue\r\nContent-Length: 2\r\n\r\n" % head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100")
        sock.sendall(b"{}")
        assert b"MissingParameterException" in sock.recv(65536)
    assert testbed.neptune_log.operations() == ["ListLoaderJobs", "ListLoaderJobs", "StartLoaderJob"]


def test_too_many_headers_is_refused(testbed: TestBed) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    answer = exchange(testbed.neptune_url, b"GET /loader HTTP/1.1\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
