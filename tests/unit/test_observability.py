"""Tracing off skips the X-Ray SDK entirely; tracing on uses Powertools' Tracer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import sys, jobjanitor.handlers.guard as g, jobjanitor.observability as o;"
    "print(type(o.tracer).__name__, 'aws_xray_sdk.core' in sys.modules)"
)


@pytest.mark.parametrize(("disabled", "expected"), [("true", "_Untraced False"), ("false", "Tracer True")])
def test_tracer_follows_powertools_trace_disabled(disabled: str, expected: str) -> None:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": disabled, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == expected
