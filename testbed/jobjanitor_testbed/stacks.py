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
A stack may also name resources (logical id, type, physical id) that ``DescribeStackResource``
answers, as the teardown hook reads them: they are named, never created.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import botocore.session
from moto.cloudformation.models import Stack, cloudformation_backends

__all__ = ["STACK_STATUSES", "is_stack_arn", "put_stack", "replace_template", "stack_status"]

_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:([a-z0-9-]+):(\d{12}):stack/([^/]+)/[^/]+$")
_TEMPLATE = json.dumps({"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
# Every status CloudFormation's API can report (its own model's enum).
STACK_STATUSES = frozenset(
    botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum
)


@dataclass
class _NamedResource:
    """A stack's resource as DescribeStackResource reports it (moto reads these attributes)."""

    logical_resource_id: str
    cf_resource_type: str
    physical_resource_id: str

    def delete(self, account_id: str, region_name: str) -> None:
        """Named, never created: deleting the stack leaves the real resource to its owner."""


def is_stack_arn(value: object) -> bool:
    return isinstance(value, str) and bool(_STACK_ARN.match(value))


def put_stack(
    stack_id: str,
    status: str,
    tags: dict[str, str] | None = None,
    *,
    resources: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Make moto know the stack ``stack_id`` (an ARN) with ``status`` (created if needed),
    and ``tags`` and ``resources`` (logical id -> (type, physical id)) when given."""
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
    if tags:
        stack.tags = dict(tags)
    if resources:
        _name_resources(stack, resources)


def _name_resources(stack: Stack, resources: Mapping[str, tuple[str, str]]) -> None:
    """Give ``stack`` these resources, named only. moto lists a stack's resources from its
    template's keys and resolves each through the parsed-resource cache, which is filled here
    so moto never tries to create them."""
    resource_map = stack.resource_map
    listed = resource_map._resource_json_map
    listed.pop("Handle", None)  # the placeholder of a stack put without resources
    for logical_id, (resource_type, physical_id) in resources.items():
        listed[logical_id] = {"Type": resource_type}
        resource_map._parsed_resources[logical_id] = _NamedResource(logical_id, resource_type, physical_id)
    stack.template = json.dumps({"Resources": dict(listed)})


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
