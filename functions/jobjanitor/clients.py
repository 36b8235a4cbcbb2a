"""boto3 clients for the janitor, with a retry policy that fits cancelling jobs.

Both clients use botocore's ``standard`` retry mode (throttling, 5xx, timeouts and dropped
connections are retried with jittered exponential back-off), with two changes made inside
botocore's own retry machinery, on the client's ``needs-retry`` event:

1. **Non-transient errors the Neptune model marks retryable are not retried.** The
   neptunedata model flags ``BulkLoadIdNotFoundException`` (404: the load is finished or
   unknown), ``ConstraintViolationException`` and ``S3Exception`` as retryable, so a default
   client spends three HTTP requests (and back-off sleeps) on every cancel of a finished
   load before raising. Those answers will not change on a retry; ours costs one request.
   Throttling (429, ``TooManyRequests``/``Throttling``), 5xx, ``ClientTimeout`` and
   connection errors are still retried.
2. **Throttling slows the service's calls together, not each call alone.** botocore backs a
   throttled call off on its own (1 s doubling to 20 s, each call for itself), so under a
   storm a few unlucky calls sleep for a minute while the rest of a sweep waits for them.
   Here every retry backs off from 50 ms (capped at :data:`RETRY_BACKOFF_CAP_S`), and every
   attempt waits its turn at a rate all calls to the service share (:class:`RateLimiter`),
   which slows down while slowing down reduces the throttling.
3. **Retries respect the run's deadline** (:data:`jobjanitor.deadline.CURRENT_DEADLINE`): no
   retry is started once less than :data:`RETRY_HEADROOM_S` is left, and a back-off sleep
   never runs past the deadline.
4. **No attempt outlives the deadline either**: each attempt's read timeout is the time left
   (at most :data:`READ_TIMEOUT_S`), set through botocore's per-request ``read_timeout``
   context on ``request-created``; the connect timeout is short (:data:`CONNECT_TIMEOUT_S`). A
   slow endpoint near the deadline therefore costs at most the time left plus the connect
   timeout, which the guard's answer reserve covers (see ``protocol/custom_resource.py``).

The standard handler is unregistered by its ``unique_id`` (``retry-config-<service>``) and an
equivalent one, built from the same :mod:`botocore.retries.standard` parts with our checker
wrapped around ``StandardRetryConditions``, is registered under the same id.

boto3 is imported lazily: importing this module costs nothing at cold start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobjanitor.deadline import CURRENT_DEADLINE
from jobjanitor.model import JobKindName
from jobjanitor.policy import NEPTUNE_KINDS

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_neptunedata import NeptuneDataClient

    from jobjanitor.policy import Policy

__all__ = [
    "NO_RETRY_CODES",
    "Clients",
    "RateLimiter",
    "bounded_by_deadline",
    "build_clients",
    "install_retry_policy",
    "plumbing_config",
]

log = logging.getLogger("jobjanitor.clients")

DEFAULT_MAX_ATTEMPTS = 8
# Connecting is quick or hopeless; kept well inside the guard's answer reserve.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
# An attempt started with almost nothing left still gets this long to read its answer.
MIN_READ_TIMEOUT_S = 0.5
RETRY_HEADROOM_S = 1.0
# The guard's own bookkeeping calls (DynamoDB, EventBridge, Lambda): few attempts, short waits.
PLUMBING_MAX_ATTEMPTS = 3
PLUMBING_READ_TIMEOUT_S = 10.0
# Modeled "retryable" by neptunedata, but answers that a retry cannot change.
NO_RETRY_CODES = frozenset({"BulkLoadIdNotFoundException", "ConstraintViolationException", "S3Exception"})
# The standard retry quota (500 tokens, 5 per throttled retry) is shared by all threads of a
# client; a sweep of hundreds of jobs through a throttling storm would drain it and fail
# cancels that a few more retries would have carried. Bounded concurrency and the deadline
# already limit the load we add, so the bucket is larger.
RETRY_QUOTA_CAPACITY = 5000
RETRY_BACKOFF_CAP_S = 1


@dataclass
class Clients:
    """The service clients a sweep uses; either may be None when its kinds are not selected."""

    neptune: NeptuneDataClient | None = None
    glue: GlueClient | None = None
    glue_region: str | None = None
    # SageMaker, read by the neptune-ml-endpoint kind (DescribeEndpoint); None otherwise.
    sagemaker: Any | None = None
    # One per service: the rate every call to it shares (see RateLimiter).
    limiters: dict[str, RateLimiter] = field(default_factory=dict)


class RateLimiter:
    """Client-side rate limiting shared by every call to one service (all the threads of a
    sweep use one client), so that a throttling storm slows the sweep, not each call alone.

    Every attempt (retries too) takes its turn at the current rate (``before-send``); every
    answer is counted (``needs-retry``), throttled or not. Once per window of answers:

    - throttled answers, not limited: cut the rate to ``CUT`` of the busiest rate sent lately,
      and put the cut on trial;
    - a cut on trial: if the share of throttled answers fell to ``HELPED`` of what it was, the
      service is throttling our rate: keep the cut (and cut again while throttling goes on);
      if it did not fall, the throttling does not depend on our rate (a service having a bad
      minute): go back to the rate before the cut, and change nothing for ``HOLD`` windows;
    - throttled answers while limited: try a faster rate (undo one cut); keep it unless the
      share of throttled answers rises by as much as a cut would lower it, else go back (and
      try a cut next time);
    - no throttled answer: the rate grows by ``GROW`` (unlimited again once it is far above
      what is sent).

    A window longer than ``SPARSE_S`` (a few requests now and then) changes nothing, and a
    change not judged within ``TRIAL_S`` (too little to send to tell) is undone: a rate cut
    from a trickle would hold back the busy minutes after it.

    botocore's own ``adaptive`` mode cuts on every throttled answer and grows back on a cubic
    over seconds: under a steady share of throttling that does not depend on the rate it cuts
    to its floor of 0.5 requests per second and stays there (see docs/benchmarks.md).
    """

    WINDOW_S = 0.25
    MIN_ANSWERS = 20
    CUT = 0.7
    HELPED = 0.7
    GROW = 1.25
    HOLD = 4
    MIN_RATE = 1.0
    PEAK_DECAY = 0.9  # per window
    TRIAL_S = 1.0  # a change of rate not judged within this long is undone
    SPARSE_S = 1.0  # a window this long (few requests) changes nothing

    def __init__(self, service: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self._clock = clock
        self._lock = threading.Lock()
        self.rate: float | None = None  # requests per second; None: not limited
        self._next = 0.0
        self._started = clock()
        self._sent = self._answers = self._throttled = 0
        # A change of rate on trial: (direction, the rate before it, the throttled share then).
        self._trial: tuple[str, float | None, float] | None = None
        self._up_hurt = False  # the last faster rate throttled more
        self._trial_at = 0.0
        self._peak = 0.0
        self._hold = 0
        self.cuts = 0

    def turn(self, **_: Any) -> None:
        """``before-send``: wait for this attempt's turn (never past the run's deadline)."""
        with self._lock:
            if not self._sent:
                self._started = self._clock()  # a window starts with its first request
            self._sent += 1
            if self.rate is None:
                return
            now = self._clock()
            at = max(now, self._next)
            self._next = at + 1.0 / self.rate
        wait = at - now
        deadline = CURRENT_DEADLINE.get()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline.remaining() - RETRY_HEADROOM_S))
        if wait > 0:
            time.sleep(wait)

    def answered(self, throttled: bool) -> None:
        with self._lock:
            self._answers += 1
            self._throttled += throttled
            now = self._clock()
            if self._sent and now - self._started >= self.WINDOW_S and self._answers >= self.MIN_ANSWERS:
                self._adjust(now)
            elif self._trial is not None and now - self._trial_at > self.TRIAL_S:
                # Too few requests to judge the change (little to send): undo it.
                _, self.rate, _ = self._trial
                self._trial, self._hold = None, self.HOLD

    def _adjust(self, now: float) -> None:
        elapsed = now - self._started
        sent_rate = self._sent / max(elapsed, 1e-3)
        # The busiest rate lately: while there is little to send, what is sent says nothing of
        # what the service takes, and a cut from it would hold back the busy windows after.
        self._peak = max(sent_rate, self._peak * self.PEAK_DECAY)
        share = self._throttled / self._answers
        self._started, self._sent, self._answers, self._throttled = now, 0, 0, 0
        if elapsed > self.SPARSE_S and self._trial is None:
            return  # a few requests now and then: not a load that throttling could be about
        if self._trial is not None:
            self._judge(share, sent_rate)
            return
        if share == 0:
            if self.rate is not None:
                self._grow(self.GROW, sent_rate)
            return
        if self._hold:
            self._hold -= 1
            return
        if self.rate is not None and not self._up_hurt:
            # Limited and still throttled: does a faster rate throttle more? If not, it was not ours.
            self._trial, self._trial_at = ("up", self.rate, share), self._clock()
            self._grow(1 / self.CUT, sent_rate)
            return
        self._cut(sent_rate, share)

    def _judge(self, share: float, sent_rate: float) -> None:
        """The window after a change of rate: keep the change, or go back and hold."""
        if self._trial is None:
            return
        direction, before_rate, before_share = self._trial
        self._trial = None
        if direction == "down":
            if share <= before_share * self.HELPED:  # slowing down helped: the service limits our rate
                self._up_hurt = False
                if share > 0:
                    self._cut(sent_rate, share)
                return
        elif share * self.HELPED < before_share or share == 0:  # faster, and no more throttling
            self._up_hurt = False
            return
        else:
            self._up_hurt = True
        self.rate, self._hold = before_rate, self.HOLD
        log.info(
            "%s: throttling does not follow our request rate: back to %s requests/s",
            self.service,
            f"{self.rate:.0f}" if self.rate else "unlimited",
        )

    def _grow(self, factor: float, sent_rate: float) -> None:
        if self.rate is not None:
            self.rate *= factor
            if self.rate > 2 * sent_rate:
                self.rate = None  # far above what is sent: not limiting

    def _cut(self, sent_rate: float, share: float) -> None:
        self._trial, self._trial_at = ("down", self.rate, share), self._clock()
        current = min(self.rate, self._peak) if self.rate is not None else self._peak
        self.rate = max(self.MIN_RATE, current * self.CUT)
        self._next = min(self._next, self._clock() + 1.0 / self.rate)
        self.cuts += 1
        log.info("%s: throttled (%.0f%% of answers): %.0f requests/s", self.service, share * 100, self.rate)


class _JanitorRetryChecker:
    """Wraps botocore's StandardRetryConditions (see the module docstring)."""

    def __init__(self, inner: Any, no_retry_codes: frozenset[str]) -> None:
        self._inner = inner
        self._no_retry_codes = no_retry_codes

    def is_retryable(self, context: Any) -> bool:
        if context.get_error_code() in self._no_retry_codes:
            return False
        deadline = CURRENT_DEADLINE.get()
        if deadline is not None and deadline.remaining() < RETRY_HEADROOM_S:
            return False
        return bool(self._inner.is_retryable(context))


