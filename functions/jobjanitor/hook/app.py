"""Assembles the hook: configuration, idempotency, observability, and the answer to every request.

- A malformed request is answered ``FAILED`` (``InternalFailure``) with a message naming the
  field: the hook cannot tell what is being deleted, so the TeardownHook setting decides
  (Warn: the delete proceeds with that warning; Fail: it stops; Audit answers SUCCESS).
- A request for anything but ``DELETE_PRE_PROVISION`` of the two target types is answered
  ``SUCCESS`` at once (the TargetFilters should send none).
- Idempotent per ``clientRequestToken`` + invocation (Powertools, DynamoDB): a duplicate
  delivery after the first finished gets the first answer and cancels nothing; a duplicate
  while the first is still at work watches the scope without cancelling and answers. If the
  table cannot be reached, the invocation runs without it (logged and counted): a teardown
  must not hang on bookkeeping.
- A bad configuration fails every invocation with a message naming the variable; nothing runs
  half-configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from jobjanitor.clients import ClientCache
from jobjanitor.errors import ConfigError
from jobjanitor.hook.config import HookConfig
from jobjanitor.hook.logic import PREFIX, Hook, invocation_deadline
from jobjanitor.hook.request import (
    FAILED,
    INTERNAL_FAILURE,
    SUCCESS,
    HookRequest,
    MalformedRequest,
    answer,
    token_of,
)
from jobjanitor.hook.targets import Target
from jobjanitor.idempotency import idempotent_on_table
from jobjanitor.observability import log_progress, logger, metrics, publish_report
from jobjanitor.report import Report

# Keep the record well past the whole hook (a few invocations a few minutes apart).
IDEMPOTENCY_EXPIRES_SECONDS = 3600


class HookApp:
    def __init__(self, config: HookConfig, *, hook: Hook | None = None) -> None:
        self.config = config
        self.hook = hook or Hook(config, clients=ClientCache(), progress=log_progress, on_report=_publish)
        self.idempotency: IdempotencyConfig | None = None
        self._evaluate_once: Callable[..., dict[str, Any]] = self._evaluate
        if config.table_name:
            self._evaluate_once, self.idempotency = idempotent_on_table(
                self._evaluate,
                table_name=config.table_name,
                key="[token, invocation]",
                data_keyword="key",
                expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS,
            )
        else:
            logger.warning("IDEMPOTENCY_TABLE_NAME is not set: a duplicate delivery cancels again")

    def handle(self, event: object, context: Any) -> dict[str, Any]:
        try:
            request = HookRequest.parse(event)
        except MalformedRequest as error:
            logger.error("malformed hook request", problem=str(error))
            return self._final(
                self.hook.final_failure(token_of(event), f"{PREFIX}: malformed request: {error}", INTERNAL_FAILURE)
            )
        logger.append_keys(
            target=request.target_name,
            logical_id=request.logical_id,
            invocation=request.invocation,
            stack=request.stack_name,
        )
        if not request.handled:
            logger.info("not a request this hook acts on: nothing to do", point=request.invocation_point)
            return self._final(
                answer(
                    request.token,
                    SUCCESS,
                    f"{PREFIX}: acts only on DELETE_PRE_PROVISION of AWS::Neptune::DBCluster and "
                    f"AWS::Glue::MLTransform, not {request.invocation_point} of {request.target_name}: nothing done",
                )
            )
        deadline = invocation_deadline(context)
        if self.idempotency is not None:
            self.idempotency.register_lambda_context(context)
        key = {"token": request.token, "invocation": request.invocation}
        try:
            response = self._evaluate_once(key=key, request=request, deadline=deadline)
        except IdempotencyAlreadyInProgressError:
            logger.warning("duplicate delivery while the first is still at work: watching without cancelling")
            response = self.hook.evaluate(request, deadline, cancel=False)
        except IdempotencyPersistenceLayerError as error:
            metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)
            logger.error("idempotency table unavailable; evaluating without it", error=str(error))
            response = self._evaluate(key=key, request=request, deadline=deadline)
        except Exception:  # a bug must still get an answer: CloudFormation invokes again if it may
            logger.exception("the hook failed")
            response = self.hook.not_done(request, "internal error (see the hook's logs)", INTERNAL_FAILURE)
        return self._final(response)

    def _evaluate(self, *, key: dict[str, Any], request: HookRequest, deadline: Any) -> dict[str, Any]:
        return self.hook.evaluate(request, deadline)

    @staticmethod
    def _final(response: dict[str, Any]) -> dict[str, Any]:
        status = response["hookStatus"]
        metrics.add_metric(name=f"Hook{status.title().replace('_', '')}", unit="Count", value=1)
        log = logger.warning if status == FAILED else logger.info
        log(response["message"], hook_status=status, error_code=response.get("errorCode"))
        return response


def _publish(report: Report, target: Target) -> None:
    publish_report(report, source="hook", target=target.metric_target)


def config_error_answer(event: object, error: ConfigError) -> dict[str, Any]:
    logger.error("hook configuration is invalid", problem=str(error))
    return HookApp._final(
        answer(token_of(event), FAILED, f"{PREFIX}: configuration: {error}", error_code=INTERNAL_FAILURE)
    )


_app: HookApp | None = None


def app() -> HookApp:
    """One app per Lambda execution environment, built on first use from the environment
    (raises ConfigError for a bad setting: every invocation then answers naming it)."""
    global _app  # noqa: PLW0603 - one hook per Lambda execution environment
    if _app is None:
        _app = HookApp(HookConfig.from_env(os.environ))
    return _app
