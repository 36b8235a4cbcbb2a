"""Powertools idempotency around the guard's cancel step (not around the handler).

The key is StackId + RequestId. Wrapping the whole handler would be wrong: the guard's polling
ticks carry the same payload and would get the first answer forever, and every delivery still
needs its own response. So only the cancel step is idempotent, on the shared helper
(:mod:`jobjanitor.idempotency`: the table's client from the one factory, bounded by the time
left):

- a duplicate delivery after the first finished its cancels gets the cached cancel report,
  cancels nothing, waits (read-only) and answers;
- a duplicate while the first is still cancelling waits for the scope to stop without
  cancelling anything (the first delivery does that), then answers;
- if the idempotency table cannot be used (a fault, a timeout), the cancel runs without it:
  the report says so (``Data.IdempotencyTable``, a warning), and the fault is logged and
  counted (``IdempotencyTableFaults``): a teardown must not hang on the bookkeeping. A cancel
  step that ran is never run again because its record could not be saved.

The record keeps what a resend needs and nothing more: the in-scope results (what was
cancelled, already finished, not found) and the COUNT of jobs out of scope. On a busy cluster
the full report (every skipped job) passes DynamoDB's 400 KB item limit: the record would not
be saved, a resend would cancel again and answer ``Cancelled: 0`` for a job that was cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from jobjanitor import engine
from jobjanitor.clients import ClientCache
from jobjanitor.deadline import Deadline
from jobjanitor.engine import Mode
from jobjanitor.idempotency import IdempotentOnTable
from jobjanitor.policy import Policy
from jobjanitor.report import Report

log = logging.getLogger("jobjanitor.guard")

# Keep the record well past any retry or resend of the same request.
EXPIRES_AFTER_SECONDS = 6 * 3600
DATA_TABLE = "IdempotencyTable"

CancelOnce = Callable[[Mapping[str, Any], Policy, Deadline], Report]


@dataclass
class GuardReport(Report):
    """A cancel report as the guard answers it: ``skipped_count`` jobs out of scope that a
    record read back no longer lists, and why the idempotency table was not used (if so)."""

    skipped_count: int = 0
    table_fault: str | None = None

    def summary(self) -> dict[str, str]:
        data = super().summary()
        data["Skipped"] = str(int(data.get("Skipped", "0")) + self.skipped_count)
        if self.table_fault:
            data[DATA_TABLE] = "unavailable: ran without it"
        return data

    @classmethod
    def of(cls, report: Report, **extra: Any) -> GuardReport:
        base = {f.name: getattr(report, f.name) for f in fields(Report)}
        if isinstance(report, GuardReport):
            base |= {"skipped_count": report.skipped_count, "table_fault": report.table_fault}
        return cls(**(base | extra))


def compact_record(report: Report) -> dict[str, Any]:
    """What a resend needs: the report without its skipped jobs, and their count."""
    return {**report.to_dict(include_skipped=False), "skipped_count": len(report.results) - len(report.in_scope())}


def restore_record(record: Mapping[str, Any]) -> GuardReport:
    return GuardReport.of(Report.from_dict(dict(record)), skipped_count=int(record.get("skipped_count", 0)))


class _Incomplete(Exception):
    """Raised out of the idempotent step so Powertools deletes the record: a cancel step
    with failures, discovery errors or a capped listing is not remembered, and a resend
    retries it."""

    def __init__(self, report: Report) -> None:
        super().__init__("cancel step incomplete")
        self.report = report


class IdempotentCancel:
    def __init__(
        self,
        table_name: str,
        *,
        clients: ClientCache,
        progress: Callable[[Any], None] | None = None,
        dynamodb: Any = None,
    ) -> None:
        self._clients = clients
        self._progress = progress
        # Only ``request`` (StackId + RequestId) is hashed into the key; the policy and the
        # deadline pass through. ``dynamodb``: the table's client (clients.TABLE), shared with
        # the request store.
        self._once = IdempotentOnTable(
            self._cancel_step,
            table_name=table_name,
            key="[StackId, RequestId]",
            data_keyword="request",
            expires_after_seconds=EXPIRES_AFTER_SECONDS,
            client=dynamodb,
        )
        self.config = self._once.config

    @property
    def persistence_faults(self) -> int:
        """Calls that went without the table (counted as IdempotencyTableFaults)."""
        return self._once.faults

    def _cancel_step(self, *, request: dict[str, str], policy: Policy, deadline: Deadline) -> dict[str, Any]:
        report = engine.sweep(
            policy, wait=False, deadline=deadline, clients=self._clients.for_policy(policy), progress=self._progress
        )
        if report.failures or report.errors or report.incomplete:
            raise _Incomplete(report)
        return compact_record(report)

    def register_lambda_context(self, context: Any) -> None:
        """So a run that times out stays INPROGRESS only until the Lambda deadline."""
        self._once.register_lambda_context(context)

    def __call__(self, event: Mapping[str, Any], policy: Policy, deadline: Deadline) -> Report:
        request = {"StackId": str(event.get("StackId")), "RequestId": str(event.get("RequestId"))}
        faults = self._once.faults
        try:
            once = self._once(request=request, policy=policy, deadline=deadline)
            report, fault = restore_record(once.value), once.table_fault
        except _Incomplete as incomplete:
            report, fault = GuardReport.of(incomplete.report), None
            if self._once.faults > faults:
                fault = "it could not be read or written"
        except IdempotencyAlreadyInProgressError:
            log.warning("duplicate delivery while the first is cancelling: waiting without cancelling")
            return engine.sweep(
                policy,
                mode=Mode.WATCH,
                deadline=deadline,
                clients=self._clients.for_policy(policy),
                progress=self._progress,
            )
        if fault is None:
            return report
        report.table_fault = fault
        report.warnings.append(f"ran without the idempotency table ({fault})")
        return report
