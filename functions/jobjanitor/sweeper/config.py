"""The sweeper's configuration: environment variables, validated once at cold start.

The configured :class:`Policy` is the widest scope the function may ever touch. A schedule's
input may narrow it for one run (fewer kinds, a longer max age, a longer id prefix, fewer
transforms, dry run on), never widen it; a stack that opts in by tags declares a scope that
must also fit inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from jobjanitor.clusters import CLUSTERS_ENV, ClusterRegistry, NeptuneCluster, Resolved
from jobjanitor.config import SHARED_ENV, parse_bool, parse_duration, parse_kinds, parse_list
from jobjanitor.errors import ConfigError
from jobjanitor.model import JobKindName
from jobjanitor.policy import EVERY_ID, NEPTUNE_KINDS, Policy

ENV = {
    "kinds": "JOBJANITOR_KINDS",
    # Not read: the endpoints are the configured clusters' (errors about them name the list).
    "neptune_endpoint": CLUSTERS_ENV,
    **SHARED_ENV,  # the Neptune role, the Glue Region and transforms, clean
    "job_id_prefix": "JOBJANITOR_JOB_ID_PREFIX",
    "min_age": "JOBJANITOR_MAX_AGE",
    "endpoint_min_age": "JOBJANITOR_ENDPOINT_MAX_AGE",
    "dry_run": "JOBJANITOR_DRY_RUN",
    "concurrency": "JOBJANITOR_CONCURRENCY",
}
STACK_TAG_PREFIX = "JOBJANITOR_STACK_TAG_PREFIX"
# JOBJANITOR_JOB_ID_PREFIX's explicit "every job id" is jobjanitor.policy.EVERY_ID ("*": Neptune
# ML ids are letters, digits and hyphens, so no real prefix is "*"). A blank prefix is an error.
# The neptune-ml-endpoint kind's age limit: an endpoint younger than this is in use, not a leftover.
MIN_ENDPOINT_MAX_AGE = timedelta(hours=1)
TABLE = "IDEMPOTENCY_TABLE_NAME"
# The single endpoint of earlier versions: refused, so an old configuration does not
# silently sweep nothing on Neptune.
LEGACY_ENDPOINT = "JOBJANITOR_NEPTUNE_ENDPOINT"


@dataclass(frozen=True, slots=True)
class SweeperConfig:
    policy: Policy
    stack_tag_prefix: str
    table_name: str | None
    # The Neptune clusters swept (JOBJANITOR_NEPTUNE_CLUSTERS); the policy's endpoint is the
    # first one's, each run sweeps every one (sweeper.logic.sections).
    clusters: tuple[NeptuneCluster, ...] = ()
    # Configured entries that name no cluster any more: reported by every run, never swept.
    missing: tuple[str, ...] = ()
    # The Neptune kinds configured while none of the configured clusters exists: set aside
    # from the policy (which cannot hold them without an endpoint), reported as missing.
    set_aside: frozenset[JobKindName] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str], clusters: Sequence[NeptuneCluster] | None = None) -> SweeperConfig:
        """``clusters``: the resolved JOBJANITOR_NEPTUNE_CLUSTERS (resolved here when None)."""
        if env.get(LEGACY_ENDPOINT, "").strip():
            raise ConfigError(LEGACY_ENDPOINT, f"no longer read: list the clusters to sweep in {CLUSTERS_ENV}")
        resolved = ClusterRegistry.from_env(env).resolve() if clusters is None else Resolved(tuple(clusters))
        clusters = resolved.clusters

        def get(field: str) -> str | None:
            value = env.get(ENV[field], "").strip()
            return value or None

        raw_prefix = env.get(ENV["job_id_prefix"])
        if raw_prefix is None or not raw_prefix.strip():
            raise ConfigError(
                ENV["job_id_prefix"],
                f"is blank: set the Neptune ML job-id prefix to sweep, or {EVERY_ID} for every id on the "
                "configured endpoint (blank never means 'no filter')",
            )
        job_id_prefix = raw_prefix.strip()  # "*" is every id (Policy.build)
        if get("min_age") is None:
            raise ConfigError(ENV["min_age"], "required: the sweeper cancels only jobs older than this (e.g. 6h)")
        if parse_duration(ENV["min_age"], get("min_age")) < timedelta(minutes=1):
            raise ConfigError(ENV["min_age"], "must be at least 1m")
        kinds: object = get("kinds")
        set_aside: frozenset[JobKindName] = frozenset()
        if resolved.missing and not clusters:
            glue = bool(get("glue_transform_ids") or get("glue_transform_name_prefix"))
            kinds, set_aside = _without_neptune(get("kinds"), resolved.missing, glue=glue)
        policy = Policy.build(
            kinds=kinds,
            neptune_endpoint=clusters[0].data_endpoint(env) if clusters else None,
            neptune_iam_role_arn=get("neptune_iam_role_arn"),
            glue_region=get("glue_region"),
            glue_transform_ids=get("glue_transform_ids"),
            glue_transform_name_prefix=get("glue_transform_name_prefix"),
            job_id_prefix=job_id_prefix,
            min_age=get("min_age"),
            endpoint_min_age=_endpoint_max_age(get("kinds"), get("endpoint_min_age")),
            clean=get("clean") or "false",
            dry_run=get("dry_run") or "false",
            concurrency=get("concurrency") or "16",
            labels=ENV,
        )
        return cls(
            policy=policy,
            stack_tag_prefix=env.get(STACK_TAG_PREFIX, "").strip() or "jobjanitor:",
            table_name=env.get(TABLE, "").strip() or None,
            clusters=tuple(clusters),
            missing=resolved.missing,
            set_aside=set_aside,
        )

    def narrowed(self, narrow: object) -> Policy:
        """The configured policy narrowed by a schedule's input; ConfigError if it would widen."""
        if narrow is None or narrow == {}:
            return self.policy
        if not isinstance(narrow, Mapping):
            raise ConfigError("narrow", "must be an object")
        unknown = sorted(str(k) for k in narrow if k not in _NARROWERS)
        if unknown:
            raise ConfigError(f"narrow.{unknown[0]}", f"unknown field (allowed: {', '.join(_NARROWERS)})")
        changes: dict[str, Any] = {}
        for name, narrower in _NARROWERS.items():
            if name in narrow:
                value = self._without_set_aside(narrow[name]) if name == "kinds" else narrow[name]
                changes.update(narrower(self.policy, value))
        return replace(self.policy, **changes)

    def _without_set_aside(self, value: object) -> object:
        """A schedule's kinds less those set aside (their clusters are missing, and reported)."""
        if not self.set_aside:
            return value
        kept = sorted(str(k) for k in parse_kinds("narrow.kinds", value) - self.set_aside)
        if not kept:
            raise ConfigError(
                "narrow.kinds",
                f"names only Neptune kinds, and no configured cluster exists any more ({', '.join(self.missing)})",
            )
        return kept

    def missing_for(self, narrow: object) -> tuple[str, ...]:
        """The missing clusters a scheduled run reports: all of them, unless the schedule's
        kinds name no Neptune kind."""
        if isinstance(narrow, Mapping) and "kinds" in narrow:
            return self.missing if parse_kinds("narrow.kinds", narrow["kinds"]) & NEPTUNE_KINDS else ()
        return self.missing


