"""The sweeper as deployed: its handler run from the built artifact alone (function code plus
the trimmed layer, no site-packages), tracing on, against the test bed. Catches a botocore model
or a Powertools module the build dropped but a sweep needs (imports inside functions included)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from artifact import built

EVENT = Path(__file__).resolve().parents[2] / "events" / "sweeper-scheduler.json"

CHILD = """
import json, time
started = time.monotonic()

class Context:
    function_name = "jobjanitor-sweeper"
    memory_limit_in_mb = 256
    aws_request_id = "artifact-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:jobjanitor-sweeper"
    def get_remaining_time_in_millis(self):
        return int((started + 300 - time.monotonic()) * 1000)

from jobjanitor.handlers.sweeper import lambda_handler
result = lambda_handler(json.loads({event!r}), Context())
import sys
print("RESULT", json.dumps(result, default=str))
print("XRAY", "aws_xray_sdk.ext.botocore.patch" in sys.modules)
"""


@pytest.mark.skipif(not built.is_built(), reason="no built artifact: run `make build` (`make test` does)")
def test_a_scheduled_sweep_runs_from_the_built_artifact_with_tracing_on(
    sweeper_env: Any, seed_aged: Callable[..., Any]
) -> None:
    aged = seed_aged()
    out = built.run_python(
        CHILD.format(event=EVENT.read_text()),
        path=built.lambda_path("SweeperFunction"),
        env={
            "POWERTOOLS_TRACE_DISABLED": "false",
            "LAMBDA_TASK_ROOT": str(built.function_dir("SweeperFunction")),  # Powertools traces in Lambda only
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",  # no Lambda trace header or X-Ray daemon here
        },
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("RESULT ", "XRAY ")))
    result = json.loads(lines["RESULT"])
    assert result["ok"] is True, result
    assert int(result["summary"]["Cancelled"]) == aged.count("old")
    assert lines["XRAY"] == "True"
