"""One sweeper invocation: classify the trigger, decide the policy, sweep once, report.

- A schedule (Scheduler or a classic rule) sweeps the configured scope, narrowed by the
  schedule's input, cancelling outstanding jobs older than the max age. Neptune ML jobs have
  no start time in their API: they are dated by the SageMaker jobs doing their work
  (CreationTime), or by their first sighting while they name none yet (:mod:`jobjanitor.ages`).
- A stack deletion sweeps the scope the stack declares in its tags (``<prefix>neptune-endpoint``,
  ``<prefix>job-id-prefix``, ``<prefix>glue-transforms``, ``<prefix>kinds``), with no age limit:
  the stack is going. A stack without such tags is ignored; tags only narrow the configured
  scope, never reach loads, and reach Neptune ML jobs only under a configured prefix, never
  with ``*`` (:func:`declared_scope`).
- Idempotency per trigger key (Powertools, DynamoDB): a duplicate after completion gets the
  first result and sweeps nothing; a duplicate while the first runs returns at once; a run
  that timed out is retried once its in-progress record expires with the Lambda deadline. A
  table that cannot be used costs a few seconds: the run sweeps without it and its result
  says so (``idempotency``), see :mod:`jobjanitor.idempotency`.
- Every configured Neptune cluster is swept on each run (``JOBJANITOR_NEPTUNE_CLUSTERS``), in
  parallel, each its own section of the result and its own ``target`` metric dimension; Glue ML
  task runs are one more section. A configured cluster that no longer exists (resolved once per
  execution environment) is a section with ``ok: false`` that says so, and ``ClustersMissing``;
  the rest are swept. A stack deletion sweeps the one cluster the stack names
  (``<prefix>neptune-endpoint``; optional when the sweeper serves a single cluster).
- The engine's deadline is the Lambda's remaining time less a margin: it never runs past it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from jobjanitor import engine
from jobjanitor.ages import Dating, FirstSeen
from jobjanitor.clients import ClientCache
from jobjanitor.clusters import NeptuneCluster, cluster_for_endpoint
from jobjanitor.config import parse_kinds, parse_list
from jobjanitor.deadline import Deadline
from jobjanitor.endpoints import validate_neptune_endpoint
from jobjanitor.errors import ConfigError
from jobjanitor.idempotency import IdempotentOnTable, idempotent_on_table
from jobjanitor.model import ML_KINDS, OPT_IN_KINDS, JobKindName
from jobjanitor.observability import log_progress, metrics, publish_missing_clusters, publish_report
from jobjanitor.policy import EVERY_ID, NEPTUNE_KINDS, Policy
from jobjanitor.report import Report
from jobjanitor.sagemaker_dating import SageMakerDating
from jobjanitor.store.first_seen import DynamoDBFirstSeen
from jobjanitor.sweeper.config import ENV, SweeperConfig
from jobjanitor.sweeper.events import Trigger, classify

log = logging.getLogger("jobjanitor.sweeper")

# Stop this long before the Lambda deadline: the result, the metrics and the idempotency
# record still have to be written.
DEADLINE_MARGIN_SECONDS = 10.0
# The idempotency table's last call ends this long before the Lambda's deadline.
ANSWER_MARGIN_SECONDS = 1.0
IDEMPOTENCY_EXPIRES_SECONDS = 6 * 3600
STACK_TAGS = ("neptune-endpoint", "job-id-prefix", "glue-transforms", "kinds")
GLUE_SECTION = "glue"
JOB_ID_PREFIX_ENV = ENV["job_id_prefix"]
# A configured cluster that no longer exists: its section of every scheduled run.
MISSING = (
    "configured in JOBJANITOR_NEPTUNE_CLUSTERS but no longer exists (DescribeDBClusters knows no such cluster): not "
    "swept; Neptune ML jobs started on it may still run in SageMaker. Remove it from NeptuneClusterResourceIds"
)


@dataclass(frozen=True, slots=True)
class Section:
    """One part of a run: one Neptune cluster's jobs, or the Glue ML task runs."""

    name: str  # the cluster identifier, or "glue"
    policy: Policy


