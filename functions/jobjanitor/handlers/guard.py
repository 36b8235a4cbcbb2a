"""Lambda entry point of the teardown guard (``Custom::JobJanitorGuard``).

Thin on purpose: Powertools wiring, then the guard. The ResponseURL is a credential, so the
event is never logged (``log_event=False``); the correlation id is the request's RequestId.

The import (Lambda's init) loads boto3 and Powertools; the guard's own modules load with the
guard, on the first invocation (docs/build.md, "What a cold start imports").
"""

from __future__ import annotations

from typing import Any

import boto3  # noqa: F401 - at init, before anything else: every first invocation builds clients with it
from jobjanitor.observability import COLD_START_METRIC, logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="RequestId", log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=COLD_START_METRIC)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    from jobjanitor.guard.app import app  # noqa: PLC0415 - the guard's modules load on the first invocation

    app().handle(event, context)
