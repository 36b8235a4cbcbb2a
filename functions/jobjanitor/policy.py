"""What a sweep may touch and how: the :class:`Policy`, validated once at the edge."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from jobjanitor.config import parse_bool, parse_duration, parse_int, parse_kinds, parse_list, parse_tags
from jobjanitor.endpoints import validate_neptune_endpoint
from jobjanitor.errors import ConfigError
from jobjanitor.model import OPT_IN_KINDS, JobKindName

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_MAX_WAIT_SECONDS", "EVERY_ID", "NEPTUNE_KINDS", "Policy"]

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 128
DEFAULT_MAX_WAIT_SECONDS = 900
MAX_WAIT_SECONDS = 86400
NEPTUNE_KINDS = frozenset(k for k in JobKindName if k.is_neptune)
# A job-id prefix of "*": every id, said explicitly (ids are letters, digits and hyphens, so no
# real prefix is "*"). The neptune-ml-endpoint kind needs it, a prefix or ids.
EVERY_ID = "*"

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_TRANSFORM_ID = re.compile(r"^[^\s]{1,255}$")


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated sweep policy (``__post_init__`` checks every field; :meth:`build` coerces
    raw strings first). ``min_age`` is measured from each job's own start time; a job whose
    start time the API does not give never matches a ``min_age`` policy.

    ``every_id``: the scope reaches every caller-chosen id on purpose (a prefix of ``*``).
    ``endpoint_min_age``: the age limit of the neptune-ml-endpoint kind (dated by its SageMaker
    endpoint's CreationTime), when it has one of its own; else ``min_age`` applies to it too."""

    kinds: frozenset[JobKindName]
    neptune_endpoint: str | None = None
    neptune_iam_role_arn: str | None = None
    glue_region: str | None = None
    glue_transform_ids: tuple[str, ...] = ()
    glue_transform_name_prefix: str | None = None
    glue_transform_tags: Mapping[str, str] = field(default_factory=dict)
    job_id_prefix: str | None = None
    job_ids: frozenset[str] = frozenset()
    min_age: timedelta | None = None
    every_id: bool = False
    endpoint_min_age: timedelta | None = None
    clean: bool = False
    dry_run: bool = False
    wait: bool = True
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per field reads best flat
        if not self.kinds:
            raise ConfigError("kinds", "select at least one job kind")
        for kind in self.kinds:
            if not isinstance(kind, JobKindName):
                raise ConfigError("kinds", f"unknown job kind {kind!r}")
        if self.neptune_endpoint is not None:
            # https Neptune endpoints only (see jobjanitor.endpoints), kept in their normal form.
            normalised = validate_neptune_endpoint(self.neptune_endpoint, field="neptune_endpoint")
            object.__setattr__(self, "neptune_endpoint", normalised)
        if self.kinds & NEPTUNE_KINDS and not self.neptune_endpoint:
            chosen = ", ".join(sorted(self.kinds & NEPTUNE_KINDS))
            raise ConfigError("neptune_endpoint", f"required for the Neptune job kinds selected ({chosen})")
        if self.neptune_iam_role_arn is not None and not _ROLE_ARN.match(self.neptune_iam_role_arn):
            raise ConfigError("neptune_iam_role_arn", f"must be an IAM role ARN, got {self.neptune_iam_role_arn!r}")
        if self.glue_region is not None and not _REGION.match(self.glue_region):
            raise ConfigError("glue_region", f"must be an AWS region like eu-west-1, got {self.glue_region!r}")
        for transform_id in self.glue_transform_ids:
            if not _TRANSFORM_ID.match(transform_id):
                raise ConfigError("glue_transform_ids", f"not a Glue transform id: {transform_id!r}")
        if self.glue_transform_name_prefix is not None and not self.glue_transform_name_prefix.strip():
            raise ConfigError("glue_transform_name_prefix", "must not be empty")
        glue_scoped = bool(self.glue_transform_ids or self.glue_transform_name_prefix or self.glue_transform_tags)
        if JobKindName.GLUE_ML_TASK_RUN in self.kinds and not glue_scoped:
            raise ConfigError(
                "glue_transform_ids",
                "the glue-ml-task-run kind needs transform ids, a transform name prefix or transform tags",
            )
        if self.job_id_prefix is not None and not self.job_id_prefix.strip():
            raise ConfigError("job_id_prefix", "must not be blank (a blank prefix would match every id)")
        if self.job_ids is not None and any(not job_id.strip() for job_id in self.job_ids):
            raise ConfigError("job_ids", "must not contain blank ids")
        if self.min_age is not None and self.min_age < timedelta(0):
            raise ConfigError("min_age", "must not be negative")
        if self.endpoint_min_age is not None and self.endpoint_min_age < timedelta(0):
            raise ConfigError("endpoint_min_age", "must not be negative")
        if JobKindName.NEPTUNE_ML_ENDPOINT in self.kinds and not (self.job_id_prefix or self.job_ids or self.every_id):
            raise ConfigError(
                "job_id_prefix",
                f"the {JobKindName.NEPTUNE_ML_ENDPOINT} kind deletes inference endpoints: scope it with a job-id "
                f"prefix or ids, or {EVERY_ID} for every endpoint on the cluster",
            )
        if not 0 < self.max_wait <= MAX_WAIT_SECONDS:
            raise ConfigError("max_wait", f"must be between 1 and {MAX_WAIT_SECONDS} seconds, got {self.max_wait!r}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigError(
                "concurrency", f"must be an integer between 1 and {MAX_CONCURRENCY}, got {self.concurrency!r}"
            )

    def min_age_for(self, kind: JobKindName) -> timedelta | None:
        """The age a job of ``kind`` must reach to be selected (None: any age)."""
        if kind is JobKindName.NEPTUNE_ML_ENDPOINT and self.endpoint_min_age is not None:
            return self.endpoint_min_age
        return self.min_age

    @property
    def glue_scoped(self) -> bool:
        return bool(self.glue_transform_ids or self.glue_transform_name_prefix or self.glue_transform_tags)

    @classmethod
    def build(
        cls,
        *,
        kinds: object = None,
        neptune_endpoint: object = None,
        neptune_iam_role_arn: object = None,
        glue_region: object = None,
        glue_transform_ids: object = None,
        glue_transform_name_prefix: object = None,
        glue_transform_tags: object = None,
        job_id_prefix: object = None,
        job_ids: object = None,
        min_age: object = None,
        endpoint_min_age: object = None,
        clean: object = False,
        dry_run: object = False,
        wait: object = True,
        max_wait: object = DEFAULT_MAX_WAIT_SECONDS,
        concurrency: object = DEFAULT_CONCURRENCY,
        labels: Mapping[str, str] | None = None,
    ) -> Policy:
        """A policy from raw values (strings as guard properties, env vars or flags give them).

        ``None`` means "not given"; a scope value given but blank (``""``, whitespace, ``","``,
        ``[]``) is a ConfigError naming the field, never "no filter". ``kinds`` None selects what
        is configured (:func:`_default_kinds`). A ``job_id_prefix`` of ``*`` is ``every_id``.
        ``labels`` renames fields in the error raised (``{"max_wait": "MaxWaitSeconds"}``).
        """
        with _labelled(labels):
            endpoint = _scope_text(neptune_endpoint, "neptune_endpoint")
            glue = _glue_scope(glue_transform_ids, glue_transform_name_prefix, glue_transform_tags)
            transform_ids, prefix, tags = glue
            id_prefix = _scope_text(job_id_prefix, "job_id_prefix")
            every_id = id_prefix == EVERY_ID
            id_prefix = None if every_id else id_prefix
            ids = _scope_list(job_ids, "job_ids")
            kind_set = (
                _default_kinds(endpoint, bool(id_prefix or ids), bool(transform_ids or prefix or tags))
                if kinds is None
                else parse_kinds("kinds", kinds)
            )
            return cls(
                kinds=kind_set,
                neptune_endpoint=endpoint,
                neptune_iam_role_arn=_text(neptune_iam_role_arn, "neptune_iam_role_arn"),
                glue_region=_text(glue_region, "glue_region"),
                glue_transform_ids=transform_ids,
                glue_transform_name_prefix=prefix,
                glue_transform_tags=tags,
                job_id_prefix=id_prefix,
                job_ids=frozenset(ids),
                min_age=_age("min_age", min_age),
                every_id=every_id,
                endpoint_min_age=_age("endpoint_min_age", endpoint_min_age),
                clean=parse_bool("clean", clean),
                dry_run=parse_bool("dry_run", dry_run),
                wait=parse_bool("wait", wait),
                max_wait=parse_int("max_wait", max_wait, 1, MAX_WAIT_SECONDS),
                concurrency=parse_int("concurrency", concurrency, 1, MAX_CONCURRENCY),
            )


