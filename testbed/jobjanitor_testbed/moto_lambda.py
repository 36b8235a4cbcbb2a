"""moto's Lambda AddPermission, as strict as AWS about statement ids.

AWS answers AddPermission with 409 ``ResourceConflictException`` ("The statement id (X)
provided already exists. Please provide a new statement id, or remove the existing
statement.") when the function's policy already holds a statement with that Sid; moto 5.2
appends a second statement with the same Sid. The guard's polling relies on the conflict (a
redelivered request's hand-over keeps the one permission named after the request), so the test
bed answers as AWS does. :func:`install` wraps moto's public ``LambdaBackend.add_permission``
once per process.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend

__all__ = ["install"]

_LOCK = threading.Lock()
_INSTALLED = False


class StatementIdConflict(LambdaClientError):
    code = 409

    def __init__(self, sid: str) -> None:
        super().__init__(
            "ResourceConflictException",
            f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
            "or remove the existing statement.",
        )


def install() -> None:
    """Make AddPermission refuse a Sid the function's policy already has (idempotent)."""
    global _INSTALLED  # noqa: PLW0603 - one-shot wrap of a process-global moto class
    with _LOCK:
        if _INSTALLED:
            return
        original = LambdaBackend.add_permission

        def add_permission(self: LambdaBackend, function_name: str, qualifier: str, raw: str) -> dict[str, Any]:
            sid = json.loads(raw).get("StatementId")
            policy = self.get_function(function_name, qualifier).policy
            if sid and any(statement.get("Sid") == sid for statement in policy.statements):
                raise StatementIdConflict(str(sid))
            return original(self, function_name, qualifier, raw)

        LambdaBackend.add_permission = add_permission  # type: ignore[method-assign]  # moto's public method, wrapped
        _INSTALLED = True
