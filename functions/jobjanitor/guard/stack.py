"""Why CloudFormation sent a Delete: only a stack, or a guarded target, that is going away gets swept.

CloudFormation deletes a custom resource in several situations, and only some of them mean
"what the guard protects is being torn down":

- ``DELETE_IN_PROGRESS``: the stack is being deleted. Sweep.
- ``ROLLBACK_IN_PROGRESS``: a failed stack Create is rolling back; every resource goes. Sweep.
- ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS``: cleanup after an Update (a replaced guard's old id,
  or the guard removed from the template); ``UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS``: the
  cleanup of a failed Update's rollback (what it had added goes). CloudFormation invokes no hook
  on a cleanup, so the guard is the only one that can stop jobs on a target this cleanup
  deletes: if the cleanup also removes the guarded Neptune cluster or Glue transforms from the
  stack (they are among the stack's resources, ``ListStackResources``, but no longer in its
  template, ``GetTemplate``), sweep the jobs on those targets, and only those. Otherwise cancel
  nothing.
- ``UPDATE_ROLLBACK_IN_PROGRESS``: a failed Update rolling back. Cancel nothing.
- any other status: not a teardown. Cancel nothing.
- unreadable: a read failed with an error no retry changes, or throttling, 5xx and dropped
  connections went on for the whole time this request allows for reading (:func:`read_budget`;
  botocore's own retries inside each call, ours around them, all bounded by that deadline). The
  case cannot be told: cancel nothing, and say so (Reason, log, metric ``GuardStackUnreadable``;
  FAILED with ``FailOnError``).

In every case but a teardown the stack, and the jobs it runs, stay: cancelling them would stop
live work (and with ``Clean`` delete its artifacts).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.endpoints import safe_summary
from jobjanitor.guard.config import GuardConfig
from jobjanitor.kinds.base import error_text
from jobjanitor.model import JobKindName
from jobjanitor.observability import metrics
from jobjanitor.policy import NEPTUNE_KINDS, Policy

__all__ = [
    "CLEANUP_STATUSES",
    "SWEEP_STATUSES",
    "DeleteCase",
    "Removed",
    "delete_case",
    "read_budget",
    "template_resource_ids",
]

log = logging.getLogger("jobjanitor.guard")

SWEEP_STATUSES = frozenset({"DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})
CLEANUP_STATUSES = frozenset({"UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"})
NEPTUNE_CLUSTER = "AWS::Neptune::DBCluster"
GLUE_TRANSFORM = "AWS::Glue::MLTransform"
# The stack reads may use the request's time but this much of it (half, at most 60 s), which is
# kept for the cancels a teardown then sends.
SWEEP_RESERVE_SECONDS = 60.0
# Our retries around botocore's: jittered back-off from this, doubling up to the cap.
FIRST_RETRY_S = 0.2
MAX_RETRY_S = 5.0
# Answers no retry changes are not retried; these (and 5xx, 429, dropped connections) are.
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
     "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "PriorRequestNotComplete"}
)  # fmt: skip
_TRANSIENT = frozenset({"RequestTimeout", "RequestTimeoutException", "InternalFailure", "ServiceUnavailable"})
DATA_REMOVED = "RemovedWithGuard"
_REGION = re.compile(r"^arn:aws[a-z-]*:cloudformation:([a-z0-9-]+):")
_YAML_RESOURCES = re.compile(r"^Resources\s*:\s*(?:#.*)?$")
_YAML_KEY = re.compile(r"""^( +)(["']?)([A-Za-z0-9]+)\2\s*:(?:\s|$)""")


@dataclass(frozen=True, slots=True)
class Removed:
    """The guarded targets an update's cleanup removes from the stack: the Neptune cluster (its
    DBClusterIdentifier) and the Glue transform ids."""

    cluster: str | None = None
    transforms: tuple[str, ...] = ()

    def narrow(self, config: GuardConfig) -> GuardConfig:
        """``config`` with only the jobs on these targets in scope (a cluster that stays keeps
        its jobs, and so does a transform that stays)."""
        policy: Policy = config.policy
        kinds = set(policy.kinds)
        if self.cluster is None:
            kinds -= NEPTUNE_KINDS
        if not self.transforms:
            kinds.discard(JobKindName.GLUE_ML_TASK_RUN)
        narrowed = replace(policy, kinds=frozenset(kinds), glue_transform_ids=self.transforms)
        return replace(config, policy=narrowed)

    def data(self) -> dict[str, str]:
        """For the answer's Data (and a polling tick, which narrows the same way)."""
        return {DATA_REMOVED: json.dumps({"cluster": self.cluster, "transforms": list(self.transforms)})}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Removed | None:
        raw = data.get(DATA_REMOVED)
        if not isinstance(raw, str):
            return None
        parsed = json.loads(raw)
        return cls(parsed.get("cluster"), tuple(parsed.get("transforms") or ()))


@dataclass(frozen=True, slots=True)
class DeleteCase:
    """``sweep``: the stack, or (``removed``) some guarded targets, are being torn down.
    ``status``: what DescribeStacks said; ``error``: what could not be read (then ``sweep`` is
    False)."""

    sweep: bool
    status: str | None
    error: str | None = None
    removed: Removed | None = None

    @property
    def reason(self) -> str:
        """The answer's Reason when the case could not be read."""
        if self.status is None:
            return (
                f"cancelled nothing: could not read the stack's status ({self.error}), so a stack deletion "
                "cannot be told from an update's cleanup"
            )
        return (
            f"cancelled nothing: could not tell whether this {self.status} also removes the guarded cluster "
            f"or transforms ({self.error})"
        )

    @property
    def skipped(self) -> str:
        return "stack status unknown" if self.status is None else "cleanup targets unknown"


class Unreadable(Exception):
    """A stack read that failed for good (its message names the call and why)."""


def stack_region(stack_id: str) -> str | None:
    match = _REGION.match(stack_id)
    return match.group(1) if match else None


def cloudformation_client(stack_id: str) -> Any:
    """A CloudFormation client in the stack's region, built like the guard's other bookkeeping
    clients: few attempts, short timeouts, every attempt bounded by the time left."""
    from jobjanitor.clients import aws_client  # noqa: PLC0415

    return aws_client("cloudformation", region_name=stack_region(stack_id))


def read_budget(seconds: float) -> float:
    """Of ``seconds`` the request has, what the stack reads may use (the rest is for cancels)."""
    return max(0.0, seconds - min(SWEEP_RESERVE_SECONDS, seconds / 2))


def delete_case(
    cfn: Any,
    stack_id: str,
    policy: Policy,
    *,
    deadline: Deadline,
    cluster_identifier: Callable[[], str],
    sleep: Callable[[float], None] = time.sleep,
) -> DeleteCase:
    """Read the stack's status (``DescribeStacks``) and, in a cleanup, whether it removes a
    guarded target; decide. Every read is retried until ``deadline`` (see the module notes).
    ``cluster_identifier``: the guarded cluster's DBClusterIdentifier (asked only when the
    cleanup removes a Neptune cluster)."""
    status: str | None = None
    stack = _Stack(cfn, stack_id, deadline, sleep)
    try:
        found = stack.read("DescribeStacks", lambda: cfn.describe_stacks(StackName=stack_id)).get("Stacks") or []
        if not found:
            raise Unreadable("DescribeStacks returned no stack")
        status = str(found[0].get("StackStatus") or "")
        if status in SWEEP_STATUSES:
            return DeleteCase(True, status)
        if status not in CLEANUP_STATUSES:
            return DeleteCase(False, status)
        removed = _removed_targets(stack, policy, cluster_identifier)
    except Unreadable as error:
        metrics.add_metric(name="GuardStackUnreadable", unit="Count", value=1)
        log.error("could not read the stack: cancelled nothing", extra={"status": status, "error": str(error)})
        return DeleteCase(False, status, str(error))
    if removed is None:
        return DeleteCase(False, status)
    log.warning("this cleanup removes guarded targets: sweeping their jobs", extra={"removed": removed.data()})
    return DeleteCase(True, status, removed=removed)


@dataclass(frozen=True, slots=True)
class _Stack:
    cfn: Any
    stack_id: str
    deadline: Deadline
    sleep: Callable[[float], None]

    def read[T](self, what: str, call: Callable[[], T]) -> T:
        return _read(what, call, self.deadline, self.sleep)


def _removed_targets(stack: _Stack, policy: Policy, cluster_identifier: Callable[[], str]) -> Removed | None:
    """The guarded targets among the stack's resources that its (new) template no longer has."""
    wanted = {NEPTUNE_CLUSTER} if policy.kinds & NEPTUNE_KINDS else set()
    if JobKindName.GLUE_ML_TASK_RUN in policy.kinds:
        wanted.add(GLUE_TRANSFORM)
    if not wanted:
        return None
    resources = stack.read("ListStackResources", lambda: _stack_resources(stack.cfn, stack.stack_id))
    candidates = [r for r in resources if r.get("ResourceType") in wanted and r.get("LogicalResourceId")]
    if not candidates:
        return None  # the guarded targets are not this stack's: nothing of them goes here
    body = stack.read("GetTemplate", lambda: stack.cfn.get_template(StackName=stack.stack_id).get("TemplateBody"))
    kept = template_resource_ids(body)
    if kept is None:
        raise Unreadable("GetTemplate: the template's Resources could not be read")
    leaving = [r for r in candidates if r["LogicalResourceId"] not in kept]
    transforms = tuple(
        sorted(
            str(r["PhysicalResourceId"])
            for r in leaving
            if r["ResourceType"] == GLUE_TRANSFORM and r.get("PhysicalResourceId") in policy.glue_transform_ids
        )
    )
    # Cluster identifiers fold case (Neptune keeps them in lower case); transform ids do not.
    clusters = {
        str(r.get("PhysicalResourceId") or "").casefold() for r in leaving if r["ResourceType"] == NEPTUNE_CLUSTER
    }
    cluster = None
    if clusters - {""}:
        try:
            identifier = cluster_identifier()
        except Exception as error:  # the guard's cluster cannot be named: it cannot be compared either
            raise Unreadable(f"NeptuneEndpoint's cluster: {safe_summary(error_text(error), 120)}") from error
        cluster = identifier if identifier.casefold() in clusters else None
    if cluster is None and not transforms:
        return None
    return Removed(cluster, transforms)


def _stack_resources(cfn: Any, stack_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
        out.extend(page.get("StackResourceSummaries") or [])
    return [r for r in out if r.get("ResourceStatus") != "DELETE_COMPLETE"]


def _read[T](what: str, call: Callable[[], T], deadline: Deadline, sleep: Callable[[float], None]) -> T:
    """``call()``, retried while it fails transiently (throttled, 5xx, a dropped connection) and
    ``deadline`` allows; every attempt (and botocore's retries inside it) bounded by it."""
    started, attempts, delay = time.monotonic(), 0, FIRST_RETRY_S
    while True:
        outer = CURRENT_DEADLINE.get()
        token = CURRENT_DEADLINE.set(deadline if outer is None else deadline.earlier(outer))
        try:
            attempts += 1
            return call()
        except (ClientError, BotoCoreError) as error:
            how = _transient(error)
            summary = safe_summary(error_text(error), 100)
            if how is None:
                raise Unreadable(f"{what}: {summary}") from error
            # The last try comes just before the deadline: the pause never runs past it.
            pause = min(random.uniform(delay / 2, delay), deadline.remaining() - FIRST_RETRY_S)  # noqa: S311 - jitter
            if pause <= 0:
                spent = time.monotonic() - started
                raise Unreadable(
                    f"{what} {how} for {spent:.0f} s, {attempts} tries, all the time this request allows: {summary}"
                ) from error
            log.warning("stack read failed, retrying", extra={"call": what, "error": summary})
        finally:
            CURRENT_DEADLINE.reset(token)
        sleep(pause)
        delay = min(delay * 2, MAX_RETRY_S)


def _transient(error: Exception) -> str | None:
    """How a retry might help (``throttled``, ``unavailable``, ``unreachable``), or None."""
    if isinstance(error, BotoCoreError):
        # What botocore's standard mode retries: connection errors and read timeouts.
        return "unreachable" if isinstance(error, BotoConnectionError | HTTPClientError) else None
    response: Mapping[str, Any] = error.response if isinstance(error, ClientError) else {}
    code = str(response.get("Error", {}).get("Code") or "")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _THROTTLED or status == 429:
        return "throttled"
    if code in _TRANSIENT or status >= 500:
        return "unavailable"
    return None


def template_resource_ids(body: object) -> frozenset[str] | None:
    """The logical ids under the template's ``Resources``: from the JSON botocore decodes, or
    from a YAML text's block mapping (logical ids are letters and digits). None when the
    template is not in a form read here (then nothing is decided on it)."""
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except ValueError:
            return _yaml_resource_ids(text.splitlines())
    if isinstance(body, Mapping) and isinstance(body.get("Resources"), Mapping):
        return frozenset(str(k) for k in body["Resources"])
    return None


def _yaml_resource_ids(lines: Iterable[str]) -> frozenset[str] | None:
    ids: set[str] = set()
    inside, indent = False, 0
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        if not line.startswith(" "):
            if inside:
                break  # the next top-level key
            inside = bool(_YAML_RESOURCES.match(line.rstrip()))
            continue
        if not inside:
            continue
        width = len(line) - len(line.lstrip(" "))
        indent = indent or width
        if width < indent:
            return None  # not a block mapping of logical ids: not read here
        if width == indent:
            match = _YAML_KEY.match(line)
            if match is None:
                return None  # not a block mapping of logical ids: not read here
            ids.add(match.group(3))
    return frozenset(ids) if ids else None
