"""The janitor's retry policy, installed on every client :mod:`jobjanitor.clients` builds.

botocore's ``standard`` retry mode (throttling, 5xx, timeouts and dropped connections are
retried with jittered exponential back-off), with these changes made inside botocore's own
retry machinery, on the client's ``needs-retry`` event:

1. **Non-transient errors the Neptune model marks retryable are not retried.** The
   neptunedata model flags ``BulkLoadIdNotFoundException`` (404: the load is finished or
   unknown), ``ConstraintViolationException`` and ``S3Exception`` as retryable, so a default
   client spends three HTTP requests (and back-off sleeps) on every cancel of a finished
   load before raising. Those answers will not change on a retry; ours costs one request.
2. **Throttling slows the service's calls together, not each call alone.** botocore backs a
   throttled call off on its own (1 s doubling to 20 s, each call for itself), so under a
   storm a few unlucky calls sleep for a minute while the rest of a sweep waits for them.
   Here every retry backs off from 50 ms (capped at :data:`RETRY_BACKOFF_CAP_S`), and every
   attempt waits its turn at a rate all calls to the service share
   (:class:`~jobjanitor.ratelimit.RateLimiter`, on the clients that have one). A throttled
   call is retried while the deadline allows (up to :data:`THROTTLED_MAX_ATTEMPTS`), not only
   ``max_attempts`` times: the shared rate, not the attempt count, bounds what it adds.
3. **Retries respect the run's deadline** (:data:`jobjanitor.deadline.CURRENT_DEADLINE`): no
   retry is started once less than :data:`RETRY_HEADROOM_S` is left, and a back-off sleep
   never runs past the deadline.
4. **No attempt outlives the deadline either**: each attempt's read timeout is the time left
   (at most the client's read timeout), set through botocore's per-request ``read_timeout``
   context on ``request-created``; the connect timeout is short. A slow endpoint near the
   deadline therefore costs at most the time left plus the connect timeout, which the guard's
   answer reserve covers (see ``protocol/custom_resource.py``).
5. **A call budget** (``call_budget_s``, the bookkeeping table's clients): each call, its
   attempts and retries together, ends within that many seconds of its start, whatever the
   deadline: a table that hangs costs the work at most that long per call.

The standard handler is unregistered by its ``unique_id`` (``retry-config-<service>``) and an
equivalent one, built from the same :mod:`botocore.retries.standard` parts with our checker
wrapped around ``StandardRetryConditions``, is registered under the same id.
"""

from __future__ import annotations

import time
from typing import Any

from jobjanitor.deadline import CURRENT_DEADLINE
from jobjanitor.ratelimit import RateLimiter

__all__ = ["NO_RETRY_CODES", "install_retry_policy", "time_left"]

DEFAULT_MAX_ATTEMPTS = 8
# A throttled call is retried while the deadline allows, at most this many attempts.
THROTTLED_MAX_ATTEMPTS = 30
READ_TIMEOUT_S = 30.0
# An attempt started with almost nothing left still gets this long to read its answer.
MIN_READ_TIMEOUT_S = 0.5
RETRY_HEADROOM_S = 1.0
# Modeled "retryable" by neptunedata, but answers that a retry cannot change.
NO_RETRY_CODES = frozenset({"BulkLoadIdNotFoundException", "ConstraintViolationException", "S3Exception"})
# The standard retry quota (500 tokens, 5 per throttled retry) is shared by all threads of a
# client; a sweep of hundreds of jobs through a throttling storm would drain it and fail
# cancels that a few more retries would have carried. Bounded concurrency and the deadline
# already limit the load we add, so the bucket is larger.
RETRY_QUOTA_CAPACITY = 5000
RETRY_BACKOFF_CAP_S = 1
# Where a call's own end (its budget) is kept, in botocore's per-call request context.
_CALL_ENDS = "jobjanitor_call_ends"


