"""Lambda entry point of the scheduled sweeper.

Thin on purpose: Powertools wiring, then the sweeper. The configuration is read and
validated once per execution environment (on the first invocation, to keep the import
light); a bad configuration fails every invocation with a message naming the variable, and
nothing runs half-configured. The correlation id is the event id (rules) or the Scheduler
execution id.

The import (Lambda's init) loads boto3 and Powertools; the sweeper's own modules load with the
sweeper, on the first invocation (docs/build.md, "What a cold start imports").
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import boto3  # noqa: F401 - at init, before anything else: every first invocation builds clients with it
from jobjanitor.observability import COLD_START_METRIC, logger, metrics, tracer

if TYPE_CHECKING:
    from jobjanitor.sweeper.logic import Sweeper

_sweeper: Sweeper | None = None


def sweeper() -> Sweeper:
    global _sweeper  # noqa: PLW0603 - one sweeper per Lambda execution environment
    if _sweeper is None:
        # The sweeper's modules load here, on the first invocation.
        from jobjanitor.sweeper.config import SweeperConfig  # noqa: PLC0415
        from jobjanitor.sweeper.logic import Sweeper  # noqa: PLC0415

        _sweeper = Sweeper(SweeperConfig.from_env(os.environ))
    return _sweeper


@logger.inject_lambda_context(correlation_id_path="id || executionId", log_event=True, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=COLD_START_METRIC)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweeper().handle(event, context)
