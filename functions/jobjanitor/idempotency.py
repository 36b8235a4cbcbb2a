"""Powertools idempotency on the janitor's DynamoDB table, one way for every handler (the
sweeper's sweep, the hook's evaluation, the guard's cancel step).

- **The table's client is bounded.** It comes from the one factory (:data:`clients.TABLE`):
  each call, retries included, ends within a few seconds and never after the deadline the
  caller gives (``answer_by``). A table that hangs costs the work a few seconds, not the
  invocation.
- **A table that cannot be used means "run without it"**, never "fail" nor "wait": the work
  runs, and :class:`Once` says why the table was not used (``table_fault``) so that the
  handler says it in its answer, logs it and counts it (``IdempotencyTableFaults``).
- **A result is never computed twice.** When the save fails after the work ran (Powertools
  raises ``IdempotencyPersistenceLayerError`` from the save), the result already computed is
  returned; when the work raised and its record could not be deleted, its own exception is
  raised. The result is captured by the wrapped function itself (Powertools' public
  decorator, nothing of its internals).
- A record found in progress (a duplicate delivery while the first is at work) raises
  ``IdempotencyAlreadyInProgressError``: what to do then is the handler's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)

from jobjanitor.clients import TABLE, aws_client, within
from jobjanitor.deadline import CURRENT_DEADLINE, Deadline
from jobjanitor.endpoints import safe_summary
from jobjanitor.kinds.base import error_text

__all__ = ["IdempotentOnTable", "Once", "idempotent_on_table", "table_problem"]

log = logging.getLogger("jobjanitor.idempotency")

Result = dict[str, Any]
# How much of a table error an answer carries.
PROBLEM_CHARS = 120


@dataclass(frozen=True, slots=True)
class Once:
    """What the work returned, and why the table was not used (None: it was)."""

    value: Result
    table_fault: str | None = None

    @property
    def note(self) -> str:
        """The sentence an answer carries about the table ("" when it was used)."""
        return f"ran without the idempotency table ({self.table_fault})" if self.table_fault else ""


class _Ran:
    """What the wrapped function did in one call: returned (``value``) or raised (``error``)."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Result = {}
        self.error: BaseException | None = None


class IdempotentOnTable:
    """``function`` run once per ``key`` (a JMESPath over its ``data_keyword`` argument) per
    expiry window, on the table ``table_name`` (see the module docstring)."""

    def __init__(
        self,
        function: Callable[..., Result],
        *,
        table_name: str,
        key: str,
        data_keyword: str,
        expires_after_seconds: int,
        client: Any = None,
    ) -> None:
        self._function = function
        self._data_keyword = data_keyword
        # A missing key is an error, never a silent "not idempotent" (Powertools' default only warns).
        self.config = IdempotencyConfig(
            event_key_jmespath=key, raise_on_no_idempotency_key=True, expires_after_seconds=expires_after_seconds
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name, boto3_client=client if client is not None else aws_client("dynamodb", TABLE)
        )
        decorate = idempotent_function(
            data_keyword_argument=data_keyword, persistence_store=persistence, config=self.config
        )
        self._once: Callable[..., Result] = decorate(self._run)
        self.faults = 0  # calls that went without the table

    def register_lambda_context(self, context: Any) -> None:
        """So a run that times out stays INPROGRESS only until the Lambda deadline (without it
        a timed-out run would block retries until the record expires)."""
        self.config.register_lambda_context(context)

    def _run(self, *, _ran: _Ran, _deadline: Deadline | None, **kwargs: Any) -> Result:
        """The function, under the caller's own deadline (not the table's), captured."""
        token = CURRENT_DEADLINE.set(_deadline)
        try:
            _ran.value = self._function(**kwargs)
        except BaseException as error:
            _ran.error = error
            raise
        finally:
            CURRENT_DEADLINE.reset(token)
        _ran.done = True
        return _ran.value

    def __call__(self, *, answer_by: Deadline | None = None, **kwargs: Any) -> Once:
        """Run the function once for its key. ``answer_by``: every table call ends by then (the
        function itself runs under the deadline current at the call)."""
        ran = _Ran()
        work_deadline = CURRENT_DEADLINE.get()
        try:
            with within(answer_by) if answer_by is not None else nullcontext():
                return Once(self._once(_ran=ran, _deadline=work_deadline, **kwargs))
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as fault:
            self.faults += 1
            problem = table_problem(fault)
            if ran.error is not None:
                log.error("idempotency table unavailable after the work failed: %s", problem)
                raise ran.error from fault
            if ran.done:
                log.error("idempotency table unavailable: the result is not saved: %s", problem)
                return Once(ran.value, f"the result could not be saved: {problem}")
            log.error("idempotency table unavailable: running without it: %s", problem)
            return Once(self._function(**kwargs), f"it could not be read or written: {problem}")


def table_problem(fault: BaseException) -> str:
    """A short, printable account of why the table could not be used (the cause Powertools
    wraps, e.g. a read timeout or a 5xx), for an answer."""
    cause = fault.__cause__ or (fault.args[1] if len(fault.args) > 1 else None)
    return safe_summary(error_text(cause) if isinstance(cause, BaseException) else str(fault), PROBLEM_CHARS)


def idempotent_on_table(
    function: Callable[..., Result],
    *,
    table_name: str,
    key: str,
    data_keyword: str,
    expires_after_seconds: int,
) -> IdempotentOnTable:
    """``function`` wrapped by :class:`IdempotentOnTable` on the table's bounded client."""
    return IdempotentOnTable(
        function, table_name=table_name, key=key, data_keyword=data_keyword, expires_after_seconds=expires_after_seconds
    )