def time_left(request_context: Any = None) -> float | None:
    """Seconds left for an attempt of a call: until the run's deadline or the call's budget,
    whichever comes first (None: neither bounds it)."""
    left: float | None = None
    deadline = CURRENT_DEADLINE.get()
    if deadline is not None:
        left = deadline.remaining()
    ends = request_context.get(_CALL_ENDS) if isinstance(request_context, dict) else None
    if ends is not None:
        budget = max(0.0, ends - time.monotonic())
        left = budget if left is None else min(left, budget)
    return left


class _JanitorRetryChecker:
    """Wraps botocore's StandardRetryConditions (see the module docstring)."""

    def __init__(self, max_attempts: int, no_retry_codes: frozenset[str]) -> None:
        from botocore.retries import standard  # noqa: PLC0415 - lazy: cold start

        self._max_attempts = max_attempts
        self._inner = standard.StandardRetryConditions(max_attempts=max(max_attempts, THROTTLED_MAX_ATTEMPTS))
        self._throttled = standard.ThrottledRetryableChecker()
        self._no_retry_codes = no_retry_codes

    def is_retryable(self, context: Any) -> bool:
        if context.get_error_code() in self._no_retry_codes:
            return False
        left = time_left(context.request_context)
        if left is not None and left < RETRY_HEADROOM_S:
            return False
        # Past the attempts for other errors, a throttled call goes on while a deadline bounds
        # it (the shared rate paces it).
        if context.attempt_number >= self._max_attempts and (
            CURRENT_DEADLINE.get() is None or not self._throttled.is_retryable(context)
        ):
            return False
        return bool(self._inner.is_retryable(context))


class _DeadlineBackoff:
    """botocore's ExponentialBackoff, scaled (tests use a small scale) and cut at the deadline."""

    def __init__(self, inner: Any, scale: float) -> None:
        self._inner = inner
        self._scale = scale

    def delay_amount(self, context: Any) -> float:
        delay = float(self._inner.delay_amount(context)) * self._scale
        left = time_left(context.request_context)
        if left is not None:
            delay = max(0.0, min(delay, left - RETRY_HEADROOM_S))
        return delay


def install_retry_policy(
    client: Any,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    no_retry_codes: frozenset[str] = NO_RETRY_CODES,
    backoff_scale: float = 1.0,
    read_timeout_s: float = READ_TIMEOUT_S,
    call_budget_s: float | None = None,
    rate_limited: bool = True,
    limiter: RateLimiter | None = None,
) -> RateLimiter | None:
    """Replace ``client``'s standard retry handler with the janitor's, and add the rate limiter
    all its calls share (see module docstring; ``limiter``: one another client of the service
    shares); returns the limiter (None without one)."""
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
    checker: Any = _JanitorRetryChecker(max_attempts, no_retry_codes)
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
    events.register(
        f"request-created.{name}", _ReadTimeout(read_timeout_s), unique_id=f"jobjanitor-read-timeout-{name}"
    )
    if call_budget_s is not None:
        events.register(f"before-call.{name}", _CallBudget(call_budget_s), unique_id=f"jobjanitor-budget-{name}")
    if not rate_limited:
        return None
    limiter = limiter or RateLimiter(name)

    def answered(**kwargs: Any) -> None:  # first on needs-retry, answers nothing: sees every answer
        limiter.answered(bool(throttling.is_throttling_error(**kwargs)))

    events.register_first(f"needs-retry.{name}", answered, unique_id=f"jobjanitor-rate-{name}")
    events.register(f"before-send.{name}", limiter.turn, unique_id=f"jobjanitor-turn-{name}")
    return limiter


class _CallBudget:
    """``before-call``: the call (all its attempts) ends within ``seconds`` of now."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __call__(self, context: dict[str, Any], **_: Any) -> None:
        context[_CALL_ENDS] = time.monotonic() + self._seconds


class _ReadTimeout:
    """``request-created``: each attempt reads for at most the time left (botocore honours
    ``read_timeout`` in the request context, per attempt)."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, request: Any, **_: Any) -> None:
        left = time_left(request.context)
        if left is not None:
            request.context["read_timeout"] = max(MIN_READ_TIMEOUT_S, min(self._limit, left))
