"""The one observability module: Powertools Logger, Metrics and Tracer for every handler.

The engine itself stays free of Powertools (it also runs from a laptop); it reports through
a progress callback and its :class:`~jobjanitor.report.Report`. This module turns those
into one structured log line per action and EMF metrics per target and job kind (non-zero
counts only, one fixed dimension set: see :func:`publish_report` and docs/deploy.md).

Tracer patches botocore when it is created, so every AWS call (Neptune, Glue, DynamoDB,
Events, Lambda) becomes an X-Ray subsegment without code in the engine.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

if TYPE_CHECKING:
    from jobjanitor.clusters import NeptuneCluster
    from jobjanitor.engine import ProgressEvent
    from jobjanitor.model import JobRef
    from jobjanitor.report import Report

F = TypeVar("F", bound=Callable[..., Any])

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "jobjanitor")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "JobJanitor")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# The handlers' ColdStart metric, only while metrics are on: Powertools emits it with
# single_metric, which prints its EMF line even under POWERTOOLS_METRICS_DISABLED (a local run,
# `make demo`, showed it among the guard's answers).
COLD_START_METRIC = not is_metrics_disabled()


class _Untraced:
    """Stands in for Powertools' Tracer when tracing is off. Powertools builds its X-Ray
    provider even when POWERTOOLS_TRACE_DISABLED is set, and importing the X-Ray SDK creates
    two botocore clients for its sampler: tens of milliseconds of a cold start for nothing."""

    def capture_lambda_handler(self, **_: Any) -> Callable[[F], F]:
        return lambda handler: handler

    def capture_method(self, method: F) -> F:
        return method


class _LazyTracer:
    """Powertools' Tracer, built on the first call of a traced function instead of at import.

    Creating the Tracer imports the X-Ray SDK (its sampler creates botocore clients) and patches
    botocore: tens of milliseconds that would otherwise sit on the handler's import path, which Lambda
    runs before it can take the first event. Built on the first invocation, before the handler
    body creates any client, so every AWS call is still traced (the patch is on botocore's client
    class). One per execution environment; invocations of one environment never overlap."""

    def __init__(self) -> None:
        self._tracer: TracerLike | None = None

    def real(self) -> TracerLike:
        if self._tracer is None:
            self._tracer = cast(TracerLike, Tracer(service=SERVICE))
        return self._tracer

    def capture_lambda_handler(self, **options: Any) -> Callable[[F], F]:
        return lambda handler: self._on_first_call(handler, lambda real: real.capture_lambda_handler(**options))

    def capture_method(self, method: F) -> F:
        return self._on_first_call(method, lambda real: real.capture_method)

    def _on_first_call(self, function: F, decorator_of: Callable[[TracerLike], Callable[[F], F]]) -> F:
        traced: list[F] = []

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not traced:
                traced.append(decorator_of(self.real())(function))
            return traced[0](*args, **kwargs)

        return cast(F, wrapper)


def _tracing_disabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")


class TracerLike(Protocol):
    """What the handlers use of a tracer (Powertools' Tracer is untyped there)."""

    def capture_lambda_handler(self, **kwargs: Any) -> Callable[[F], F]: ...

    def capture_method(self, method: F) -> F: ...


# With tracing on, the Tracer (which patches botocore: every AWS call becomes an X-Ray
# subsegment) is built on the first invocation, off the import path; with it off, never.
tracer: TracerLike = _Untraced() if _tracing_disabled() else _LazyTracer()

# Report outcome -> metric name. "seen" and "still stopping" are derived, see below.
OUTCOME_METRICS = {
    "cancelled": "JobsCancelled",
    "already_finished": "JobsAlreadyFinished",
    "not_found": "JobsNotFound",
    "failed": "JobsFailed",
    "would_cancel": "JobsWouldCancel",
}
# The one dimension set of the per-kind metrics (Powertools adds "service" to each).
KIND_DIMENSIONS = ("source", "target", "kind")
GLUE_TARGET = "glue"


def log_progress(event: ProgressEvent) -> None:
    """The engine's progress callback in Lambda: one structured log line per action."""
    fields = event.log_fields()
    level = "warning" if fields.get("outcome") == "failed" or fields.get("error") else "info"
    getattr(logger, level)(event.message(), **fields)


def publish_report(
    report: Report, *, source: str, target: str | None = None, clusters: Sequence[NeptuneCluster] = ()
) -> None:
    """Emit a report's EMF metrics.

    Per kind, with the fixed dimensions ``service, source, target, kind`` (``source``: guard or
    sweeper; ``target``: the Neptune cluster's identifier, or ``glue``; given, or found from the
    job's endpoint in ``clusters``): JobsSeen, JobsCancelled, JobsAlreadyFinished,
    JobsNotFound, JobsFailed, JobsWouldCancel, JobsStillStopping, **only those that are not
    zero** (a quiet run emits no per-kind series at all). Totals with the service dimension
    alone, every run, zeros included (the alarms read them): SweepFailures, SweepStillStopping.
    """
    counts: dict[tuple[str, str], Counter[str]] = {}

    def count(ref: JobRef, metric: str) -> None:
        key = (target or _target_of(ref, clusters), str(ref.kind))
        counts.setdefault(key, Counter())[metric] += 1

    for result in report.results:
        count(result.ref, "JobsSeen")
        name = OUTCOME_METRICS.get(str(result.outcome))
        if name:
            count(result.ref, name)
    for ref in report.still_running:
        count(ref, "JobsStillStopping")
    for (target_name, kind), counter in sorted(counts.items()):
        kind_metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for dimension, value in zip(KIND_DIMENSIONS, (source, target_name, kind), strict=True):
            kind_metrics.add_dimension(name=dimension, value=value[:250])
        for name, number in sorted(counter.items()):
            kind_metrics.add_metric(name=name, unit=MetricUnit.Count, value=number)
        kind_metrics.flush_metrics()
    # Totals on the function's own metrics object (flushed by @metrics.log_metrics).
    metrics.add_metric(name="SweepFailures", unit=MetricUnit.Count, value=len(report.failures))
    if report.incomplete:
        # A listing hit its cap: jobs may have been missed (service dimension only, for alarms).
        metrics.add_metric(name="DiscoveryIncomplete", unit=MetricUnit.Count, value=len(report.incomplete))
    metrics.add_metric(name="SweepStillStopping", unit=MetricUnit.Count, value=len(report.still_running))


def publish_missing_clusters(missing: Sequence[str], *, source: str) -> None:
    """Configured clusters (``JOBJANITOR_NEPTUNE_CLUSTERS``) that no longer exist: a warning
    naming them and ``ClustersMissing`` (service dimension only, for alarms). Nothing when none."""
    if not missing:
        return
    logger.warning(
        "configured Neptune clusters no longer exist: skipped (remove them from NeptuneClusterResourceIds)",
        missing=list(missing),
        source=source,
    )
    metrics.add_metric(name="ClustersMissing", unit=MetricUnit.Count, value=len(missing))


def _target_of(ref: JobRef, clusters: Sequence[NeptuneCluster]) -> str:
    if not ref.kind.is_neptune:
        return GLUE_TARGET
    from jobjanitor.clusters import cluster_for_endpoint  # noqa: PLC0415 - off the handlers' import (Lambda's init)

    cluster = cluster_for_endpoint(ref.target, clusters)
    return cluster.identifier if cluster else ref.target
