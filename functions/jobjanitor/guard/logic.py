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
from jobjanitor.errors import ConfigError
from jobjanitor.guard.config import GuardConfig, created_by_this_guard, physical_id
from jobjanitor.guard.prefixes import EVERY_ID, PrefixRegistry
from jobjanitor.guard.requests import RequestStore
from jobjanitor.guard.stack import DeleteCase, Removed, cloudformation_client, delete_case, read_budget
from jobjanitor.model import JobKindName
from jobjanitor.model import Outcome as JobOutcome
from jobjanitor.policy import NEPTUNE_KINDS, Policy
from jobjanitor.protocol.custom_resource import (
    Done,
    Failed,
    Failure,
    Handlers,
    Invocation,
    Outcome,
    Pending,
    Request,
    RequestType,
)
from jobjanitor.report import Report

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

ML_KINDS = frozenset(k for k in JobKindName if k.is_neptune and k is not JobKindName.NEPTUNE_LOADER)


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
        self._registry: PrefixRegistry | None = None  # other guards' prefixes, built on first use

    def handlers(self) -> Handlers:
        """What the protocol calls for each request type (only a Delete waits in polling)."""
        return Handlers(
            create=self.on_create,
            update=self.on_update,
            delete=self.on_delete,
            poll={RequestType.DELETE: self.on_poll_delete},
        )

    # -- Create / Update ------------------------------------------------------------------
    def on_create(self, request: Request, invocation: Invocation) -> Outcome:
        config = self._config(request, bounded=True)
        data = self._preflight(config, invocation)
        return self._checked_prefix(request, config, Done(physical_id(request.event), data))

    def on_update(self, request: Request, invocation: Invocation) -> Outcome:
        config = self._config(request, bounded=True)
        data = self._preflight(config, invocation)
        new_id = physical_id(request.event)
        old_id = request.physical_resource_id or ""
        if new_id != old_id:
            # A guard created before ids were stable: this one replacement moves it to the
            # stable id. The Delete CloudFormation sends for the old id arrives while the stack
            # is UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, and cancels nothing (see on_delete).
            log.warning("moving the guard to its stable id", extra={"old_id": old_id, "new_id": new_id})
        return self._checked_prefix(request, config, Done(new_id, data))

    def _config(self, request: Request, *, bounded: bool = False) -> GuardConfig:
        props = request.properties
        if bounded:
            check_list_bounds(props)
        config = GuardConfig.from_properties(props)
        self._require_configured_cluster(config.policy)
        return config

    def _require_configured_cluster(self, policy: Policy) -> None:
        """ConfigError (naming NeptuneEndpoint) unless the endpoint is one of a configured
        cluster's: the guard touches only clusters its install is granted."""
        if policy.neptune_endpoint and policy.kinds & NEPTUNE_KINDS:
            self._clusters.require(policy.neptune_endpoint, field="NeptuneEndpoint")

    def _prefix_registry(self) -> PrefixRegistry | None:
        table = idempotency_table()
        if table is None:
            return None
        if self._registry is None:
            import boto3  # noqa: PLC0415 - lazy: cold start

            from jobjanitor.clients import bounded_by_deadline, plumbing_config  # noqa: PLC0415

            client = bounded_by_deadline(boto3.client("dynamodb", config=plumbing_config()))
            self._registry = PrefixRegistry(table, client)
        return self._registry

    def _checked_prefix(self, request: Request, config: GuardConfig, done: Done) -> Done:
        """``done`` with a warning in Reason and Data when this guard's prefix overlaps another
        guard's (guard.prefixes), or with ``PrefixCheck`` when the check could not be made."""
        policy = config.policy
        registry = self._prefix_registry()
        if registry is None or not policy.neptune_endpoint or policy.job_ids or not policy.kinds & ML_KINDS:
            return done
        prefix = policy.job_id_prefix or EVERY_ID
        warning, problem = registry.check_and_record(policy.neptune_endpoint, _owner(request.event), prefix)
        data = dict(done.data)
        reason = done.reason
        if warning:
            log.warning("job-id prefix overlaps another guard's", extra={"warning": warning})
            data["Warning"] = warning[:400]
            reason = warning
        if problem:
            data["PrefixCheck"] = f"unavailable: {problem}"
        return Done(done.physical_id, data, reason)

    def _forget_prefix(self, request: Request, config: GuardConfig) -> None:
        registry = self._prefix_registry()
        if registry is not None and config.policy.neptune_endpoint:
            registry.forget_quietly(config.policy.neptune_endpoint, _owner(request.event))

    def _preflight(self, config: GuardConfig, invocation: Invocation) -> dict[str, str]:
        """The outstanding jobs in scope (Data.Outstanding); GuardError if they cannot be listed."""
        if not config.preflight:
            return {}
        seconds = min(PREFLIGHT_SECONDS, invocation.work_seconds())
        policy = config.policy
        report = engine.list_jobs(policy, deadline=Deadline.after(seconds), clients=self._clients.for_policy(policy))
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
                self._forget_prefix(request, config)
            return self._not_a_teardown(case, config, pid)
        if case.removed is None or pid == physical_id(request.event):  # (a legacy id's guard lives on)
            self._forget_prefix(request, config)
        removed = case.removed.data() if case.removed else {}
        if case.removed:  # an update's cleanup that also removes guarded targets: their jobs only
            config = case.removed.narrow(config)
        # A cluster removed from the install since Create: nothing here may touch it (its
        # grant is gone too); the answer says so, SUCCESS or FAILED as FailOnError asks.
        self._require_configured_cluster(config.policy)
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
            return self._dry_run(cancelled, pid)
        clients = self._clients.for_policy(config.policy)
        report = engine.wait_for(cancelled, config.policy, deadline=deadline, clients=clients, progress=self._progress)
        data = {**_data(report), **removed}
        left = overall_deadline - time.time()
        if report.still_running and left > MIN_HANDOVER_SECONDS and invocation.can_poll:
            # Not the verdict yet: jobs still stopping now are not "still stopping at the deadline".
            self._report(replace(report, waited=False))
            log.info("jobs still stopping: handing over to polling", extra={"still_running": len(report.still_running)})
            carried = {**data, DATA_DEADLINE: str(int(overall_deadline))}
            return Pending(pid, carried, fallback=_verdict(report, config, pid, data))
        self._report(report)
        return _verdict(report, config, pid, data)

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

    @staticmethod
    def _not_a_teardown(case: DeleteCase, config: GuardConfig, pid: str) -> Outcome:
        """A Delete while the stack lives on (an Update's cleanup or rollback, the guard removed
        from the template), or one whose case cannot be read: cancel nothing."""
        if case.error is not None:
            reason = case.reason
            data = {"Skipped": case.skipped}
            if config.fail_on_error:
                return Failed(reason, data)
            log.error("stack status unknown: cancelled nothing", extra={"error": case.error})
            return Done(pid, data, reason)
        log.info("the stack is not being deleted: cancelled nothing", extra={"stack_status": case.status})
        return Done(pid, {"Skipped": f"stack is {case.status}, not being deleted"})

    def _dry_run(self, report: Report, pid: str) -> Done:
        """DryRun: what this teardown would cancel, reported (Data, Reason, logs, metrics); nothing
        cancelled or waited for, and SUCCESS whatever was seen, FailOnError or not: a preview never blocks a delete."""
        self._report(report)
        would = [f"{r.ref.kind}:{r.ref.job_id}" for r in report.results if r.outcome is JobOutcome.WOULD_CANCEL]
        reason = f"DryRun: cancelled nothing; would cancel {len(would)} job(s)"
        reason += f" ({', '.join(would[:3])}{', ...' if len(would) > 3 else ''})" if would else ""
        log.info("dry run: cancelled nothing", extra={"would_cancel": len(would)})
        data = {**_data(report), "DryRun": "true"}
        return Done(pid, data, reason if report.ok else f"{reason}; {describe_problems(report)}")

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
        report = engine.wait_for_scope(
            config.policy,
            deadline=Deadline.after(max(0.0, budget)),
            clients=self._clients.for_policy(config.policy),
            progress=self._progress,
        )
        # The cancel counts come from the first invocation; what is still running now comes
        # from this tick.
        data = {**carried, **_wait_data(report)}
        if report.still_running and time.time() < overall_deadline:
            log.info("still stopping; next tick", extra={"still_running": len(report.still_running)})
            return Pending(pid, request.carried or {}, fallback=_verdict(report, config, pid, data))
        self._report(report)
        return _verdict(report, config, pid, data)

    def _cancel_without_idempotency(self, event: Mapping[str, Any], policy: Policy, deadline: Deadline) -> Report:
        return engine.cancel_in_scope(
            policy, deadline=deadline, clients=self._clients.for_policy(policy), progress=self._progress
        )

    def _report(self, report: Report) -> None:
        if self._on_report is not None:
            self._on_report(report)


