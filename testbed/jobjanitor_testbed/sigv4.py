"""SigV4 verification of the requests the test bed receives: every Neptune request, as a cluster
with IAM DB authentication verifies them, and every Glue request (``aws.AwsServer``), as Glue does.

Written from the signing process AWS documents ("Create a signed AWS API request", Signature
Version 4 with the signature in the ``Authorization`` header), not with botocore's signer: the
janitor's lean request path (``jobjanitor.lean_http``) signs with botocore's, and a check that
shared its code would share its mistakes. What is verified, on the request as it was received:

- ``Authorization: AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request,
  SignedHeaders=<a;b;...>, Signature=<64 hex>``, well formed; the signed headers include ``host``
  and ``x-amz-date`` and every one of them was received;
- the access key is one this verifier's :class:`Keyring` knows (:data:`ACCESS_KEY` by default, the
  credentials the test bed gives everything it starts; one keyring serves both of the test bed's
  verifiers), the verifier's service (``neptune-db``, or ``glue``), a region it serves;
- ``X-Amz-Date`` is the scope's date and within :data:`MAX_SKEW_S` of the wall clock (signers
  sign with the wall clock, never with the test bed's virtual one);
- for temporary credentials, ``X-Amz-Security-Token`` is their session token (and sent by nobody
  else);
- the signature, recomputed from the method, path, query string, signed headers (``host`` as
  received: a client reaching the cluster through a tunnel signs for the cluster's name) and the
  SHA-256 of the body received (as received: an ``x-amz-content-sha256`` header is never taken in
  its place, and one that differs from the body's hash is refused), with that key's secret.

Every failure is a :class:`Refusal`: a message, and the code and status a json-protocol service
answers it with (the Neptune emulator answers every one 403 AccessDeniedException, as Neptune
does). :func:`sign` signs a request the same way, for tests that send raw HTTP.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import hmac
import posixpath
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "neptune-db"
MAX_SKEW_S = 300.0
# What the test bed exports to everything it starts (server.export_aws_environment, the pytest
# plugin, events/env.json): the only credentials it accepts unless told of others.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - the test bed's dummy credentials, not a secret
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - a message, not a secret
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


@dataclass(frozen=True)
class Secret:
    secret_key: str
    session_token: str | None = None


# What a json-protocol AWS service answers each kind of refusal with: (``__type``, HTTP status).
# Assumed, not documented for Glue (docs/testbed.md says so).
MISSING_TOKEN = ("MissingAuthenticationTokenException", 403)  # no Authorization at all
INCOMPLETE = ("IncompleteSignatureException", 403)  # an Authorization or X-Amz-Date not well formed
UNRECOGNIZED = ("UnrecognizedClientException", 400)  # an access key or session token not known
INVALID = ("InvalidSignatureException", 403)  # a scope, a date or a signature that does not match


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, and how a json-protocol service answers it."""

    code: str
    status: int
    message: str


def _refuse(kind: tuple[str, int], message: str) -> Refusal:
    return Refusal(kind[0], kind[1], message)


class Keyring:
    """The credentials requests may be signed with: the test bed's own, and those a test admits.
    One keyring can serve several verifiers (the test bed's Neptune emulator and its Glue)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Only the test bed's own credentials."""
        with self._lock:
            self._secrets: dict[str, Secret] = {ACCESS_KEY: Secret(SECRET_KEY)}

    def allow(self, access_key: str, secret_key: str, session_token: str | None = None) -> None:
        """Accept requests signed with these credentials too (temporary ones with their token)."""
        with self._lock:
            self._secrets = {**self._secrets, access_key: Secret(secret_key, session_token)}

    def get(self, access_key: str) -> Secret | None:
        return self._secrets.get(access_key)


