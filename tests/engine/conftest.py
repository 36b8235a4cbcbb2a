"""Fixtures for the engine tests: policies and janitor clients pointed at the test bed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from jobjanitor.clients import Clients, build_clients
from jobjanitor.policy import Policy
from jobjanitor_testbed.scenario import create_transform
from jobjanitor_testbed.server import TestBed

REGION = "us-east-1"


@pytest.fixture
def make_policy(aws_env: TestBed) -> Callable[..., Policy]:
    """``make_policy(**build_kwargs)``: a Policy for the test bed (Neptune endpoint preset)."""

    def make(**kwargs: Any) -> Policy:
        kwargs.setdefault("neptune_endpoint", aws_env.neptune_url)
        kwargs.setdefault("max_wait", 20)
        return Policy.build(**kwargs)

    return make


@pytest.fixture
def make_clients(aws_env: TestBed) -> Callable[[Policy], Clients]:
    """The janitor's own clients (its retry policy), back-off scaled down so tests stay quick;
    Glue found the standard boto3 way (AWS_ENDPOINT_URL from ``aws_env``)."""

    def make(policy: Policy) -> Clients:
        return build_clients(policy, session=boto3.session.Session(), backoff_scale=0.01)

    return make


@pytest.fixture
def transform(aws_env: TestBed) -> str:
    """A Glue ML transform named ``jj-transform``."""
    return create_transform(boto3.client("glue", region_name=REGION), "jj-transform")