def _verdict(report: Report, config: GuardConfig, pid: str, data: Mapping[str, str]) -> Done | Failed:
    """The answer a report earns: SUCCESS when ok; else the problems in Reason, FAILED only
    with FailOnError."""
    if report.ok:
        return Done(pid, data)
    reason = describe_problems(report)
    return Failed(reason, data) if config.fail_on_error else Done(pid, data, reason)


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


def describe_problems(report: Report) -> str:
    """A Reason that starts with what matters: counts, then the first job named. Text that came
    from a service (error messages) is cut to a short, printable summary (safe_summary)."""
    parts: list[str] = []
    if report.incomplete:
        parts.append(f"discovery incomplete, jobs may be missed ({safe_summary(report.incomplete[0], 140)})")
    if report.errors:
        parts.append(f"{len(report.errors)} discovery error(s) (first: {safe_summary(report.errors[0], 100)})")
    if report.failures:
        first = report.failures[0]
        error = safe_summary(first.error or "", 100)
        parts.append(f"{len(report.failures)} cancel(s) failed (first: {first.ref.kind} {first.ref.job_id}: {error})")
    if report.still_running:
        first_ref = report.still_running[0]
        parts.append(
            f"{len(report.still_running)} job(s) still running at the deadline "
            f"(first: {first_ref.kind} {first_ref.job_id})"
        )
    return "; ".join(parts) or "ok"


def _data(report: Report) -> dict[str, str]:
    return {str(k): str(v) for k, v in report.summary().items()}


def _wait_data(report: Report) -> dict[str, str]:
    return {"StillRunning": str(len(report.still_running))}


def _owner(event: Mapping[str, Any]) -> str:
    """A guard's key in the prefix registry: its stack and logical id."""
    return f"{event.get('StackId')}|{event.get('LogicalResourceId')}"


def idempotency_table() -> str | None:
    return os.environ.get("IDEMPOTENCY_TABLE_NAME") or None
