"""Lambda entry point of the teardown hook (``AWS::CloudFormation::LambdaHook``).

Thin on purpose: Powertools wiring, then the hook. The answer is the return value (no
presigned URL, unlike custom resources). The request is not logged whole (stack- and
change-set-level requests carry a presigned S3 URL); the correlation id is its
clientRequestToken.

The import (Lambda's init) loads boto3 and Powertools; the hook's own modules load with the
hook, on the first invocation (docs/build.md, "What a cold start imports").
"""

from __future__ import annotations

from typing import Any

import boto3  # noqa: F401 - at init, before anything else: every first invocation builds clients with it
from jobjanitor.errors import ConfigError
from jobjanitor.observability import COLD_START_METRIC, logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="clientRequestToken", log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=COLD_START_METRIC)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from jobjanitor.hook.app import app, config_error_answer  # noqa: PLC0415 - the hook's modules load on the first invocation

    try:
        hook = app()
    except ConfigError as error:
        return config_error_answer(event, error)
    return hook.handle(event, context)