_BLANK = "is blank: give a value, or leave it out (blank never means 'no filter')"


def _scope_text(value: object, name: str) -> str | None:
    """A scope setting: None when not given; given but blank is an error, never "no filter"."""
    text = _text(value, name)
    if value is not None and text is None:
        raise ConfigError(name, _BLANK)
    return text


def _scope_list(value: object, name: str) -> tuple[str, ...]:
    """A scope list: ``()`` when not given; given but with no item (``""``, ``","``, ``[]``) is
    an error."""
    items = parse_list(name, value)
    if value is not None and not items:
        raise ConfigError(name, _BLANK)
    return items


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, got {value!r}")
    return value.strip() or None


@contextmanager
def _labelled(labels: Mapping[str, str] | None) -> Iterator[None]:
    """A ConfigError raised inside names its field as ``labels`` says (a property, a variable)."""
    try:
        yield
    except ConfigError as error:
        if labels and error.field in labels:
            raise error.renamed(labels[error.field]) from None
        raise


def _default_kinds(endpoint: str | None, ids_narrowed: bool, glue_scoped: bool) -> frozenset[JobKindName]:
    """The kinds a policy sweeps when none are named: the Neptune job kinds when an endpoint is
    given (never the opt-in inference endpoints), the Glue kind when transforms are."""
    chosen = set(NEPTUNE_KINDS - OPT_IN_KINDS) if endpoint else set()
    if ids_narrowed:
        # Load ids are Neptune's, so a prefix cannot scope loads: left to a default, a
        # prefix-scoped policy must not cancel every load on a cluster that other stacks may
        # share. Name neptune-loader in kinds to include them.
        chosen.discard(JobKindName.NEPTUNE_LOADER)
    if glue_scoped:
        chosen.add(JobKindName.GLUE_ML_TASK_RUN)
    if not chosen:
        raise ConfigError("neptune_endpoint", "nothing to sweep: give a Neptune endpoint and/or Glue transforms")
    return frozenset(chosen)


def _age(name: str, value: object) -> timedelta | None:
    """An age limit, or None when not given; a given but blank value is an error naming it."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        raise ConfigError(name, _BLANK)
    return parse_duration(name, value)


def _glue_scope(ids: object, name_prefix: object, tags: object) -> tuple[tuple[str, ...], str | None, dict[str, str]]:
    """The Glue transform scope: ids, a name prefix and tags; each given but blank is an error."""
    transform_ids = _scope_list(ids, "glue_transform_ids")
    prefix = _scope_text(name_prefix, "glue_transform_name_prefix")
    parsed_tags = parse_tags("glue_transform_tags", tags)
    if tags is not None and not parsed_tags:
        raise ConfigError("glue_transform_tags", _BLANK)
    return transform_ids, prefix, parsed_tags