class _DeadlineBackoff:
    """botocore's ExponentialBackoff, scaled (tests use a small scale) and cut at the deadline."""

    def __init__(self, inner: Any, scale: float) -> None:
        self._inner = inner
        self._scale = scale

    def delay_amount(self, context: Any) -> float:
        delay = float(self._inner.delay_amount(context)) * self._scale
        deadline = CURRENT_DEADLINE.get()
        if deadline is not None:
            delay = max(0.0, min(delay, deadline.remaining() - RETRY_HEADROOM_S))
        return delay


def install_retry_policy(
    client: Any,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    no_retry_codes: frozenset[str] = NO_RETRY_CODES,
    backoff_scale: float = 1.0,
) -> RateLimiter:
    """Replace ``client``'s standard retry handler with the janitor's, and add the rate limiter
    all its calls share (see module docstring); returns the limiter."""
    from botocore.retries import quota, standard  # noqa: PLC0415 - lazy: cold start

    name = client.meta.service_model.service_id.hyphenize()
    unique_id = f"retry-config-{name}"
    events = client.meta.events
    events.unregister(f"needs-retry.{name}", unique_id=unique_id)
    adapter = standard.RetryEventAdapter()
    throttling = standard.ThrottlingErrorDetector(adapter)
    retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(RETRY_QUOTA_CAPACITY), throttling)
    # Duck-typed stand-ins for botocore's checker/backoff base classes (Any: the stubs want
    # the base classes, and botocore's RetryQuotaChecker where they say RetryQuota).
    checker: Any = _JanitorRetryChecker(standard.StandardRetryConditions(max_attempts=max_attempts), no_retry_codes)
    # Throttling is answered by the shared rate limiter, not by each call sleeping on its own
    # (botocore's 1 s base doubling to 20 s): every retry backs off from 50 ms, up to
    # RETRY_BACKOFF_CAP_S, and then waits for its turn at the service's shared rate.
    backoff: Any = _DeadlineBackoff(
        standard.ExponentialBackoff(max_backoff=RETRY_BACKOFF_CAP_S, service_name=name, throttling_detector=None),
        backoff_scale,
    )
    quota_checker: Any = retry_quota
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(retry_checker=checker, retry_backoff=backoff),
        retry_event_adapter=adapter,
        retry_quota=quota_checker,
        service_name=name,
    )
    events.register(f"after-call.{name}", retry_quota.release_retry_quota)
    events.register(f"needs-retry.{name}", handler.needs_retry, unique_id=unique_id)
    limiter = RateLimiter(name)

    def answered(**kwargs: Any) -> None:  # first on needs-retry, answers nothing: sees every answer
        limiter.answered(bool(throttling.is_throttling_error(**kwargs)))

    events.register_first(f"needs-retry.{name}", answered, unique_id=f"jobjanitor-rate-{name}")
    events.register(f"before-send.{name}", limiter.turn, unique_id=f"jobjanitor-turn-{name}")
    events.register(f"request-created.{name}", _bound_read_timeout, unique_id=f"jobjanitor-read-timeout-{name}")
    return limiter


