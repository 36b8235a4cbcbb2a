"""Which Neptune endpoints the janitor may talk to, and what it may say about their errors.

The janitor signs its Neptune requests with the function's (or the operator's) credentials,
session token included, and sends them to whatever endpoint it is given. An endpoint is
therefore accepted only when it is an ``https://`` Neptune cluster or instance endpoint:

- ``<name>.cluster-<id>.<region>.neptune.amazonaws.com`` (also ``cluster-ro-``,
  ``cluster-custom-`` and instance endpoints ``<name>.<id>.<region>.neptune.amazonaws.com``),
- the China form ``….<region>.neptune.amazonaws.com.cn``,
- GovCloud (``us-gov-west-1`` …) under ``neptune.amazonaws.com``;

port 8182 unless another is given. A local test bed (plain http on loopback) is admitted only
when its exact ``scheme://host:port`` is listed in ``JOBJANITOR_ALLOWED_ENDPOINTS`` (a comma
list): the test bed's helpers set it; the template never does.

Which endpoint of a cluster a host is can be read from its form (:func:`not_the_writer`): the
cluster (writer) endpoint ``<cluster>.cluster-<id>.…``, the reader endpoint ``cluster-ro-``, a
custom endpoint ``cluster-custom-``, an instance ``<instance>.<id>.…``. Readers refuse cancels,
and an instance is a reader or becomes one after a failover: jobs are cancelled at the cluster
endpoint only.

Errors coming back from an endpoint are the endpoint's words: :func:`safe_summary` cuts them
to a short, printable summary before they reach a CloudFormation Reason.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from jobjanitor.errors import ConfigError

__all__ = [
    "ALLOWED_ENDPOINTS_ENV",
    "DEFAULT_PORT",
    "allowed_endpoints",
    "not_the_writer",
    "require_writer",
    "safe_summary",
    "validate_neptune_endpoint",
]

ALLOWED_ENDPOINTS_ENV = "JOBJANITOR_ALLOWED_ENDPOINTS"
DEFAULT_PORT = 8182
# <labels>.<region>.neptune.amazonaws.com[.cn]: at least two labels before the region (the
# endpoint's name and the cluster/instance id).
_NEPTUNE_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\.){2,}"
    r"(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2})\.neptune\.amazonaws\.com(?P<cn>\.cn)?$"
)
# <first label>.<second label>.<region>.neptune.amazonaws.com[.cn]: the second label says which
# endpoint of the cluster it is (cluster-<id>, cluster-ro-<id>, cluster-custom-<id>, or <id>).
_ROLE = re.compile(r"^(?P<name>[^.]+)\.(?P<role>cluster-ro-|cluster-custom-|cluster-)?(?P<id>[^.]+)\.(?P<rest>.+)$")
_SHOWN = 80  # how much of a refused value an error message repeats
_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:;_()\[\]/=+#@'-]+")


def allowed_endpoints() -> frozenset[str]:
    """The exact ``scheme://host:port`` values admitted besides Neptune endpoints (test beds)."""
    raw = os.environ.get(ALLOWED_ENDPOINTS_ENV, "")
    out: set[str] = set()
    for item in raw.split(","):
        normalised = _normalise_exact(item) if item.strip() else None
        if normalised:
            out.add(normalised)
    return frozenset(out)


def validate_neptune_endpoint(value: str, *, field: str) -> str:
    """``value`` as ``https://host:port`` if it is a Neptune endpoint (or an admitted test bed
    endpoint, returned as ``scheme://host:port``); ConfigError naming ``field`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "must be a Neptune endpoint like https://<cluster endpoint>:8182, got a blank value")
    text = value.strip()
    exact = _normalise_exact(text)
    if exact is not None and exact in allowed_endpoints():
        return exact
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(field, f"is not a URL: {shown(text)}") from None
    if parts.scheme.lower() != "https":
        local = f"; a local test bed only when {ALLOWED_ENDPOINTS_ENV} lists its scheme://host:port"
        raise ConfigError(
            field,
            f"must use https:// (the janitor's signed requests carry credentials), got {shown(text)}"
            + (local if parts.scheme.lower() == "http" else ""),
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigError(field, f"must be https://host[:port] with nothing else, got {shown(text)}")
    if parts.path not in ("", "/"):
        raise ConfigError(field, f"must be https://host[:port] with no path, got {shown(text)}")
    host = (parts.hostname or "").lower()
    if not _NEPTUNE_HOST.match(host):
        raise ConfigError(
            field,
            "must be a Neptune cluster or instance endpoint (<name>.cluster-<id>.<region>.neptune.amazonaws.com"
            f"[.cn]), got {shown(text)}",
        )
    if port is not None and not 0 < port < 65536:
        raise ConfigError(field, f"port must be between 1 and 65535, got {shown(text)}")
    return f"https://{host}:{port or DEFAULT_PORT}"


def not_the_writer(endpoint: str) -> str | None:
    """Why ``endpoint`` (an ``https://`` Neptune endpoint) is not a cluster's writer endpoint,
    naming the endpoint to use instead; None when it is one, or its host is not in Neptune's
    form (an allow-listed test bed)."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    match = _ROLE.match(host) if _NEPTUNE_HOST.match(host) else None
    if match is None or match["role"] == "cluster-":
        return None
    port = parts.port or DEFAULT_PORT
    writer = f"https://{{cluster}}.cluster-{match['id']}.{match['rest']}:{port}"
    if match["role"] == "cluster-ro-":
        use = writer.format(cluster=match["name"])
        return f"{shown(endpoint)} is a reader endpoint, and readers refuse cancels: use the cluster endpoint {use}"
    why = (
        "a custom endpoint, which may route to readers (readers refuse cancels)"
        if match["role"]
        else "an instance endpoint: readers refuse cancels, and an instance becomes a reader after a failover"
    )
    return f"{shown(endpoint)} is {why}: use the cluster endpoint {writer.format(cluster='<cluster>')}"


def require_writer(endpoint: str | None, *, field: str) -> None:
    """ConfigError naming ``field`` and the endpoint to use when ``endpoint`` is a Neptune
    endpoint other than a cluster's writer endpoint (:func:`not_the_writer`)."""
    advice = not_the_writer(endpoint) if endpoint else None
    if advice:
        raise ConfigError(field, advice)


def _normalise_exact(text: str) -> str | None:
    """``scheme://host:port`` lower-cased, or None when ``text`` is not exactly that."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port is None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}:{port}"


def shown(value: str) -> str:
    """A refused value as an error message may repeat it: printable, at most ``_SHOWN`` characters."""
    return repr(safe_summary(value, _SHOWN))


def safe_summary(text: str, limit: int = 160) -> str:
    """Text from a service (an error body, a message) made fit for a Reason or a log line: runs
    of anything but plain printable characters become one space, and it is cut to ``limit``
    characters with an ellipsis."""
    cleaned = " ".join(_UNSAFE.sub(" ", str(text)).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"
