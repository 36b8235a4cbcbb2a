"""What the guard does for each request: decisions that return the answer as a value.

The protocol (:mod:`jobjanitor.protocol.custom_resource`) calls these and answers
CloudFormation with what they return: :class:`Done`, :class:`Failed`, or :class:`Pending`
to keep waiting in polling ticks.

- Create/Update: validate the properties, run a read-only preflight (on by default) so a
  misconfigured guard fails now, not silently at teardown, warn when the job-id prefix
  overlaps another guard's on the endpoint (:mod:`jobjanitor.guard.prefixes`), and return a
  stable physical id (stack and logical id only: an Update is never a replacement).
- Delete: if the id is not one this guard created (a Delete after a failed Create, or a
  foreign id) or the properties are invalid, answer SUCCESS at once. If the stack is not
  being torn down (an Update's cleanup or rollback, the guard removed from the template:
  :mod:`jobjanitor.guard.stack`), cancel nothing, unless the cleanup also removes guarded
  targets (then only their jobs are in scope). Otherwise cancel the jobs in scope exactly once per
  StackId+RequestId (Powertools idempotency on DynamoDB around the cancel step only), wait
  until they have stopped, and answer. A wait longer than this invocation can hold is
  handed to EventBridge polling (:mod:`jobjanitor.protocol.polling`); each tick rediscovers
  the scope and waits a bounded slice, and the overall MaxWaitSeconds deadline ends it either
  way. With ``DryRun`` the teardown only reports what it would cancel (a dry-run sweep) and
  answers SUCCESS: nothing is cancelled or waited for.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor import engine
from jobjanitor.clients import ClientCache
from jobjanitor.clusters import ClusterRegistry
from jobjanitor.deadline import Deadline
from jobjanitor.endpoints import safe_summary
from jobjanitor.engine import Mode
from jobjanitor.errors import ConfigError
from jobjanitor.guard.answers import dry_run_answer, not_a_teardown, report_data, verdict, wait_data
from jobjanitor.guard.config import GuardConfig, created_by_this_guard, physical_id
from jobjanitor.guard.prefixes import GuardPrefixes
from jobjanitor.guard.stack import DeleteCase, Removed, cloudformation_client, delete_case, read_budget
from jobjanitor.observability import publish_missing_clusters
from jobjanitor.policy import NEPTUNE_KINDS, Policy
from jobjanitor.protocol.custom_resource import (
    Done,
    Failure,
    Invocation,
    Outcome,
    Pending,
    Request,
)
from jobjanitor.report import Report
from jobjanitor.store.requests import RequestStore

log = logging.getLogger("jobjanitor.guard")

ProgressSink = Callable[[Any], None]
ReportSink = Callable[[Report], None]

# Preflight must be quick: it runs inside Create/Update.
PREFLIGHT_SECONDS = 60.0
# A polling tick waits at most this long, so ticks (every minute at the least) never overlap.
POLL_TICK_SECONDS = 45.0
# Hand over to polling only when there is time left to make a tick worth it.
MIN_HANDOVER_SECONDS = 30.0
DATA_DEADLINE = "DeadlineEpoch"
# List properties are bounded at Create/Update: the request is kept in a DynamoDB item
# (400 KB at most) for the polling ticks, and a guard's scope is a stack's own jobs.
LIST_BOUNDS = {"JobIds": 1000, "GlueTransformIds": 100}
MAX_LIST_ITEM_CHARS = 256


class GuardError(Failure):
    """A failure to report in Reason (kept short; it names what failed first)."""


class Guard:
    def __init__(
        self,
        *,
        cancel_once: Callable[[Mapping[str, Any], Policy, Deadline], Report] | None = None,
        progress: ProgressSink | None = None,
        on_report: ReportSink | None = None,
        poll_tick_seconds: float = POLL_TICK_SECONDS,
        clients: ClientCache | None = None,
        requests: RequestStore | None = None,
        clusters: ClusterRegistry | None = None,
    ) -> None:
        self._requests = requests
        self.table_faults = 0
        self._clients = clients or ClientCache()
        # The Neptune clusters this install serves (JOBJANITOR_NEPTUNE_CLUSTERS): the only
        # endpoints the guard accepts.
        self._clusters = clusters or ClusterRegistry.from_env()
        self._cancel_once = cancel_once or self._cancel_without_idempotency
        self._progress = progress
        self._on_report = on_report
        self._poll_tick_seconds = poll_tick_seconds
        self._cfn: Any = None  # CloudFormation client (DescribeStacks), built on the first Delete
        self._prefixes = GuardPrefixes(idempotency_table(), self._clusters)  # other guards' prefixes, on first use

    # -- Create / Update ------------------------------------------------------------------
    def on_create(self, request: Request, invocation: Invocation) -> Outcome:
        config = self._config(request, bounded=True)
        outstanding = self._preflight(config, invocation)  # first: a failed preflight records no prefix
        data, reason = self._prefixes.check(config.policy, _owner(request.event))
        return Done(physical_id(request.event), {**outstanding, **data}, reason)

    def on_update(self, request: Request, invocation: Invocation) -> Outcome:
        config = self._config(request, bounded=True)
        outstanding = self._preflight(config, invocation)
        new_id = physical_id(request.event)
        old_id = request.physical_resource_id or ""
        if new_id != old_id:
            # A guard created before ids were stable: this one replacement moves it to the
            # stable id. The Delete CloudFormation sends for the old id arrives while the stack
            # is UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, and cancels nothing (see on_delete).
            log.warning("moving the guard to its stable id", extra={"old_id": old_id, "new_id": new_id})
        data, reason = self._prefixes.check(config.policy, _owner(request.event))
        return Done(new_id, {**outstanding, **data}, reason)

    def _config(self, request: Request, *, bounded: bool = False) -> GuardConfig:
        props = request.properties
        if bounded:
            check_list_bounds(props)
        config = GuardConfig.from_properties(props)
        return at_writer(config, self._clusters)

    def _preflight(self, config: GuardConfig, invocation: Invocation) -> dict[str, str]:
        """The outstanding jobs in scope (Data.Outstanding); GuardError if they cannot be listed."""
        if not config.preflight:
            return {}
        seconds = min(PREFLIGHT_SECONDS, invocation.work_seconds())
        policy = config.policy
        report = engine.plan(policy, deadline=Deadline.after(seconds), clients=self._clients.for_policy(policy))
        if report.errors:
            raise GuardError(f"Preflight failed: {safe_summary(report.errors[0])}")
        return {"Outstanding": str(sum(1 for r in report.results if r.outstanding))}

    # -- Delete -----------------------------------------------------------------------------
    def on_delete(self, request: Request, invocation: Invocation) -> Outcome:
        pid = request.physical_resource_id or ""
        try:
            config = GuardConfig.from_properties(request.properties)
        except ConfigError:
            config = None
        if config is None or not created_by_this_guard(request.event, config):
            # A Delete after a failed Create (its marker id), an id this guard never created,
            # or properties that are not valid (a blank scope never means "everything"):
            # there is nothing of ours to stop. Touch no job.
            log.info("delete of a resource this guard did not create: nothing to do", extra={"physical_id": pid})
            return Done(pid, {"Skipped": "not created by this guard"})
        case = self._delete_case(request, config, invocation)
        if not case.sweep:
            if case.error is None and pid == physical_id(request.event):
                # The current guard is going while its stack stays (removed from the template, or
                # an Update that added it rolling back): its prefix is no longer in use. (A
                # legacy id's cleanup keeps the entry: the same guard lives on under the new id.)
                self._prefixes.forget(config.policy, _owner(request.event))
            return not_a_teardown(case, config, pid)
        if case.removed is None or pid == physical_id(request.event):  # (a legacy id's guard lives on)
            self._prefixes.forget(config.policy, _owner(request.event))
        removed = case.removed.data() if case.removed else {}
        if case.removed:  # an update's cleanup that also removes guarded targets: their jobs only
            config = case.removed.narrow(config)
        # A cluster removed from the install since Create, or one that no longer exists: nothing
        # here may touch it (its grant is gone too) or can (it is gone); the answer says so,
        # SUCCESS or FAILED as FailOnError asks.
        config = at_writer(config, self._clusters)
        return self._sweep(request, config, invocation, removed)

    def _sweep(self, request: Request, config: GuardConfig, invocation: Invocation, removed: dict[str, str]) -> Outcome:
        """Cancel the jobs in scope once per request, wait, and answer, or hand the wait over.
        ``removed``: Data naming the targets an update's cleanup removes (the scope's narrowing)."""
        pid = request.physical_resource_id or ""
        overall_deadline = self._overall_deadline(request, config)
        budget = min(overall_deadline - time.time(), invocation.work_seconds())
        deadline = Deadline.after(max(0.0, budget))
        cancelled = self._cancel_once(request.event, config.policy, deadline)
        if config.policy.dry_run:
            self._report(cancelled)
            return dry_run_answer(cancelled, pid)
        clients = self._clients.for_policy(config.policy)
        report = engine.wait_for(cancelled, config.policy, deadline=deadline, clients=clients, progress=self._progress)
        data = {**report_data(report), **removed}
        left = overall_deadline - time.time()
        if report.still_running and left > MIN_HANDOVER_SECONDS and invocation.can_poll:
            # Not the verdict yet: jobs still stopping now are not "still stopping at the deadline".
            self._report(replace(report, waited=False))
            log.info("jobs still stopping: handing over to polling", extra={"still_running": len(report.still_running)})
            carried = {**data, DATA_DEADLINE: str(int(overall_deadline))}
            return Pending(pid, carried, fallback=verdict(report, config, pid, data))
        self._report(report)
        return verdict(report, config, pid, data)

    def _overall_deadline(self, request: Request, config: GuardConfig) -> float:
        """Epoch seconds: MaxWaitSeconds from the FIRST delivery of this request."""
        if self._requests is not None:
            try:
                return self._requests.deadline(request.event, config.max_wait_seconds)
            except (ClientError, BotoCoreError) as exc:
                self.table_faults += 1
                log.error("request table unavailable: the deadline runs from this delivery: %s", exc)
        return time.time() + config.max_wait_seconds

    def _delete_case(self, request: Request, config: GuardConfig, invocation: Invocation) -> DeleteCase:
        """guard.stack decides, its reads retried within the time this request allows."""
        stack_id = request.stack_id
        if self._cfn is None:
            self._cfn = cloudformation_client(stack_id)
        seconds = min(config.max_wait_seconds, invocation.work_seconds())
        endpoint = config.policy.neptune_endpoint or ""
        return delete_case(
            self._cfn,
            stack_id,
            config.policy,
            deadline=Deadline.after(read_budget(seconds)),
            cluster_identifier=lambda: self._clusters.require(endpoint, field="NeptuneEndpoint").identifier,
        )

    def on_poll_delete(self, request: Request, invocation: Invocation) -> Outcome:
        """A polling tick: wait a bounded slice for the scope to stop, then answer or go on."""
        pid = request.physical_resource_id or ""
        config = self._config(request)
        carried = dict(request.carried or {})
        removed = Removed.from_data(carried)
        if removed:  # the first invocation swept only the targets the cleanup removes
            config = removed.narrow(config)
        overall_deadline = float(carried.pop(DATA_DEADLINE, 0))
        budget = min(overall_deadline - time.time(), invocation.work_seconds(), self._poll_tick_seconds)
        report = engine.sweep(
            config.policy,
            mode=Mode.WATCH,
            deadline=Deadline.after(max(0.0, budget)),
            clients=self._clients.for_policy(config.policy),
            progress=self._progress,
        )
        # The cancel counts come from the first invocation; what is still running now comes
        # from this tick.
        data = {**carried, **wait_data(report)}
        if report.still_running and time.time() < overall_deadline:
            log.info("still stopping; next tick", extra={"still_running": len(report.still_running)})
            return Pending(pid, request.carried or {}, fallback=verdict(report, config, pid, data))
        self._report(report)
        return verdict(report, config, pid, data)

    def _cancel_without_idempotency(self, event: Mapping[str, Any], policy: Policy, deadline: Deadline) -> Report:
        return engine.sweep(
            policy, wait=False, deadline=deadline, clients=self._clients.for_policy(policy), progress=self._progress
        )

    def _report(self, report: Report) -> None:
        if self._on_report is not None:
            self._on_report(report)


def at_writer(config: GuardConfig, clusters: ClusterRegistry) -> GuardConfig:
    """ConfigError (naming NeptuneEndpoint) unless the endpoint is one of a configured
    cluster's: the guard touches only clusters its install is granted. Returns ``config`` with
    the policy at that cluster's writer endpoint, whichever of its endpoints (reader, instance)
    was given: readers refuse cancels. Configured clusters that no longer exist are reported
    (log, ClustersMissing) and skipped; :class:`~jobjanitor.clusters.ClusterGone` says when
    this guard's endpoint may be one of theirs."""
    policy = config.policy
    if not policy.neptune_endpoint or not policy.kinds & NEPTUNE_KINDS:
        return config
    try:
        writer = clusters.require(policy.neptune_endpoint, field="NeptuneEndpoint").data_endpoint()
    finally:
        publish_missing_clusters(clusters.missing, source="guard")
    if writer != policy.neptune_endpoint:
        log.info("jobs are listed and cancelled at the cluster's writer endpoint", extra={"writer": writer})
    return replace(config, policy=replace(policy, neptune_endpoint=writer))


def check_list_bounds(props: object) -> None:
    """List properties past their bound fail Create/Update naming the property (a Delete of an
    older guard is still served: the bound protects new configurations)."""
    if not isinstance(props, Mapping):
        return  # GuardConfig names ResourceProperties
    for name, bound in LIST_BOUNDS.items():
        value = props.get(name)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            continue  # GuardConfig reports the wrong type
        if len(items) > bound:
            raise ConfigError(name, f"at most {bound} entries, got {len(items)}")
        long = next((str(i) for i in items if len(str(i)) > MAX_LIST_ITEM_CHARS), None)
        if long is not None:
            raise ConfigError(name, f"entries must be at most {MAX_LIST_ITEM_CHARS} characters, got {len(long)}")


def _owner(event: Mapping[str, Any]) -> str:
    """A guard's key in the prefix registry: its stack and logical id."""
    return f"{event.get('StackId')}|{event.get('LogicalResourceId')}"


def idempotency_table() -> str | None:
    return os.environ.get("IDEMPOTENCY_TABLE_NAME") or None
