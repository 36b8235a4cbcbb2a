"""Lambda entry point of the scheduled sweeper.

Thin on purpose: Powertools wiring, then the sweeper. The configuration is read and
validated once per execution environment (on the first invocation, to keep the import
light); a bad configuration fails every invocation with a message naming the variable, and
nothing runs half-configured. The correlation id is the event id (rules) or the Scheduler
execution id.
"""

from __future__ import annotations

import os
from typing import Any

from jobjanitor.observability import logger, metrics, tracer
from jobjanitor.sweeper.config import SweeperConfig
from jobjanitor.sweeper.logic import Sweeper

_sweeper: Sweeper | None = None


def sweeper() -> Sweeper:
    global _sweeper  # noqa: PLW0603 - one sweeper per Lambda execution environment
    if _sweeper is None:
        _sweeper = Sweeper(SweeperConfig.from_env(os.environ))
    return _sweeper


@logger.inject_lambda_context(correlation_id_path="id || executionId", log_event=True, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweeper().handle(event, context)