def _without_neptune(
    kinds: str | None, missing: Sequence[str], *, glue: bool
) -> tuple[list[str], frozenset[JobKindName]]:
    """The configured kinds but the Neptune ones, and those (no configured cluster exists, so no
    policy can hold them). Nothing left to sweep is an error naming the missing clusters.
    ``kinds`` None is the default: the Neptune kinds, and Glue's when ``glue`` transforms are set."""
    glue_kind = {JobKindName.GLUE_ML_TASK_RUN} if glue else set()
    chosen = parse_kinds(ENV["kinds"], kinds) if kinds is not None else NEPTUNE_KINDS | glue_kind
    rest = sorted(str(k) for k in chosen - NEPTUNE_KINDS)
    if not rest:
        raise ConfigError(
            CLUSTERS_ENV,
            f"no configured cluster exists any more ({', '.join(missing)}: DescribeDBClusters knows no such "
            f"cluster), and {ENV['kinds']} selects nothing else to sweep",
        )
    return rest, chosen & NEPTUNE_KINDS


def _endpoint_max_age(kinds: str | None, value: str | None) -> str | None:
    """JOBJANITOR_ENDPOINT_MAX_AGE, required (at least an hour) when the kinds name
    neptune-ml-endpoint: an endpoint is swept by an age of its own, never by the jobs'."""
    name = ENV["endpoint_min_age"]
    if kinds is None or JobKindName.NEPTUNE_ML_ENDPOINT not in parse_kinds(ENV["kinds"], kinds):
        return value
    if value is None:
        raise ConfigError(name, "required with neptune-ml-endpoint in the kinds: delete endpoints older than this (7d)")
    if parse_duration(name, value) < MIN_ENDPOINT_MAX_AGE:
        raise ConfigError(name, "must be at least 1h (an endpoint younger than that is in use, not left behind)")
    return value