class Verifier:
    """Verifies requests for one service in one region (Neptune: its cluster's; Glue: the test
    bed's, or ``regions``): ``check(...)`` is None, or why it is refused."""

    def __init__(
        self,
        region: str,
        clock: Callable[[], float] = time.time,
        *,
        service: str = SERVICE,
        regions: Iterable[str] = (),
        keyring: Keyring | None = None,
    ) -> None:
        self.default_region = region
        self.clock = clock
        self.service = service
        self.other_regions = frozenset(regions)  # accepted besides ``region``
        self.keyring = keyring if keyring is not None else Keyring()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Only the test bed's own credentials (in the keyring: every verifier sharing it too),
        the verifier's region, nothing counted."""
        self.keyring.reset()
        with self._lock:
            self.region = self.default_region
            self.verified = 0  # requests whose signature was checked and accepted

    def allow(self, access_key: str, secret_key: str, session_token: str | None = None) -> None:
        """Accept requests signed with these credentials too (temporary ones with their token),
        here and in every verifier sharing this one's keyring."""
        self.keyring.allow(access_key, secret_key, session_token)

    def check(self, method: str, target: str, received: Message, body: bytes) -> str | None:
        """None when the request is signed as the service requires, else the reason it is refused.
        ``target``: the request line's path and query, as received."""
        refusal = self.verify(method, target, received, body)
        return None if refusal is None else refusal.message

    def verify(self, method: str, target: str, received: Message, body: bytes) -> Refusal | None:
        """As :meth:`check`, with the code and status a json-protocol service answers with."""
        headers: dict[str, list[str]] = {}
        for name, value in received.raw_items():  # as received (items() re-checks each for surrogates)
            headers.setdefault(name.lower(), []).append(value)
        authorization = _one(headers, "authorization")
        if not authorization:
            return _refuse(MISSING_TOKEN, "Missing Authentication Token")
        fields = parse_authorization(authorization)
        if isinstance(fields, str):
            return _refuse(INCOMPLETE, fields)
        access_key, date, region, service, signed, signature = fields
        secret = self.keyring.get(access_key)
        problem = (
            self._check_scope(region, service, signed)
            or (_refuse(UNRECOGNIZED, INVALID_TOKEN) if secret is None else None)
            or self._check_date(_one(headers, "x-amz-date"), date)
            or _check_token(headers, secret)
            or _check_sent(headers, signed)
            or _check_payload_hash(headers, body)
        )
        if problem or secret is None:
            return problem or _refuse(UNRECOGNIZED, INVALID_TOKEN)
        scope = f"{date}/{region}/{service}/aws4_request"
        canonical = canonical_request(method, target, headers, signed, body)
        expected = signature_of(secret.secret_key, str(_one(headers, "x-amz-date")), scope, canonical)
        if not hmac.compare_digest(expected, signature):
            return _refuse(INVALID, MISMATCH)
        with self._lock:
            self.verified += 1
        return None

    def _check_scope(self, region: str, service: str, signed: list[str]) -> Refusal | None:
        if service != self.service:
            return _refuse(
                INVALID, f"Credential should be scoped to correct service: '{self.service}', not {service!r}."
            )
        if region != self.region and region not in self.other_regions:
            return _refuse(INVALID, f"Credential should be scoped to a valid region, not {region!r}.")
        if "host" not in signed or "x-amz-date" not in signed:
            return _refuse(INCOMPLETE, "The signed headers must include host and x-amz-date.")
        return None

    def _check_date(self, amz_date: str | None, scope_date: str) -> Refusal | None:
        if amz_date is None or not _AMZ_DATE.fullmatch(amz_date):
            return _refuse(INCOMPLETE, "X-Amz-Date must be sent as yyyyMMdd'T'HHmmss'Z'.")
        if amz_date[:8] != scope_date:
            return _refuse(
                INVALID,
                f"Date in Credential scope does not match the date of X-Amz-Date: {scope_date} != {amz_date[:8]}.",
            )
        signed_at = _epoch(amz_date)
        if signed_at is None:
            return _refuse(INCOMPLETE, f"X-Amz-Date {amz_date!r} is not a date.")
        now = self.clock()
        if abs(now - signed_at) > MAX_SKEW_S:
            stamp = time.strftime(DATE_FORMAT, time.gmtime(now))
            return _refuse(INVALID, f"Signature expired: {amz_date} is not within 5 minutes of {stamp}.")
        return None


@lru_cache(maxsize=256)
def _epoch(amz_date: str) -> int | None:
    """The epoch second of a well-formed ``X-Amz-Date``; None for a day or time that does not
    exist. Cached: every request of a second carries the same one."""
    d = amz_date
    try:
        datetime.date(int(d[:4]), int(d[4:6]), int(d[6:8]))  # a day that exists
        return calendar.timegm((int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15])))
    except ValueError:
        return None


