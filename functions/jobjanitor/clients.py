"""Every AWS client the janitor uses is built here, by :func:`aws_client` (and
:func:`build_clients` for a sweep's job services): one factory, so that every client is bounded
by the run's deadline and none keeps botocore's defaults (60 s timeouts, legacy retries), which
can outlive an invocation and leave CloudFormation without an answer.

A client's :class:`Profile` says how it retries and how long it may take:

- :data:`JOBS`: the services jobs run on (Neptune data API, Glue, SageMaker): up to
  ``DEFAULT_MAX_ATTEMPTS`` attempts (throttled calls: while the deadline allows), a rate all
  calls to the service share (:class:`~jobjanitor.ratelimit.RateLimiter`).
- :data:`BOOKKEEPING`: the handlers' own calls (CloudFormation, Neptune's management API,
  EventBridge, Lambda): few attempts, short timeouts.
- :data:`TABLE`: the janitor's DynamoDB table (idempotency records, requests, prefixes, the
  first-seen ledger): each call, retries included, ends within ``call_budget_s`` whatever the
  deadline: a table that hangs costs the work a few seconds, and then the caller goes on
  without it (see :mod:`jobjanitor.idempotency`).

Every attempt of every client reads for at most the time left before
:data:`jobjanitor.deadline.CURRENT_DEADLINE` (:func:`within` sets it), and no retry starts
or sleeps past it (:mod:`jobjanitor.retry`).

Service names are literals here (``_MAKERS``): the build keeps only the botocore models it
sees named (artifact/build.py). boto3 is imported lazily: importing this module costs nothing
at cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from jobjanitor import lean_http
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.model import ML_KINDS, JobKindName
from jobjanitor.policy import NEPTUNE_KINDS
from jobjanitor.ratelimit import RateLimiter
from jobjanitor.retry import DEFAULT_MAX_ATTEMPTS, NO_RETRY_CODES, READ_TIMEOUT_S, install_retry_policy

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_neptunedata import NeptuneDataClient

    from jobjanitor.policy import Policy

__all__ = [
    "BOOKKEEPING",
    "JOBS",
    "NO_RETRY_CODES",
    "TABLE",
    "ClientCache",
    "Clients",
    "Profile",
    "RateLimiter",
    "aws_client",
    "build_clients",
    "install_retry_policy",
    "within",
]

# Connecting is quick or hopeless; kept well inside the guard's answer reserve.
CONNECT_TIMEOUT_S = 3.0

Service = Literal["cloudformation", "dynamodb", "events", "glue", "lambda", "neptune", "neptunedata", "sagemaker"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How a client retries, and how long its calls may take (see the module docstring)."""

    max_attempts: int
    read_timeout_s: float
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    # Each call, all its attempts and back-off sleeps included, ends within this long.
    call_budget_s: float | None = None
    rate_limited: bool = False


JOBS = Profile(DEFAULT_MAX_ATTEMPTS, READ_TIMEOUT_S, rate_limited=True)
BOOKKEEPING = Profile(3, 10.0)
TABLE = Profile(3, 2.0, connect_timeout_s=1.0, call_budget_s=3.0)


@contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Every call made by this thread inside the block ends by ``deadline`` (its attempts,
    retries and back-off sleeps): the deadline the clients read (CURRENT_DEADLINE)."""
    token = CURRENT_DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        CURRENT_DEADLINE.reset(token)


# Literal service names: the build keeps only the botocore models it sees named.
_MAKERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "cloudformation": lambda session, kw: session.client("cloudformation", **kw),
    "dynamodb": lambda session, kw: session.client("dynamodb", **kw),
    "events": lambda session, kw: session.client("events", **kw),
    "glue": lambda session, kw: session.client("glue", **kw),
    "lambda": lambda session, kw: session.client("lambda", **kw),
    "neptune": lambda session, kw: session.client("neptune", **kw),
    "neptunedata": lambda session, kw: session.client("neptunedata", **kw),
    "sagemaker": lambda session, kw: session.client("sagemaker", **kw),
}


_SESSION_LOCK = threading.Lock()


def _default_session(boto3: Any) -> Any:
    """boto3's default session (what ``boto3.client`` uses): one per process, so its loaded
    service models are shared (a new session reads them from disk again, for each client)."""
    with _SESSION_LOCK:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        return boto3.DEFAULT_SESSION


def _make(
    service: Service,
    profile: Profile,
    *,
    session: Session | None = None,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    pool: int = 2,
    backoff_scale: float = 1.0,
    limiter: RateLimiter | None = None,
) -> tuple[Any, RateLimiter | None]:
    import boto3  # noqa: PLC0415 - lazy: cold start
    from botocore.config import Config  # noqa: PLC0415 - lazy: cold start

    config = Config(
        retries={"mode": "standard", "total_max_attempts": profile.max_attempts},
        connect_timeout=profile.connect_timeout_s,
        read_timeout=profile.read_timeout_s,
        max_pool_connections=max(10, pool),
    )
    kwargs: dict[str, Any] = {"config": config}
    if region_name:
        kwargs["region_name"] = region_name
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    client = _MAKERS[service](session or _default_session(boto3), kwargs)
    limiter = install_retry_policy(
        client,
        max_attempts=profile.max_attempts,
        no_retry_codes=NO_RETRY_CODES if service == "neptunedata" else frozenset(),
        backoff_scale=backoff_scale,
        read_timeout_s=profile.read_timeout_s,
        call_budget_s=profile.call_budget_s,
        rate_limited=profile.rate_limited,
        limiter=limiter,
    )
    return client, limiter


def aws_client(
    service: Service,
    profile: Profile = BOOKKEEPING,
    *,
    session: Session | None = None,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    pool: int = 2,
) -> Any:
    """A client for ``service`` with ``profile``'s retries and timeouts, every attempt bounded
    by the deadline (:func:`within`). Found the standard boto3 way (``session`` or the default
    one: profile, region, ``AWS_ENDPOINT_URL*``) unless ``region_name``/``endpoint_url`` say."""
    client, _ = _make(service, profile, session=session, region_name=region_name, endpoint_url=endpoint_url, pool=pool)
    return client


@dataclass
class Clients:
    """The service clients a sweep uses; either may be None when its kinds are not selected."""

    neptune: NeptuneDataClient | None = None
    glue: GlueClient | None = None
    glue_region: str | None = None
    # SageMaker, read for the Neptune ML kinds (jobjanitor.billing, the endpoint kind); else None.
    sagemaker: Any | None = None
    # One per service: the rate every call to it shares (see RateLimiter).
    limiters: dict[str, RateLimiter] = field(default_factory=dict)


def build_clients(
    policy: Policy,
    *,
    session: Session | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_scale: float = 1.0,
    configure: Callable[[Any], None] | None = None,
    endpoint_urls: Mapping[str, str] | None = None,
) -> Clients:
    """Clients for the kinds ``policy`` selects. Glue (and SageMaker, for endpoints) is reached
    the standard boto3 way (profile, region, ``AWS_ENDPOINT_URL_GLUE``/``AWS_ENDPOINT_URL``)
    unless ``endpoint_urls`` names it (the CLI's ``--endpoint-url glue=URL``); Neptune at
    ``policy.neptune_endpoint``.
    ``configure`` is called with each new client (tests, the CLI's tunnel)."""
    profile = replace(JOBS, max_attempts=max_attempts)
    common: dict[str, Any] = {"session": session, "pool": policy.concurrency + 2, "backoff_scale": backoff_scale}
    clients = Clients()
    if policy.kinds & NEPTUNE_KINDS and policy.neptune_endpoint:
        where: dict[str, Any] = {"endpoint_url": policy.neptune_endpoint}
        neptune, limiter = _make("neptunedata", profile, **where, **common)
        if limiter is not None:
            clients.limiters["neptunedata"] = limiter
        clients.neptune = _lean(
            "neptunedata", neptune, limiter, profile, common=common, configure=configure, where=where
        )
    if JobKindName.GLUE_ML_TASK_RUN in policy.kinds:
        where = {"endpoint_url": (endpoint_urls or {}).get("glue"), "region_name": policy.glue_region}
        glue, limiter = _make("glue", profile, **where, **common)
        if limiter is not None:
            clients.limiters["glue"] = limiter
        clients.glue_region = glue.meta.region_name
        clients.glue = _lean("glue", glue, limiter, profile, common=common, configure=configure, where=where)
    if policy.kinds & ML_KINDS and policy.neptune_endpoint:
        # The SageMaker side of Neptune ML (jobjanitor.billing; the endpoint kind), in the
        # session's region (the cluster's: the CLI signs for the region its Neptune endpoint
        # names), or where --endpoint-url sagemaker= says. Made now, it calls nothing yet.
        url = (endpoint_urls or {}).get("sagemaker") or None
        sagemaker, limiter = _make("sagemaker", profile, endpoint_url=url, **common)
        if limiter is not None:
            clients.limiters["sagemaker"] = limiter
        if configure:
            configure(sagemaker)
        clients.sagemaker = sagemaker
    return clients


def _lean(
    service: Service,
    client: Any,
    limiter: RateLimiter | None,
    profile: Profile,
    *,
    common: dict[str, Any],
    configure: Callable[[Any], None] | None,
    where: dict[str, Any],
) -> Any:
    """``client`` with the sweep's many calls on the lean request path (:mod:`jobjanitor.lean_http`),
    or ``client`` itself when a caller configures it (``configure`` is called with it) or it makes
    one attempt only. The hand-over client (made on first need) has the attempts after the lean one."""
    if configure:
        configure(client)
        return client
    if profile.max_attempts <= 1:
        return client
    fewer = replace(profile, max_attempts=profile.max_attempts - 1)  # the lean attempt was the first

    def handover() -> Any:
        return _make(service, fewer, limiter=limiter, **where, **common)[0]

    return lean_http.lean(client, common["session"], limiter, profile, pool=common["pool"], handover=handover)


class ClientCache:
    """Clients kept for a Lambda execution environment (or a CLI run): creating them costs tens
    of milliseconds each, and boto3 clients are thread-safe. Keyed by what decides them."""

    def __init__(self) -> None:
        self._clients: dict[tuple[object, ...], Clients] = {}
        self._aws: dict[tuple[object, ...], Any] = {}
        self._lock = threading.Lock()

    def aws(self, service: Service, profile: Profile = BOOKKEEPING, *, region_name: str | None = None) -> Any:
        """:func:`aws_client`, made once per service, profile and region, and kept."""
        key = (service, profile, region_name)
        with self._lock:
            if key not in self._aws:
                self._aws[key] = aws_client(service, profile, region_name=region_name)
            return self._aws[key]

    def for_policy(self, policy: Policy) -> Clients:
        key = (policy.neptune_endpoint, policy.glue_region, policy.concurrency, policy.kinds)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build_clients(policy)
            return self._clients[key]
