"""CloudFormation stacks in the test bed's moto, in the status a request arrives in.

CloudFormation sends a custom resource's Delete in several situations: the stack is being
deleted (``DELETE_IN_PROGRESS``), a replacing Update is cleaning up
(``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS``), an Update is rolling back
(``UPDATE_ROLLBACK_IN_PROGRESS``), the resource was removed from the template. The guard tells
these apart with ``cloudformation:DescribeStacks``; :func:`put_stack` makes moto answer that
call for a given stack id with a given status.

An Update's cleanup deletes what the new template no longer has. While it runs, the stack's
template (``GetTemplate``) is the new one and the resources it removes are still the stack's
(``ListStackResources``): :func:`replace_template` models that on a stack moto created (whose
resources, an ``AWS::Neptune::DBCluster`` or ``AWS::Glue::MLTransform`` among them, see
:mod:`jobjanitor_testbed.moto_cfn`, stay listed).

moto's backends live in this process (the test bed's AWS server runs moto's WSGI app in a
thread), so the stack is written into moto's CloudFormation backend directly: ``CreateStack``
cannot choose the stack id, and the id must be the one in the request's ``StackId``.
"""

from __future__ import annotations

import json
import re
import warnings

from moto.cloudformation.models import Stack, cloudformation_backends

__all__ = ["is_stack_arn", "put_stack", "replace_template", "stack_status"]

_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:([a-z0-9-]+):(\d{12}):stack/([^/]+)/[^/]+$")
_TEMPLATE = json.dumps({"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})


def is_stack_arn(value: object) -> bool:
    return isinstance(value, str) and bool(_STACK_ARN.match(value))


def put_stack(stack_id: str, status: str, tags: dict[str, str] | None = None) -> None:
    """Make moto know the stack ``stack_id`` (an ARN) with ``status`` (created if needed)."""
    match = _STACK_ARN.match(stack_id)
    if not match:
        raise ValueError(f"not a stack ARN: {stack_id!r}")
    region, account, name = match.groups()
    backend = cloudformation_backends[account][region]
    stack = backend.stacks.get(stack_id)
    if stack is None:
        # Built directly: CreateStack cannot choose the id, and refuses a second live stack of
        # the same name (stack_id() names every stack "consumer").
        with warnings.catch_warnings():  # moto warns that it does not model the placeholder resource
            warnings.simplefilter("ignore", UserWarning)
            stack = Stack(
                stack_id=stack_id,
                name=name,
                template=_TEMPLATE,
                parameters={},
                account_id=account,
                region_name=region,
                tags=tags or {},
            )
        backend.stacks[stack_id] = stack
    stack.status = status


def stack_status(stack_id: str) -> str | None:
    """The status moto holds for ``stack_id``, or None."""
    match = _STACK_ARN.match(stack_id)
    if not match:
        return None
    region, account, _ = match.groups()
    stack = cloudformation_backends[account][region].stacks.get(stack_id)
    return None if stack is None else str(stack.status)


def replace_template(stack_id: str, body: str) -> None:
    """From now on ``GetTemplate`` answers ``body`` (JSON or YAML text, as it was submitted) for
    the stack, whose resources stay as they are: an Update's new template, before its cleanup
    has deleted what the template no longer has."""
    match = _STACK_ARN.match(stack_id)
    if not match:
        raise ValueError(f"not a stack ARN: {stack_id!r}")
    region, account, _ = match.groups()
    cloudformation_backends[account][region].stacks[stack_id].template = body