def _one(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _check_sent(headers: Mapping[str, list[str]], signed: list[str]) -> Refusal | None:
    missing = [name for name in signed if name not in headers]
    return _refuse(INCOMPLETE, f"Signed header(s) not sent: {', '.join(missing)}.") if missing else None


def _check_token(headers: Mapping[str, list[str]], secret: Secret | None) -> Refusal | None:
    token = _one(headers, "x-amz-security-token")
    if secret is None:
        return _refuse(UNRECOGNIZED, INVALID_TOKEN)
    if secret.session_token is None:
        return _refuse(UNRECOGNIZED, INVALID_TOKEN) if token is not None else None
    if token is None or not hmac.compare_digest(token, secret.session_token):
        return _refuse(UNRECOGNIZED, INVALID_TOKEN)
    return None


def _check_payload_hash(headers: Mapping[str, list[str]], body: bytes) -> Refusal | None:
    """An ``x-amz-content-sha256`` sent must be the hash of the body received: the signature is
    checked against the body's own hash, never against this header's word for it."""
    claimed = _one(headers, "x-amz-content-sha256")
    if claimed is None or claimed == hashlib.sha256(body).hexdigest():
        return None
    return _refuse(INVALID, "The provided 'x-amz-content-sha256' header does not match what was computed.")


def parse_authorization(value: str) -> tuple[str, str, str, str, list[str], str] | str:
    """(access key, date, region, service, signed header names, signature), or what is wrong."""
    algorithm, _, rest = value.strip().partition(" ")
    parts: dict[str, str] = {}
    for part in rest.split(","):
        key, _, item = part.strip().partition("=")
        parts.setdefault(key, item)
    scope = parts.get("Credential", "").split("/")
    signed = parts.get("SignedHeaders", "").split(";")
    if algorithm != ALGORITHM:
        return f"Unsupported authorization type: only {ALGORITHM} is accepted."
    if set(parts) != {"Credential", "SignedHeaders", "Signature"} or len(rest.split(",")) != 3:
        return "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope[:4]):
        return "Credential must be <access key>/<date>/<region>/<service>/aws4_request."
    if not _SIGNATURE.fullmatch(parts["Signature"]) or not all(signed) or signed != sorted(n.lower() for n in signed):
        return "Signature must be 64 lowercase hex digits, SignedHeaders lowercase names sorted and ';'-separated."
    access_key, date, region, service, _ = scope
    return access_key, date, region, service, signed, parts["Signature"]


def canonical_request(
    method: str, target: str, headers: Mapping[str, list[str]], signed: list[str], body: bytes
) -> str:
    """The SigV4 canonical request of what was received (non-S3 rules: the path normalised and
    encoded once more, the query decoded, re-encoded strictly and sorted)."""
    url = urlsplit(target)
    path = url.path or "/"
    normalised = posixpath.normpath(path) if path != "/" else "/"
    if path.endswith("/") and normalised != "/":
        normalised += "/"
    lines = [method.upper(), quote(normalised, safe="/~"), canonical_query(url.query)]
    for name in signed:
        lines.append(f"{name}:{','.join(' '.join(value.split()) for value in headers.get(name, []))}")
    lines += ["", ";".join(signed), hashlib.sha256(body).hexdigest()]
    return "\n".join(lines)


def canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        pairs.append((_strict(unquote(key)), _strict(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _strict(text: str) -> str:
    return quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=64)
def _signing_key(secret_key: str, scope: str) -> bytes:
    date, region, service, terminal = scope.split("/")
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), terminal)


def signature_of(secret_key: str, amz_date: str, scope: str, canonical: str) -> str:
    key = _signing_key(secret_key, scope)  # the same for a day: derived once (the test bed's own CPU)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(key, f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}".encode(), hashlib.sha256).hexdigest()


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    region: str = "us-east-1",
    service: str = SERVICE,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    when: float | None = None,
) -> dict[str, str]:
    """The headers (Host, X-Amz-Date, Authorization) that sign a request to ``url`` with ``body``
    for ``service``, for tests that send raw HTTP to the Neptune emulator or Glue."""
    parts = urlsplit(url)
    amz_date = time.strftime(DATE_FORMAT, time.gmtime(time.time() if when is None else when))
    headers = {"host": [parts.netloc], "x-amz-date": [amz_date]}
    signed = sorted(headers)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    signature = signature_of(secret_key, amz_date, scope, canonical_request(method, target, headers, signed, body))
    authorization = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return {"Host": parts.netloc, "X-Amz-Date": amz_date, "Authorization": authorization}
