"""Powertools idempotency on the janitor's DynamoDB table, set up one way for every handler
whose whole unit of work is idempotent (the sweeper's sweep, the hook's evaluation). The
guard's cancel step keeps its own wrapper (`jobjanitor.guard.idempotency`): it also counts
table faults and trims what it stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)


def idempotent_on_table(
    function: Callable[..., dict[str, Any]],
    *,
    table_name: str,
    key: str,
    data_keyword: str,
    expires_after_seconds: int,
) -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """``function`` wrapped so that its ``data_keyword`` argument's ``key`` (a JMESPath) is run
    once per expiry window; the config, so the handler can register the Lambda context (without
    it a timed-out run would block retries until the record expires). A missing key is an error,
    never a silent "not idempotent" (Powertools' default only warns)."""
    config = IdempotencyConfig(
        event_key_jmespath=key,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_seconds,
    )
    decorate = idempotent_function(
        data_keyword_argument=data_keyword,
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=config,
    )
    return decorate(function), config
