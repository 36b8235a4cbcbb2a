"""Why CloudFormation sent a Delete: only a stack that is going away gets swept.

CloudFormation deletes a custom resource in several situations, and only some of them mean
"the stack is being torn down":

- ``DELETE_IN_PROGRESS``: the stack is being deleted. Sweep.
- ``ROLLBACK_IN_PROGRESS``: a failed stack Create is rolling back; every resource goes. Sweep.
- ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS``: cleanup after an Update (a replaced guard's old id,
  or the guard removed from the template). Cancel nothing.
- ``UPDATE_ROLLBACK_IN_PROGRESS``, ``UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS``: a failed
  Update rolling back (a guard it had added, a replacement's new id). Cancel nothing.
- any other status: not a teardown. Cancel nothing.
- unreadable (``DescribeStacks`` failed after its retries): the case cannot be told. Cancel
  nothing, and report it (FAILED with ``FailOnError``).

In every case but a teardown the stack, and the jobs it runs, stay: cancelling them would stop
live work (and with ``Clean`` delete its artifacts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jobjanitor.endpoints import safe_summary
from jobjanitor.kinds.base import error_text

__all__ = ["SWEEP_STATUSES", "DeleteCase", "delete_case"]

SWEEP_STATUSES = frozenset({"DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})
_REGION = re.compile(r"^arn:aws[a-z-]*:cloudformation:([a-z0-9-]+):")


@dataclass(frozen=True, slots=True)
class DeleteCase:
    """``sweep``: the stack is being torn down. ``status``: what DescribeStacks said;
    ``error``: why it could not be read (then ``sweep`` is False)."""

    sweep: bool
    status: str | None
    error: str | None = None


def stack_region(stack_id: str) -> str | None:
    match = _REGION.match(stack_id)
    return match.group(1) if match else None


def cloudformation_client(stack_id: str) -> Any:
    """A CloudFormation client in the stack's region, built like the guard's other bookkeeping
    clients: few attempts, short timeouts, every attempt bounded by the time left."""
    import boto3  # noqa: PLC0415 - lazy: cold start

    from jobjanitor.clients import bounded_by_deadline, plumbing_config  # noqa: PLC0415

    return bounded_by_deadline(
        boto3.client("cloudformation", config=plumbing_config(), region_name=stack_region(stack_id))
    )


def delete_case(cfn: Any, stack_id: str) -> DeleteCase:
    """Read the stack's status (``cloudformation:DescribeStacks``) and decide."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_id).get("Stacks") or []
    except Exception as error:  # any failure: the case cannot be told, and nothing is swept
        return DeleteCase(False, None, safe_summary(error_text(error), 120))
    if not stacks:
        return DeleteCase(False, None, "DescribeStacks returned no stack")
    status = str(stacks[0].get("StackStatus") or "")
    return DeleteCase(status in SWEEP_STATUSES, status)