def sections(policy: Policy, clusters: Sequence[NeptuneCluster]) -> list[Section]:
    """``policy`` split into one section per cluster (its Neptune kinds against the cluster's
    data endpoint) and one for Glue (when selected)."""
    out: list[Section] = []
    neptune_kinds = policy.kinds & NEPTUNE_KINDS
    if neptune_kinds:
        for cluster in clusters:
            endpoint = cluster.data_endpoint()
            out.append(Section(cluster.identifier, replace(policy, kinds=neptune_kinds, neptune_endpoint=endpoint)))
    if JobKindName.GLUE_ML_TASK_RUN in policy.kinds:
        glue = frozenset({JobKindName.GLUE_ML_TASK_RUN})
        out.append(Section(GLUE_SECTION, replace(policy, kinds=glue, neptune_endpoint=None)))
    return out


class Sweeper:
    def __init__(
        self, config: SweeperConfig, *, first_seen: FirstSeen | None = None, dating: Dating | None = None
    ) -> None:
        self.config = config
        self.clients = ClientCache()  # kept for this execution environment
        self.dating = dating if dating is not None else SageMakerDating()  # its client: on first use
        self.first_seen = first_seen
        if first_seen is None and config.table_name:
            self.first_seen = DynamoDBFirstSeen(config.table_name)
        self.idempotency: IdempotentOnTable | None = None
        if config.table_name:
            self.idempotency = idempotent_on_table(
                self._sweep,
                table_name=config.table_name,
                key="key",
                data_keyword="trigger",
                expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS,
            )
        else:
            log.warning("IDEMPOTENCY_TABLE_NAME is not set: duplicate deliveries will sweep again")

    def handle(self, event: object, context: Any) -> dict[str, Any]:
        trigger = classify(event)
        if trigger is None:
            log.info("stack status change other than DELETE_IN_PROGRESS: ignored")
            return {"status": "ignored"}
        scope = self.scope_for(trigger)
        if scope is None:
            return {"status": "not-opted-in", "stack": trigger.stack_id}
        policy, clusters = scope
        deadline = Deadline.from_lambda_context(context, margin_s=DEADLINE_MARGIN_SECONDS)
        policy = replace(policy, max_wait=max(1.0, deadline.remaining()))
        trigger_data = {"kind": trigger.kind, "key": trigger.key}
        # Configured clusters that no longer exist: each run reports them (a section, a metric).
        missing = self.config.missing_for(trigger.narrow) if trigger.stack_id is None else ()
        work: dict[str, Any] = {
            "trigger": trigger_data,
            "policy": policy,
            "deadline": deadline,
            "clusters": clusters,
            "missing": missing,
        }
        if self.idempotency is None:
            return self._sweep(**work)
        self.idempotency.register_lambda_context(context)
        try:
            once = self.idempotency(
                answer_by=Deadline.from_lambda_context(context, margin_s=ANSWER_MARGIN_SECONDS), **work
            )
        except IdempotencyAlreadyInProgressError:
            log.warning("duplicate delivery while the first is still sweeping: nothing to do", extra=trigger_data)
            return {"status": "duplicate-in-progress", "key": trigger.key}
        if not once.table_fault:
            return once.value
        metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)
        return {**once.value, "idempotency": once.note}

    def _sweep(
        self,
        *,
        trigger: dict[str, str],
        policy: Policy,
        deadline: Deadline,
        clusters: Sequence[NeptuneCluster],
        missing: Sequence[str] = (),
    ) -> dict[str, Any]:
        parts = sections(policy, clusters)

        def run(section: Section) -> Report:
            return engine.sweep(
                section.policy,
                deadline=deadline,
                clients=self.clients.for_policy(section.policy),
                progress=log_progress,
                first_seen=self.first_seen,
                dating=self.dating,
            )

        # In parallel: one cluster's slow wait must not eat the others' time.
        with ThreadPoolExecutor(max_workers=max(1, len(parts)), thread_name_prefix="section") as pool:
            reports = dict(zip((p.name for p in parts), pool.map(run, parts), strict=True))
        for name, report in reports.items():
            publish_report(report, source="sweeper", target=name)
        publish_missing_clusters(missing, source="sweeper")
        for entry in missing:
            reports[entry] = Report(errors=[f"{entry}: {MISSING}"])
        return result_of(trigger, policy, reports)

    # -- scopes ---------------------------------------------------------------------------
    def scope_for(self, trigger: Trigger) -> tuple[Policy, tuple[NeptuneCluster, ...]] | None:
        """The policy and the clusters of one run (None: a stack that did not opt in)."""
        if trigger.stack_id is not None:  # a stack deletion
            return self.stack_scope(trigger.stack_id)
        return self.config.narrowed(trigger.narrow), self.config.clusters

    def stack_scope(self, stack_id: str) -> tuple[Policy, tuple[NeptuneCluster, ...]] | None:
        stacks = self.clients.aws("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
        tags = {t["Key"]: t["Value"] for t in (stacks[0].get("Tags") or [])} if stacks else {}
        prefix = self.config.stack_tag_prefix
        declared = {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}
        if not declared:
            log.info("stack did not opt in (no %s tags): ignored", prefix, extra={"stack": stack_id})
            return None
        return declared_scope(self.config.policy, declared, prefix, self._stack_cluster)

    def _stack_cluster(self, field: str, endpoint: str | None, job_prefix: str | None) -> NeptuneCluster | None:
        """The configured cluster a stack's tag names; with no tag, the only configured cluster
        (a stack with a job-id prefix on a multi-cluster sweeper must say which)."""
        clusters = self.config.clusters
        if endpoint:
            found = cluster_for_endpoint(validate_neptune_endpoint(endpoint, field=field), clusters)
            if found is None:
                raise ConfigError(field, "is not an endpoint of a cluster this sweeper is configured for")
            return found
        if not job_prefix or not clusters:
            return None
        if len(clusters) > 1:
            names = ", ".join(c.identifier for c in clusters)
            raise ConfigError(field, f"required: this sweeper serves several clusters ({names})")
        return clusters[0]


ClusterOf = Callable[[str, "str | None", "str | None"], "NeptuneCluster | None"]


def declared_scope(
    base: Policy, declared: Mapping[str, str], tag_prefix: str, cluster_of: ClusterOf
) -> tuple[Policy, tuple[NeptuneCluster, ...]]:
    """The scope a deleted stack declares in its tags, held inside the configured ``base``, and
    the cluster it is on (``cluster_of(field, endpoint tag, prefix)``).

    Tags only ever narrow, because anyone who can tag and delete a stack could otherwise cancel
    other teams' jobs:

    - Neptune ML kinds need ``job-id-prefix``, and it must extend the configured
      JOBJANITOR_JOB_ID_PREFIX, never ``*`` (the default). A stack with only a prefix gets the
      configured ML job kinds; its inference endpoints (neptune-ml-endpoint) only when its
      ``kinds`` tag names the kind too: the install and the stack both opt in.
    - Glue runs need ``glue-transforms``, each among the configured transforms.
    - Loads are never swept for a stack's tags: their ids are Neptune's, no prefix selects them,
      so they are swept only on the cluster owner's own configuration (the schedule).
    - ``neptune-endpoint`` must name a configured cluster; ``kinds`` picks among the above.
    - A blank tag value is an error, never "no filter".
    """

    def tag(name: str) -> str:
        return f"tag {tag_prefix}{name}"

    for name, value in declared.items():
        if name not in STACK_TAGS:
            raise ConfigError(tag(name), f"unknown (allowed: {', '.join(STACK_TAGS)})")
        if not value.strip():
            raise ConfigError(tag(name), "is blank: give a value or remove the tag (blank never means 'no filter')")
    job_prefix = declared["job-id-prefix"].strip() if "job-id-prefix" in declared else None
    transforms = parse_list(tag("glue-transforms"), _words(declared.get("glue-transforms")))
    if job_prefix is not None and base.job_id_prefix and not job_prefix.startswith(base.job_id_prefix):
        raise ConfigError(tag("job-id-prefix"), f"must extend the configured prefix {base.job_id_prefix!r}")
    if transforms and not set(transforms) <= set(base.glue_transform_ids):
        raise ConfigError(tag("glue-transforms"), "names transforms this sweeper is not configured for")
    kinds = _stack_kinds(base, declared, job_prefix, transforms, tag)
    ml = bool(kinds & ML_KINDS)
    endpoint_tag = declared["neptune-endpoint"].strip() if "neptune-endpoint" in declared else None
    cluster = cluster_of(tag("neptune-endpoint"), endpoint_tag, job_prefix if ml else None)
    if ml:
        _require_configured_prefix(base, tag("job-id-prefix"))
    policy = Policy.build(
        kinds=sorted(kinds),
        neptune_endpoint=cluster.data_endpoint() if cluster and ml else None,
        neptune_iam_role_arn=base.neptune_iam_role_arn,
        glue_region=base.glue_region,
        glue_transform_ids=list(transforms) if JobKindName.GLUE_ML_TASK_RUN in kinds else None,
        job_id_prefix=job_prefix if ml else None,
        clean=base.clean,
        dry_run=base.dry_run,
        concurrency=base.concurrency,
        labels={
            "kinds": tag("kinds"),
            "job_id_prefix": tag("job-id-prefix"),
            "neptune_endpoint": tag("neptune-endpoint"),
        },
    )
    return policy, (cluster,) if cluster and ml else ()


def _require_configured_prefix(base: Policy, field: str) -> None:
    """JOBJANITOR_JOB_ID_PREFIX ``*`` (the template's default) lets the schedule sweep every id,
    but a tag could then claim any team's prefix, with no age limit: stacks claim Neptune ML
    jobs only under a prefix the install configures."""
    if not base.job_id_prefix:
        raise ConfigError(
            field,
            f"not honoured while {JOB_ID_PREFIX_ENV} is {EVERY_ID}: a stack's tags may only claim Neptune ML "
            "jobs under a prefix the install configures (set JobIdPrefix to the prefix stack prefixes extend)",
        )


def _stack_kinds(
    base: Policy,
    declared: Mapping[str, str],
    job_prefix: str | None,
    transforms: tuple[str, ...],
    tag: Callable[[str], str],
) -> set[JobKindName]:
    """The kinds a stack's tags select (see :func:`stack_scope`): never loads."""
    if "kinds" not in declared:
        ml_jobs = base.kinds & ML_KINDS - OPT_IN_KINDS
        kinds: set[JobKindName] = set(ml_jobs) if job_prefix is not None else set()
        if job_prefix is not None and not kinds:
            raise ConfigError(tag("job-id-prefix"), "this sweeper is not configured for Neptune ML jobs")
        if transforms:
            kinds.add(JobKindName.GLUE_ML_TASK_RUN)
        if not kinds:
            raise ConfigError(tag("job-id-prefix"), "a stack must declare a job-id prefix or its Glue transforms")
        return kinds
    named = set(parse_kinds(tag("kinds"), _words(declared["kinds"])))
    if JobKindName.NEPTUNE_LOADER in named:
        raise ConfigError(
            tag("kinds"),
            "neptune-loader is never swept for a stack's tags: load ids are Neptune's, so no prefix can "
            "tell one stack's loads from another's",
        )
    outside = named - base.kinds
    if outside:
        raise ConfigError(tag("kinds"), f"kinds this sweeper is not configured for: {', '.join(sorted(outside))}")
    if named & ML_KINDS and job_prefix is None:
        raise ConfigError(tag("job-id-prefix"), "the Neptune ML kinds named in kinds need a job-id prefix")
    if JobKindName.GLUE_ML_TASK_RUN in named and not transforms:
        raise ConfigError(tag("glue-transforms"), "glue-ml-task-run named in kinds needs the stack's transforms")
    return named


def result_of(trigger: dict[str, str], policy: Policy, reports: dict[str, Report]) -> dict[str, Any]:
    """What the invocation returns (and the idempotency record keeps): small, no job list.
    Totals over the run, then one section per cluster (and ``glue``)."""
    merged = Report(
        results=[r for report in reports.values() for r in report.results],
        warnings=[w for report in reports.values() for w in report.warnings],
        errors=[e for report in reports.values() for e in report.errors],
        incomplete=[i for report in reports.values() for i in report.incomplete],
        waited=any(report.waited for report in reports.values()),
        dry_run=policy.dry_run,
    )
    return {
        "status": "swept",
        "trigger": trigger["kind"],
        "key": trigger["key"],
        "dryRun": policy.dry_run,
        "ok": merged.ok,
        "summary": merged.summary(),
        "byKind": merged.counts_by_kind(),
        "warnings": merged.warnings[:10],
        "errors": merged.errors[:10],
        "incomplete": merged.incomplete[:10],
        "sections": {
            name: {
                "ok": report.ok,
                "byKind": report.counts_by_kind(),
                "errors": report.errors[:3],
                "incomplete": report.incomplete[:3],
            }
            for name, report in reports.items()
        },
    }


def _words(value: str | None) -> str | None:
    """Tag values cannot hold commas: lists in tags are space-separated."""
    return ",".join(value.split()) if value else None


__all__ = ["Section", "Sweeper", "parse_kinds", "result_of", "sections"]
