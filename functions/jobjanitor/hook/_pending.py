"""Stand-in for a shared module other work is adding (``jobjanitor.endpoints``), with its
agreed interface. Deleted once it lands on main."""

from __future__ import annotations

import os
import re

from jobjanitor.clusters import ALLOWED_ENDPOINTS_ENV
from jobjanitor.errors import ConfigError

_NEPTUNE_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.neptune\.amazonaws\.com(?:\.cn)?$")
_URL = re.compile(r"^(https?)://([^/:]+)(?::(\d{1,5}))?/?$")


def validate_neptune_endpoint(value: str, *, field: str) -> str:
    match = _URL.match(value.strip())
    if not match:
        raise ConfigError(field, f"must look like https://host:port, got {value!r}")
    scheme, host, port = match.group(1), match.group(2).lower(), match.group(3) or "8182"
    normalised = f"{scheme}://{host}:{port}"
    allowed = {e.strip().rstrip("/") for e in os.environ.get(ALLOWED_ENDPOINTS_ENV, "").split(",") if e.strip()}
    if normalised in allowed:
        return normalised
    if scheme != "https" or not _NEPTUNE_HOST.match(host):
        raise ConfigError(field, f"must be an https Neptune endpoint (*.neptune.amazonaws.com), got {value!r}")
    return normalised
