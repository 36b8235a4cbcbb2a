"""Assembles the guard: crhelper resource, logic, idempotency and observability.

Built on the first invocation, not at import: crhelper's constructor creates three boto3
clients, and the import of the handler module is part of every cold start.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from jobjanitor.clients import ClientCache, bounded_by_deadline, plumbing_config
from jobjanitor.clusters import ClusterRegistry
from jobjanitor.guard.config import fail_on_error_of
from jobjanitor.guard.idempotency import IdempotentCancel
from jobjanitor.guard.logic import Guard
from jobjanitor.guard.requests import KEY_PREFIX, POLL_KEY, RequestStore, is_poll_tick
from jobjanitor.guard.resource import FAILED, SUCCESS, GuardResource, failed_create_id
from jobjanitor.guard.response import put_response
from jobjanitor.observability import log_progress, logger, metrics, publish_report

REQUEST_TYPES = ("Create", "Update", "Delete")
ENVELOPE_KEYS = ("StackId", "RequestId", "LogicalResourceId")


class GuardApp:
    def __init__(self) -> None:
        table = os.environ.get("IDEMPOTENCY_TABLE_NAME")
        dynamodb = bounded_by_deadline(boto3.client("dynamodb", config=plumbing_config())) if table else None
        self.requests = RequestStore(table, dynamodb) if table else None
        self.resource = GuardResource(
            polling_interval_minutes=int(os.environ.get("JOBJANITOR_POLL_MINUTES", "1")), requests=self.requests
        )
        clients = ClientCache()  # kept for this execution environment: every phase and tick reuses them
        self.idempotency = (
            IdempotentCancel(table, clients=clients, progress=log_progress, dynamodb=dynamodb) if table else None
        )
        if self.idempotency is None:
            logger.warning("IDEMPOTENCY_TABLE_NAME is not set: duplicate deliveries may cancel twice")
        # The clusters this install serves, resolved on first use (JOBJANITOR_NEPTUNE_CLUSTERS).
        self.clusters = ClusterRegistry.from_env()
        self.guard = Guard(
            self.resource,
            requests=self.requests,
            cancel_once=self.idempotency,
            progress=log_progress,
            on_report=lambda report: publish_report(report, source="guard", clusters=self.clusters.known()),
            clients=clients,
            clusters=self.clusters,
        )

    def handle(self, event: Any, context: Any) -> None:
        if is_poll_tick(event):
            event = self._stored_request(event[POLL_KEY], context)
            if event is None:
                return
        if not _answerable(event, context):
            return
        if self.idempotency is not None:
            self.idempotency.register_lambda_context(context)
        what = "PollTicks" if "CrHelperPoll" in event else "Requests"
        metrics.add_metric(name=f"Guard{event['RequestType']}{what}", unit="Count", value=1)
        faults_before = self._table_faults()
        self.resource(event, context)
        if self._table_faults() > faults_before:
            metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)
        polling = "CrHelperRule" in self.resource._event
        if self.resource.responded is None and not polling:
            # crhelper should always answer or hand over; never leave CloudFormation waiting.
            logger.error("no response was sent: answering now")
            self.resource._send(FAILED, "jobjanitor: internal error, no response was produced; see the logs")

    def _table_faults(self) -> int:
        return (self.idempotency.persistence_faults if self.idempotency else 0) + self.guard.table_faults

    def _stored_request(self, key: str, context: Any) -> dict[str, Any] | None:
        """The request a polling tick stands for (its rule's Input is only the record's key)."""
        if self.requests is None:
            logger.error("a polling tick arrived but there is no request table")
            return None
        try:
            request = self.requests.load(key)
        except (ClientError, BotoCoreError) as exc:
            # The rule fires again next interval; the overall deadline still ends the wait.
            logger.error("could not read the request for this polling tick; next tick retries", error=str(exc))
            metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)
            return None
        if request is None:
            logger.error("polling tick for a request that is no longer stored: removing its rule")
            self.resource.remove_orphan_polling(key.removeprefix(KEY_PREFIX), context)
        return request


def _answerable(event: Any, context: Any) -> bool:
    """Answer malformed requests here (crhelper would fail on them before answering)."""
    if not isinstance(event, dict) or not isinstance(event.get("ResponseURL"), str) or not event["ResponseURL"]:
        logger.error("not a custom-resource request (no ResponseURL): nothing can be answered")
        return False
    missing = [k for k in ENVELOPE_KEYS if not isinstance(event.get(k), str) or not event[k]]
    bad_type = event.get("RequestType") not in REQUEST_TYPES
    if not missing and not bad_type:
        return True
    problem = f"missing {', '.join(missing)}" if missing else f"unknown RequestType {event.get('RequestType')!r}"
    logger.error("malformed custom-resource request", problem=problem)
    # Even a malformed Delete must not strand the stack in DELETE_FAILED (see GuardResource).
    lenient = event.get("RequestType") == "Delete" and not fail_on_error_of(event.get("ResourceProperties"))
    body = {
        "Status": SUCCESS if lenient else FAILED,
        "Reason": f"jobjanitor: malformed request: {problem}"[:250],
        "PhysicalResourceId": str(event.get("PhysicalResourceId") or failed_create_id(event)),
        "StackId": str(event.get("StackId", "")),
        "RequestId": str(event.get("RequestId", "")),
        "LogicalResourceId": str(event.get("LogicalResourceId", "")),
        "Data": {},
    }
    put_response(event["ResponseURL"], body)
    return False


_app: GuardApp | None = None


def app() -> GuardApp:
    global _app  # noqa: PLW0603 - one guard per Lambda execution environment, built on first use
    if _app is None:
        _app = GuardApp()
    return _app
