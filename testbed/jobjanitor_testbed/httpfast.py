"""Request-line and header parsing for the test bed's HTTP handlers, without ``email``'s parser.

``http.server`` parses every request's headers with the ``email`` package's feed parser: at
20,000 jobs that was a third of the test bed's own CPU per request, and the test bed must cost
well under the client it measures. :class:`FastParseMixin` reads the same lines into the same
:class:`http.client.HTTPMessage` type (so ``self.headers.get(...)``, ``items()`` and werkzeug's
environ work unchanged) with plain string splitting. Behaviour kept from ``http.server``:
HTTP/1.1 keep-alive and ``Connection`` handling, ``Expect: 100-continue``, 400 for a malformed
request line, 431 for too many or too long header lines. The ``Date`` header's text is made
once a second (``email.utils.formatdate`` per answer was a few percent of the test bed's CPU).
"""

from __future__ import annotations

import email.utils
import http.client
import time
from http import HTTPStatus
from typing import Any

MAX_LINE = 65536
MAX_HEADERS = 100
# (whole second, its HTTP date): one tuple, replaced whole, so threads read a consistent pair
_date: tuple[int, str] = (0, "")


class Headers(http.client.HTTPMessage):
    """An :class:`http.client.HTTPMessage` whose ``get``, ``[]`` and ``in`` look a name up in an
    index of each name's first value (``email``'s compare every header, lowercased, on each call:
    about 60 ``str.lower`` a request). The same answers: the first value of a repeated name,
    names compared without case; deleting a name drops it from the index as from the message."""

    def __init__(self) -> None:
        super().__init__()
        self._first: dict[str, str] = {}

    def __setitem__(self, name: str, val: Any) -> None:
        super().__setitem__(name, val)
        self._first.setdefault(name.lower(), val)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._first.pop(name.lower(), None)

    def __getitem__(self, name: str) -> Any:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._first.get(name.lower(), failobj)


class FastParseMixin:
    """Mix in before ``BaseHTTPRequestHandler`` (or werkzeug's handler)."""

    raw_requestline: bytes
    rfile: Any
    protocol_version: str
    default_request_version: str

    def parse_request(self) -> bool:
        handler: Any = self
        handler.command = None
        handler.request_version = self.default_request_version
        handler.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        handler.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            handler.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        handler.command, path, handler.request_version = words
        handler.path = "/" + path.lstrip("/") if path.startswith("//") else path
        if words[2] >= "HTTP/1.1" and self.protocol_version >= "HTTP/1.1":
            handler.close_connection = False
        headers = Headers()
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                handler.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if sep:
                headers[name.strip()] = value.strip()
        else:
            handler.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        handler.headers = headers
        connection = (headers.get("Connection") or "").lower()
        if connection == "close":
            handler.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            handler.close_connection = False
        expect = (headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1":
            return bool(handler.handle_expect_100())
        return True

    def handle_expect_100(self) -> bool:
        """Send ``100 Continue`` now: the handlers buffer their writes until the answer is done,
        and a client waiting for the 100 would otherwise never send its body."""
        handler: Any = self
        handler.send_response_only(HTTPStatus.CONTINUE)
        handler.end_headers()
        handler.wfile.flush()
        return True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """As ``BaseHTTPRequestHandler.date_time_string`` (the time to the second), the current
        second's text made once."""
        global _date  # noqa: PLW0603 - the one cached value, shared by every handler thread
        if timestamp is not None:
            return email.utils.formatdate(timestamp, usegmt=True)
        second = int(time.time())
        cached = _date
        if cached[0] != second:
            cached = _date = (second, email.utils.formatdate(second, usegmt=True))
        return cached[1]