def _kinds(policy: Policy, value: object) -> dict[str, Any]:
    kinds = parse_kinds("narrow.kinds", value)
    if not kinds <= policy.kinds:
        extra = ", ".join(sorted(kinds - policy.kinds))
        raise ConfigError("narrow.kinds", f"may only narrow the configured kinds; not configured: {extra}")
    return {"kinds": kinds}


def _max_age(policy: Policy, value: object) -> dict[str, Any]:
    age = parse_duration("narrow.maxAge", value)
    if policy.min_age is not None and age < policy.min_age:
        raise ConfigError("narrow.maxAge", f"may only lengthen the configured max age ({policy.min_age})")
    return {"min_age": age}


def _job_id_prefix(policy: Policy, value: object) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("narrow.jobIdPrefix", "must be a non-empty string")
    if policy.job_id_prefix and not value.startswith(policy.job_id_prefix):
        raise ConfigError("narrow.jobIdPrefix", f"must extend the configured prefix {policy.job_id_prefix!r}")
    return {"job_id_prefix": value}


def _glue_transform_ids(policy: Policy, value: object) -> dict[str, Any]:
    ids = parse_list("narrow.glueTransformIds", value)
    if not ids:
        raise ConfigError("narrow.glueTransformIds", "is blank: name at least one configured transform")
    if not policy.glue_transform_ids:
        raise ConfigError("narrow.glueTransformIds", "the configuration names no transform ids to narrow")
    if not set(ids) <= set(policy.glue_transform_ids):
        raise ConfigError("narrow.glueTransformIds", "may only name configured transforms")
    return {"glue_transform_ids": ids, "glue_transform_name_prefix": None, "glue_transform_tags": {}}


def _dry_run(policy: Policy, value: object) -> dict[str, Any]:
    dry_run = parse_bool("narrow.dryRun", value)
    if policy.dry_run and not dry_run:
        raise ConfigError("narrow.dryRun", "cannot turn off the configured dry run")
    return {"dry_run": dry_run}


# The input fields a schedule may send to narrow one run, and how each narrows.
_NARROWERS: dict[str, Callable[[Policy, object], dict[str, Any]]] = {
    "kinds": _kinds,
    "maxAge": _max_age,
    "jobIdPrefix": _job_id_prefix,
    "glueTransformIds": _glue_transform_ids,
    "dryRun": _dry_run,
}
NARROWING_FIELDS = tuple(_NARROWERS)
