"""Assembles the hook: configuration, idempotency, observability, and the answer to every request.

- A malformed request is answered ``FAILED`` (``InternalFailure``) with a message naming the
  field: the hook cannot tell what is being deleted, so the TeardownHook setting decides
  (Warn: the delete proceeds with that warning; Fail: it stops; Audit answers SUCCESS).
- A request for anything but ``DELETE_PRE_PROVISION`` of the two target types is answered
  ``SUCCESS`` at once (the TargetFilters should send none).
- Idempotent per request (Powertools, DynamoDB, :mod:`jobjanitor.idempotency`): the key is
  the ``clientRequestToken``, the stack, the target's type and logical id, the invocation
  point and the invocation number (whether CloudFormation ever shares a token between targets
  is not documented: two resources never share an answer). A duplicate delivery after the
  first finished gets the first answer and cancels nothing; a duplicate while the first is
  still at work watches the scope without cancelling and answers.
- The table is bookkeeping: its client ends every call within a few seconds and before the
  invocation's end. If it cannot be used, the invocation runs without it, and the answer's
  message says so (logged, ``IdempotencyTableFaults`` counted); if only saving the answer
  fails, the answer already computed is the answer (the work never runs twice).
- A bad configuration fails every invocation with a message naming the variable; nothing runs
  half-configured.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from jobjanitor.clients import ClientCache
from jobjanitor.deadline import Deadline, LambdaContextLike
from jobjanitor.errors import ConfigError
from jobjanitor.hook.config import HookConfig
from jobjanitor.hook.logic import INVOCATION_LIMIT_S, PREFIX, Hook, invocation_deadline
from jobjanitor.hook.request import (
    FAILED,
    INTERNAL_FAILURE,
    MAX_MESSAGE,
    SUCCESS,
    HookRequest,
    MalformedRequest,
    answer,
    token_of,
)
from jobjanitor.hook.targets import Target
from jobjanitor.idempotency import IdempotentOnTable, Once, idempotent_on_table
from jobjanitor.observability import log_progress, logger, metrics, publish_report
from jobjanitor.report import Report

# Keep the record well past the whole hook (a few invocations a few minutes apart).
IDEMPOTENCY_EXPIRES_SECONDS = 3600
# What identifies one request (see the module docstring).
IDEMPOTENCY_KEY = "[token, stack, target, logical_id, point, invocation]"
# The table's calls end this long before the Lambda's own end, and before CloudFormation's 30 s
# less this much: the answer still has to go out.
ANSWER_MARGIN_S = 0.5
CFN_ANSWER_MARGIN_S = 2.0


class HookApp:
    def __init__(self, config: HookConfig, *, hook: Hook | None = None) -> None:
        self.config = config
        self.hook = hook or Hook(config, clients=ClientCache(), progress=log_progress, on_report=_publish)
        self.idempotency: IdempotentOnTable | None = None
        if config.table_name:
            self.idempotency = idempotent_on_table(
                self._evaluate,
                table_name=config.table_name,
                key=IDEMPOTENCY_KEY,
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
        try:
            response = self._evaluate_once(request, deadline, context)
        except IdempotencyAlreadyInProgressError:
            logger.warning("duplicate delivery while the first is still at work: watching without cancelling")
            response = self.hook.evaluate(request, deadline, cancel=False)
        except Exception:  # a bug must still get an answer: CloudFormation invokes again if it may
            logger.exception("the hook failed")
            response = self.hook.not_done(request, "internal error (see the hook's logs)", INTERNAL_FAILURE)
        return self._final(response)

    def _evaluate_once(self, request: HookRequest, deadline: Deadline, context: LambdaContextLike) -> dict[str, Any]:
        key = idempotency_key(request)
        if self.idempotency is None:
            return self._evaluate(key=key, request=request, deadline=deadline)
        self.idempotency.register_lambda_context(context)
        once = self.idempotency(answer_by=answer_deadline(context), key=key, request=request, deadline=deadline)
        return _noted(once)

    def _evaluate(self, *, key: dict[str, Any], request: HookRequest, deadline: Deadline) -> dict[str, Any]:
        return self.hook.evaluate(request, deadline)

    @staticmethod
    def _final(response: dict[str, Any]) -> dict[str, Any]:
        status = response["hookStatus"]
        metrics.add_metric(name=f"Hook{status.title().replace('_', '')}", unit="Count", value=1)
        log = logger.warning if status == FAILED else logger.info
        log(response["message"], hook_status=status, error_code=response.get("errorCode"))
        return response


def idempotency_key(request: HookRequest) -> dict[str, Any]:
    """What identifies one request: two targets, stacks or invocation points never share it."""
    return {
        "token": request.token,
        "stack": request.stack_id,
        "target": request.target_name,
        "logical_id": request.logical_id,
        "point": request.invocation_point,
        "invocation": request.invocation,
    }


def answer_deadline(context: LambdaContextLike) -> Deadline:
    """When the idempotency table's last call must have ended: before the Lambda's end and
    before CloudFormation stops waiting for this invocation."""
    remaining = context.get_remaining_time_in_millis() / 1000.0
    return Deadline.after(min(remaining - ANSWER_MARGIN_S, INVOCATION_LIMIT_S - CFN_ANSWER_MARGIN_S))


def _noted(once: Once) -> dict[str, Any]:
    """The answer, saying (and counting) that the table was not used, if it was not."""
    if not once.table_fault:
        return once.value
    metrics.add_metric(name="IdempotencyTableFaults", unit="Count", value=1)
    note = f"; {once.note}"
    message = str(once.value.get("message", ""))
    return {**once.value, "message": message[: MAX_MESSAGE - len(note)] + note}


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
