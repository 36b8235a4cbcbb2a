"""Assembles the guard: the custom-resource protocol, polling, logic, idempotency and
observability.

Built on the first invocation, not at import: building creates boto3 clients, and the import
of the handler module is part of every cold start.
"""

from __future__ import annotations

import os
from typing import Any

from jobjanitor.clients import TABLE, ClientCache
from jobjanitor.clusters import ClusterRegistry
from jobjanitor.guard.config import fail_on_error_of
from jobjanitor.guard.idempotency import IdempotentCancel
from jobjanitor.guard.logic import Guard
from jobjanitor.observability import log_progress, logger, metrics, publish_report
from jobjanitor.protocol.custom_resource import Handlers, Provider, Request, RequestType
from jobjanitor.protocol.polling import Polling
from jobjanitor.store.requests import RequestStore

# A failed Create answers with this prefix and a hash of the request (the Delete that follows
# is then recognised as one of nothing this guard created).
FAILED_CREATE_PREFIX = "jobjanitor-guard-failed-"


class GuardApp:
    def __init__(self) -> None:
        table = os.environ.get("IDEMPOTENCY_TABLE_NAME")
        clients = ClientCache()  # kept for this execution environment: every phase and tick reuses them
        dynamodb = clients.aws("dynamodb", TABLE) if table else None
        self.requests = RequestStore(table, dynamodb) if table else None
        self.polling = Polling.build(
            self.requests, interval_minutes=int(os.environ.get("JOBJANITOR_POLL_MINUTES", "1"))
        )
        self.idempotency = (
            IdempotentCancel(table, clients=clients, progress=log_progress, dynamodb=dynamodb) if table else None
        )
        if self.idempotency is None:
            logger.warning("IDEMPOTENCY_TABLE_NAME is not set: duplicate deliveries may cancel twice")
        # The clusters this install serves, resolved on first use (JOBJANITOR_NEPTUNE_CLUSTERS).
        self.clusters = ClusterRegistry.from_env()
        self.guard = Guard(
            requests=self.requests,
            cancel_once=self.idempotency,
            progress=log_progress,
            on_report=lambda report: publish_report(report, source="guard", clusters=self.clusters.known()),
            clients=clients,
            clusters=self.clusters,
        )
        guard = self.guard
        self.provider = Provider(
            # Only a Delete waits (in polling ticks); Create and Update answer at once.
            Handlers(
                guard.on_create, guard.on_update, guard.on_delete, poll={RequestType.DELETE: guard.on_poll_delete}
            ),
            polling=self.polling,
            # FailOnError as far as it can be read: a Delete answers FAILED only when it is true
            # (FAILED strands the user's stack in DELETE_FAILED).
            delete_may_fail=fail_on_error_of,
            failed_create_prefix=FAILED_CREATE_PREFIX,
            on_request=self._on_request,
        )

    def handle(self, event: Any, context: Any) -> None:
        faults_before = self._table_faults()
        try:
            self.provider(event, context)
        finally:
            if self._table_faults() > faults_before:
                metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)

    def _on_request(self, request: Request, context: Any) -> None:
        if self.idempotency is not None:
            self.idempotency.register_lambda_context(context)
        what = "PollTicks" if request.is_poll_tick else "Requests"
        metrics.add_metric(name=f"Guard{request.request_type}{what}", unit="Count", value=1)

    def _table_faults(self) -> int:
        idempotency = self.idempotency.persistence_faults if self.idempotency else 0
        polling = self.polling.table_faults if self.polling else 0
        return idempotency + polling + self.guard.table_faults


_app: GuardApp | None = None


def app() -> GuardApp:
    global _app  # noqa: PLW0603 - one guard per Lambda execution environment, built on first use
    if _app is None:
        _app = GuardApp()
    return _app
