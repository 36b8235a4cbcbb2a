"""Reaching a VPC-only Neptune cluster from a laptop, through a tunnel (the CLI's ``--via``).

Neptune has no public endpoint: from outside the VPC it is reached through a local port that
forwards to the cluster (SSM port forwarding through an instance, an SSH tunnel through a
bastion, a VPN's port map). Pointing the client at ``https://localhost:8182`` breaks twice:

1. **SigV4 signs the Host header.** An IAM-authenticated cluster checks the signature against
   its own host name; a request signed for ``localhost:8182`` is refused.
2. **TLS names the cluster.** The tunnel passes TLS through, so the certificate the client
   sees is the cluster's (``*.cluster-xyz.<region>.neptune.amazonaws.com``), and verifying it
   against ``localhost`` fails.

So the client keeps the cluster's URL as its endpoint (requests are built and signed for it,
and carry its ``Host``) and only the connection goes elsewhere: a ``before-send`` handler (the
public botocore event that may answer a request itself) sends each request with a botocore
HTTP session whose connections open to the tunnel, with the cluster's host name as TLS SNI and
as the name the certificate is verified against. Verification stays on (a custom CA bundle via
``AWS_CA_BUNDLE``, as for every botocore client); the retry policy, timeouts and error mapping
are botocore's own, since the session is botocore's ``URLLib3Session``.

A plain-http tunnel address is refused unless listed in ``JOBJANITOR_ALLOWED_ENDPOINTS`` (test
beds: Neptune only speaks TLS, so a real tunnel is always ``https://``).
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from jobjanitor.errors import ConfigError

__all__ = ["ALLOWED_ENDPOINTS_ENV", "Tunnel", "attach_tunnel", "parse_via"]

ALLOWED_ENDPOINTS_ENV = "JOBJANITOR_ALLOWED_ENDPOINTS"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_VIA = re.compile(r"^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?/?$")


class Tunnel:
    """Where the cluster's requests really go: ``scheme://host:port`` of the local tunnel."""

    def __init__(self, endpoint: str, scheme: str, host: str, port: int) -> None:
        cluster = urlsplit(endpoint)
        if not cluster.hostname:
            raise ConfigError("--neptune-endpoint", f"no host in {endpoint!r}")
        self.endpoint = endpoint
        self.cluster_host = cluster.hostname
        cluster_port = cluster.port or _DEFAULT_PORTS[cluster.scheme]
        # The Host header (and what SigV4 signs): the cluster's, without a default port.
        default = cluster_port == _DEFAULT_PORTS[cluster.scheme]
        self.host_header = self.cluster_host if default else f"{self.cluster_host}:{cluster_port}"
        self.scheme, self.host, self.port = scheme, host.strip("[]"), port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_via(value: str, endpoint: str | None, environ: Any = os.environ) -> Tunnel:
    """``--via URL`` -> a :class:`Tunnel` for ``endpoint``; errors name the flag."""
    if not endpoint:
        raise ConfigError("--via", "needs --neptune-endpoint (the cluster the tunnel leads to)")
    match = _VIA.match(value.strip())
    if not match:
        raise ConfigError("--via", f"must look like https://localhost:8182, got {value!r}")
    scheme, host, port_text = match.groups()
    port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ConfigError("--via", f"port must be between 1 and 65535, got {port}")
    tunnel = Tunnel(endpoint, scheme, host, port)
    if scheme == "http":
        allowed = {item.strip().rstrip("/") for item in str(environ.get(ALLOWED_ENDPOINTS_ENV, "")).split(",")}
        if tunnel.url not in allowed:
            raise ConfigError(
                "--via",
                f"must be https:// (Neptune speaks TLS end to end through the tunnel), got {value!r}; plain http "
                f"only for test beds listed in {ALLOWED_ENDPOINTS_ENV}",
            )
    return tunnel


def _tunnel_session_class() -> type[Any]:
    from botocore.httpsession import URLLib3Session  # noqa: PLC0415 - lazy: only the CLI with --via

    class TunnelSession(URLLib3Session):
        """botocore's HTTP session, connecting to the tunnel for the cluster's URL."""

        def __init__(self, tunnel: Tunnel, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._tunnel = tunnel

        def _get_connection_manager(self, url: str, proxy_url: str | None = None) -> Any:
            return self  # the tunnel is local: never through an HTTP(S)_PROXY

        def _get_request_target(self, url: str, proxy_url: str | None) -> str:
            base: Any = self  # botocore's stubs omit the session's private helpers
            return str(base._path_url(url))

        def connection_from_url(self, url: str) -> Any:
            tunnel = self._tunnel
            if urlsplit(url).hostname != tunnel.cluster_host:  # the client only sends to its endpoint
                raise ValueError(f"the tunnel leads to {tunnel.cluster_host}, not to {url}")
            # TLS: SNI and certificate verification name the cluster, not the tunnel's address.
            names = {"server_hostname": tunnel.cluster_host, "assert_hostname": tunnel.cluster_host}
            pool_kwargs = names if tunnel.scheme == "https" else {}
            manager: Any = getattr(self, "_manager")  # noqa: B009 - not in botocore's stubs
            return manager.connection_from_host(tunnel.host, tunnel.port, scheme=tunnel.scheme, pool_kwargs=pool_kwargs)

        def send(self, request: Any) -> Any:
            # Signed for the cluster's host (the client's endpoint): say so on the wire.
            request.headers["Host"] = self._tunnel.host_header
            return super().send(request)

    return TunnelSession


def attach_tunnel(client: Any, tunnel: Tunnel, environ: Any = os.environ) -> None:
    """Send ``client``'s requests (a neptunedata client whose endpoint is ``tunnel.endpoint``)
    through the tunnel."""
    if client.meta.endpoint_url.rstrip("/") != tunnel.endpoint.rstrip("/"):
        raise ValueError(f"the client's endpoint {client.meta.endpoint_url} is not {tunnel.endpoint}")
    config = client.meta.config
    verify: bool | str = environ.get("AWS_CA_BUNDLE") or True
    session = _tunnel_session_class()(
        tunnel,
        verify=verify,
        timeout=(config.connect_timeout, config.read_timeout),
        max_pool_connections=config.max_pool_connections,
    )

    def send(request: Any, **_: Any) -> Any:
        return session.send(request)

    client.meta.events.register("before-send.neptunedata", send, unique_id="jobjanitor-tunnel")
