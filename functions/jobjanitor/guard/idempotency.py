"""Powertools idempotency around the guard's cancel step (not around the handler).

The key is StackId + RequestId. Wrapping the whole handler would be wrong: the guard's
polling ticks carry the same payload and would get the first answer forever, and every
delivery still needs its own response. So only the cancel step is idempotent:

- a duplicate delivery after the first finished its cancels gets the cached cancel report,
  cancels nothing, waits (read-only) and answers;
- a duplicate while the first is still cancelling waits for the scope to stop without
  cancelling anything (the first delivery does that), then answers;
- if the idempotency table cannot be reached, the cancel runs anyway and the fault is
  logged and counted: a teardown must not hang on the bookkeeping.

The record keeps what a resend needs and nothing more: the in-scope results (what was
cancelled, already finished, not found) and the COUNT of jobs out of scope. On a busy cluster
the full report (every skipped job) passes DynamoDB's 400 KB item limit: the record would not
be saved, a resend would cancel again and answer ``Cancelled: 0`` for a job that was cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from jobjanitor import engine
from jobjanitor.clients import ClientCache
from jobjanitor.deadline import Deadline
from jobjanitor.engine import Mode
from jobjanitor.policy import Policy
from jobjanitor.report import Report

log = logging.getLogger("jobjanitor.guard")

# Keep the record well past any retry or resend of the same request.
EXPIRES_AFTER_SECONDS = 6 * 3600

CancelOnce = Callable[[Mapping[str, Any], Policy, Deadline], Report]


@dataclass
class RestoredReport(Report):
    """A cancel report read back from its record: in-scope results, and how many were skipped."""

    skipped_count: int = 0

    def summary(self) -> dict[str, str]:
        data = super().summary()
        data["Skipped"] = str(int(data.get("Skipped", "0")) + self.skipped_count)
        return data


def compact_record(report: Report) -> dict[str, Any]:
    """What a resend needs: the report without its skipped jobs, and their count."""
    return {**report.to_dict(include_skipped=False), "skipped_count": len(report.results) - len(report.in_scope())}


def restore_record(record: Mapping[str, Any]) -> RestoredReport:
    report = Report.from_dict(dict(record))
    return RestoredReport(
        results=report.results,
        warnings=report.warnings,
        errors=report.errors,
        incomplete=report.incomplete,
        waited=report.waited,
        dry_run=report.dry_run,
        skipped_count=int(record.get("skipped_count", 0)),
    )


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
        self.config = IdempotencyConfig(
            event_key_jmespath="[StackId, RequestId]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=EXPIRES_AFTER_SECONDS,
        )
        self._progress = progress
        # ``dynamodb``: a client whose calls end before the invocation's deadline (the default
        # client's 60 s timeouts would outlive it).
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)

        def cancel_step(*, request: dict[str, str], policy: Policy, deadline: Deadline) -> dict[str, Any]:
            report = engine.sweep(
                policy, wait=False, deadline=deadline, clients=self._clients.for_policy(policy), progress=self._progress
            )
            if report.failures or report.errors or report.incomplete:
                raise _Incomplete(report)
            return compact_record(report)

        # Only ``request`` (StackId + RequestId) is hashed into the key; the policy and the
        # deadline pass through.
        decorate = idempotent_function(
            data_keyword_argument="request", persistence_store=persistence, config=self.config
        )
        self._cancel_step: Callable[..., dict[str, Any]] = decorate(cancel_step)
        self.persistence_faults = 0

    def register_lambda_context(self, context: Any) -> None:
        """So a run that times out stays INPROGRESS only until the Lambda deadline."""
        self.config.register_lambda_context(context)

    def __call__(self, event: Mapping[str, Any], policy: Policy, deadline: Deadline) -> Report:
        request = {"StackId": str(event.get("StackId")), "RequestId": str(event.get("RequestId"))}
        try:
            return restore_record(self._cancel_step(request=request, policy=policy, deadline=deadline))
        except _Incomplete as incomplete:
            return incomplete.report
        except IdempotencyAlreadyInProgressError:
            log.warning("duplicate delivery while the first is cancelling: waiting without cancelling")
            return engine.sweep(
                policy,
                mode=Mode.WATCH,
                deadline=deadline,
                clients=self._clients.for_policy(policy),
                progress=self._progress,
            )
        except IdempotencyPersistenceLayerError as exc:
            self.persistence_faults += 1
            log.error("idempotency table unavailable; cancelling without it: %s", exc)
            return engine.sweep(
                policy, wait=False, deadline=deadline, clients=self._clients.for_policy(policy), progress=self._progress
            )