def _bound_read_timeout(request: Any, **_: Any) -> None:
    """Each attempt reads for at most the time left before the run's deadline (botocore honours
    ``read_timeout`` in the request context, per attempt)."""
    deadline = CURRENT_DEADLINE.get()
    if deadline is not None:
        limit = request.context.get("read_timeout") or READ_TIMEOUT_S
        request.context["read_timeout"] = max(MIN_READ_TIMEOUT_S, min(limit, deadline.remaining()))


def _config(max_attempts: int, pool: int, read_timeout: float = READ_TIMEOUT_S) -> Any:
    from botocore.config import Config  # noqa: PLC0415 - lazy: cold start

    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        max_pool_connections=max(10, pool),
    )


def plumbing_config() -> Any:
    """Config for the guard's own bookkeeping clients (DynamoDB, EventBridge, Lambda): standard
    retries, few attempts, short timeouts. Pass the client to :func:`bounded_by_deadline`."""
    return _config(PLUMBING_MAX_ATTEMPTS, 2, PLUMBING_READ_TIMEOUT_S)


def bounded_by_deadline(client: Any) -> Any:
    """``client`` with the janitor's retry policy: every attempt and retry bounded by the
    current deadline. Returns the client. (Callers create it with a literal service name: the
    build keeps only the botocore models it can see.)"""
    install_retry_policy(client, max_attempts=PLUMBING_MAX_ATTEMPTS, no_retry_codes=frozenset())
    return client


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
    import boto3  # noqa: PLC0415 - lazy: cold start

    session = session or boto3.session.Session()
    config = _config(max_attempts, policy.concurrency + 2)
    clients = Clients()
    if policy.kinds & NEPTUNE_KINDS and policy.neptune_endpoint:
        neptune = session.client("neptunedata", endpoint_url=policy.neptune_endpoint, config=config)
        clients.limiters["neptunedata"] = install_retry_policy(
            neptune, max_attempts=max_attempts, backoff_scale=backoff_scale
        )
        if configure:
            configure(neptune)
        clients.neptune = neptune
    if JobKindName.GLUE_ML_TASK_RUN in policy.kinds:
        kwargs: dict[str, Any] = {"config": config}
        if endpoint_urls and endpoint_urls.get("glue"):
            kwargs["endpoint_url"] = endpoint_urls["glue"]
        if policy.glue_region:
            kwargs["region_name"] = policy.glue_region
        glue = session.client("glue", **kwargs)
        clients.limiters["glue"] = install_retry_policy(
            glue, max_attempts=max_attempts, no_retry_codes=frozenset(), backoff_scale=backoff_scale
        )
        if configure:
            configure(glue)
        clients.glue = glue
        clients.glue_region = glue.meta.region_name
    if JobKindName.NEPTUNE_ML_ENDPOINT in policy.kinds:
        # The endpoints' SageMaker side, in the session's region (the cluster's: the CLI signs
        # for the region its Neptune endpoint names), or where --endpoint-url sagemaker= says.
        url = (endpoint_urls or {}).get("sagemaker") or None
        sagemaker: Any = session.client("sagemaker", config=config, endpoint_url=url)
        clients.limiters["sagemaker"] = install_retry_policy(
            sagemaker, max_attempts=max_attempts, no_retry_codes=frozenset(), backoff_scale=backoff_scale
        )
        if configure:
            configure(sagemaker)
        clients.sagemaker = sagemaker
    return clients


class ClientCache:
    """Clients kept for a Lambda execution environment (or a CLI run): creating them costs tens
    of milliseconds each, and boto3 clients are thread-safe. Keyed by what decides them."""

    def __init__(self) -> None:
        self._clients: dict[tuple[object, ...], Clients] = {}
        self._lock = threading.Lock()

    def for_policy(self, policy: Policy) -> Clients:
        key = (policy.neptune_endpoint, policy.glue_region, policy.concurrency, policy.kinds)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build_clients(policy)
            return self._clients[key]
