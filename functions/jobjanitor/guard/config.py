"""The guard's ResourceProperties, validated once into a typed :class:`GuardConfig`.

CloudFormation sends every property value as a string ("true", "900") or a list of
strings. Unknown or invalid properties fail Create/Update with a Reason naming the
property, before anything runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobjanitor.config import parse_bool, parse_int
from jobjanitor.errors import ConfigError
from jobjanitor.policy import Policy

# Property -> the Policy field it feeds (None: the guard's own setting).
PROPERTIES: dict[str, str | None] = {
    "NeptuneEndpoint": "neptune_endpoint",
    "NeptuneIamRoleArn": "neptune_iam_role_arn",
    "Kinds": "kinds",
    "JobIdPrefix": "job_id_prefix",
    "JobIds": "job_ids",
    "GlueTransformIds": "glue_transform_ids",
    "GlueRegion": "glue_region",
    "Clean": "clean",
    "MaxWaitSeconds": "max_wait",
    "FailOnError": None,
    "Preflight": None,
    "Concurrency": "concurrency",
    "DryRun": "dry_run",
}
# Sent by CloudFormation itself, not settings of ours.
PASS_THROUGH = frozenset({"ServiceToken", "ServiceTimeout"})
LABELS = {field: prop for prop, field in PROPERTIES.items() if field}

DEFAULT_MAX_WAIT_SECONDS = 900
# CloudFormation waits at most 3,600 s (ServiceTimeout's maximum) for an answer; the guard
# needs a margin after its own deadline to answer.
ANSWER_MARGIN_SECONDS = 60
MAX_WAIT_LIMIT_SECONDS = 3600 - ANSWER_MARGIN_SECONDS


@dataclass(frozen=True, slots=True)
class GuardConfig:
    policy: Policy
    max_wait_seconds: int
    fail_on_error: bool
    preflight: bool

    @classmethod
    def from_properties(cls, props: object) -> GuardConfig:
        if not isinstance(props, Mapping):
            raise ConfigError("ResourceProperties", "must be an object")
        unknown = sorted(str(k) for k in props if k not in PROPERTIES and k not in PASS_THROUGH)
        if unknown:
            allowed = ", ".join(sorted(PROPERTIES))
            raise ConfigError(unknown[0], f"unknown property (allowed: {allowed})")
        limit = MAX_WAIT_LIMIT_SECONDS
        if "ServiceTimeout" in props:
            service_timeout = parse_int("ServiceTimeout", props["ServiceTimeout"], 1, 3600)
            limit = min(limit, service_timeout - ANSWER_MARGIN_SECONDS)
            if limit < 1:
                raise ConfigError("ServiceTimeout", f"must be over {ANSWER_MARGIN_SECONDS} s so the guard can answer")
        if "DryRun" in props and isinstance(props["DryRun"], str) and not props["DryRun"].strip():
            # A preview switch left blank must not quietly mean "cancel for real".
            raise ConfigError("DryRun", 'is blank: give "true" (report only) or "false"')
        max_wait = parse_int("MaxWaitSeconds", props.get("MaxWaitSeconds", DEFAULT_MAX_WAIT_SECONDS), 1, limit)
        policy = Policy.build(
            kinds=props.get("Kinds"),
            neptune_endpoint=props.get("NeptuneEndpoint"),
            neptune_iam_role_arn=props.get("NeptuneIamRoleArn"),
            glue_region=props.get("GlueRegion"),
            glue_transform_ids=props.get("GlueTransformIds"),
            job_id_prefix=props.get("JobIdPrefix"),
            job_ids=props.get("JobIds"),
            clean=props.get("Clean", "false"),
            dry_run=props.get("DryRun", "false"),
            max_wait=max_wait,
            concurrency=props.get("Concurrency", "16"),
            labels=LABELS,
        )
        return cls(
            policy=policy,
            max_wait_seconds=max_wait,
            fail_on_error=parse_bool("FailOnError", props.get("FailOnError", "false")),
            preflight=parse_bool("Preflight", props.get("Preflight", "true")),
        )


def fail_on_error_of(props: object) -> bool:
    """FailOnError as far as it can be read, for answering even when other properties are bad."""
    if isinstance(props, Mapping):
        try:
            return parse_bool("FailOnError", props.get("FailOnError", "false"))
        except ConfigError:
            return False
    return False


def physical_id(event: Mapping[str, Any]) -> str:
    """The guard's id: its stack and logical id, nothing else.

    It does not change with the targets the guard protects: a new physical id on Update is a
    replacement, and CloudFormation then sends a Delete for the old id (with the old
    properties) while the stack lives on. An id that followed the targets turned an Update
    that only added a Glue transform, or spelled out GlueRegion, into a sweep of the live
    stack. Updates now update in place, and a Delete sweeps only a stack that is being torn
    down (see :mod:`jobjanitor.guard.stack`).
    """
    identity = f"{event.get('StackId')}|{event.get('LogicalResourceId')}"
    return "jobjanitor-guard-" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def legacy_physical_id(event: Mapping[str, Any], config: GuardConfig) -> str:
    """The id guards created before the stable id carry (a hash that included the targets).
    Still recognised on Delete, so a stack created with an older guard is swept when deleted;
    its first Update moves it to :func:`physical_id`."""
    policy = config.policy
    identity = "|".join(
        [
            str(event.get("StackId")),
            str(event.get("LogicalResourceId")),
            policy.neptune_endpoint or "",
            ",".join(sorted(policy.glue_transform_ids)),
            policy.glue_region or "",
        ]
    )
    return "jobjanitor-guard-" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def created_by_this_guard(event: Mapping[str, Any], config: GuardConfig) -> bool:
    """The Delete's id is one this guard answered a Create or Update with."""
    pid = str(event.get("PhysicalResourceId") or "")
    return pid in (physical_id(event), legacy_physical_id(event, config))
