"""Tracing off skips the X-Ray SDK entirely; tracing on uses Powertools' Tracer, built on the
first invocation rather than at import (the import is on every cold start's path)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import sys, types
import jobjanitor.handlers.guard as g, jobjanitor.observability as o
print(type(o.tracer).__name__, 'aws_xray_sdk.core' in sys.modules)
context = types.SimpleNamespace(function_name="guard", memory_limit_in_mb=256, aws_request_id="r-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:guard")
g.lambda_handler({"RequestType": "Delete"}, context)  # no ResponseURL: logged, nothing to answer
patched = 'aws_xray_sdk.ext.botocore.patch' in sys.modules
print('aws_xray_sdk.core' in sys.modules, patched)
"""


@pytest.mark.parametrize(
    ("disabled", "expected"),
    [("true", ["_Untraced False", "False False"]), ("false", ["_LazyTracer False", "True True"])],
)
def test_tracer_follows_powertools_trace_disabled_and_loads_on_first_invocation(
    disabled: str, expected: list[str]
) -> None:
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": disabled,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",  # no X-Ray daemon or Lambda segment here
        "LAMBDA_TASK_ROOT": os.getcwd(),  # Powertools disables its Tracer outside Lambda
    }
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    printed = [line for line in out.stdout.splitlines() if not line.startswith("{")]  # EMF lines apart
    assert printed == expected, out.stderr
