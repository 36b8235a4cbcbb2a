"""The artifact `make build` produced (.aws-sam/build): the layer holds exactly the lock's
runtime set for the arm64 Lambda, only the botocore models the code's clients need, and every
module precompiled for Python 3.13 as an unchecked-hash pyc; the handlers import from it alone.

`make test` builds before it runs pytest; run `make build` after changing code or the lock."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from artifact import build, built
from artifact.lockfile import LAMBDA_ENVIRONMENT, locked_versions

if not built.is_built():
    if os.environ.get("CI"):
        pytest.fail("no built artifact: `make test` runs `make build` before pytest", pytrace=False)
    pytest.skip("no built artifact: run `make build`", allow_module_level=True)

SITE = built.layer_site()


def _metadata_field(dist_info: Path, field: str) -> str:
    for line in (dist_info / "METADATA").read_text().splitlines():
        if line.startswith(f"{field}: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"{dist_info} has no {field}")


def test_the_layer_holds_exactly_the_locked_runtime_set() -> None:
    installed = {
        canonicalize_name(_metadata_field(d, "Name")): _metadata_field(d, "Version") for d in SITE.glob("*.dist-info")
    }
    assert installed == locked_versions(environment=LAMBDA_ENVIRONMENT), "rebuild: `make build`"


def test_compiled_packages_are_built_for_the_arm64_lambda() -> None:
    extensions = list(SITE.rglob("*.so"))
    assert extensions, "wrapt ships a C extension for aarch64"
    assert all(p.name.endswith("-aarch64-linux-gnu.so") and ".cpython-313-" in p.name for p in extensions), extensions


def test_functions_hold_only_their_own_code() -> None:
    for function in built.FUNCTIONS:
        assert sorted(p.name for p in built.function_dir(function).iterdir()) == ["jobjanitor"]


def test_the_layer_keeps_exactly_the_botocore_models_the_code_uses() -> None:
    models = sorted(p.name for p in (SITE / "botocore" / "data").iterdir() if p.is_dir())
    assert models == build.kept_services(), "rebuild: `make build`"
    assert {p.name for p in (SITE / "botocore" / "data").iterdir() if p.is_file()} == set(build.BOTOCORE_DATA_FILES)


def _sources(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*.py")]


def test_every_module_is_precompiled_for_313_as_an_unchecked_hash_pyc() -> None:
    sources = _sources(SITE, *(built.function_dir(f) for f in built.FUNCTIONS))
    assert len(sources) > 300
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"{source} has no 3.13 bytecode"
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source; unchecked-hash = 0b01.
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{pyc} is not an unchecked-hash pyc"
        assert header[8:16] == importlib.util.source_hash(source.read_bytes()), f"{pyc} is stale"


PROBE = """
import importlib, sys
handler = importlib.import_module({module!r})
assert callable(handler.lambda_handler)
import boto3, botocore, aws_lambda_powertools
print(handler.__file__, boto3.__file__, botocore.__file__, aws_lambda_powertools.__file__, sep="\\n")
"""


@pytest.mark.parametrize("function", built.FUNCTIONS)
def test_each_handler_imports_from_the_artifact_alone(function: str) -> None:
    path = built.lambda_path(function)
    code = PROBE.format(module=built.HANDLERS[function])
    out = built.run_python(code, path=path, env={"POWERTOOLS_TRACE_DISABLED": "false", "AWS_REGION": "us-east-1"})
    assert out.returncode == 0, out.stderr
    handler, *dependencies = out.stdout.split()
    assert handler.startswith(str(built.function_dir(function)))
    assert all(f.startswith(str(SITE)) for f in dependencies), dependencies


IMPORTED = """
import sys
import boto3
before = set(sys.modules)
import {module}
print(*sorted(set(sys.modules) - before))
"""


@pytest.mark.parametrize("function", built.FUNCTIONS)
def test_no_handler_imports_what_its_first_answer_does_not_need(function: str) -> None:
    """At 0.145 of a CPU (256 MB) every module a cold start imports costs ~7 times its time on a
    full core (docs/benchmarks.md): Powertools' event classes (~35 modules) are not among them."""
    code = IMPORTED.format(module=built.HANDLERS[function])
    out = built.run_python(code, path=built.lambda_path(function), env={"AWS_REGION": "us-east-1"})
    assert out.returncode == 0, out.stderr
    imported = out.stdout.split()
    assert [m for m in imported if m.startswith("aws_lambda_powertools.utilities.data_classes")] == []


GUARD_CLIENTS = """
import types
import jobjanitor.handlers.guard as handler
from jobjanitor.guard.app import app
context = types.SimpleNamespace(function_name="guard", memory_limit_in_mb=256, aws_request_id="r-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:guard")
handler.lambda_handler({"RequestType": "Delete"}, context)  # no ResponseURL: the guard is built, nothing answered
guard = app()
polling = [guard.polling.events_client, guard.polling.lambda_client]
dynamodb = guard.idempotency._cancel_step  # built with its DynamoDB persistence layer
print("CLIENTS", *sorted(c.meta.service_model.service_name for c in polling))
"""


def test_the_guard_builds_its_polling_and_idempotency_from_the_artifact_with_tracing_on() -> None:
    """The guard creates its polling clients when it is built and carries on without polling
    when that fails (protocol/polling.py): a botocore model the build dropped would go unnoticed."""
    out = built.run_python(
        GUARD_CLIENTS,
        path=built.lambda_path("GuardFunction"),
        env={
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "IDEMPOTENCY_TABLE_NAME": "jobjanitor-idempotency",
            "POWERTOOLS_TRACE_DISABLED": "false",
            "LAMBDA_TASK_ROOT": str(built.function_dir("GuardFunction")),
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        },
    )
    assert out.returncode == 0, out.stderr[-3000:]
    printed = [line for line in out.stdout.splitlines() if line.startswith("CLIENTS ")]
    assert printed == ["CLIENTS events lambda"], out.stdout + out.stderr[-3000:]


ALL_IMPORTED = """
import sys
import {module}
print(*sorted(sys.modules))
"""
# What only a first invocation needs: the function's own modules (the engine, its clients, the
# Neptune data API, Powertools' idempotency and boto3's DynamoDB helpers with it).
FIRST_INVOCATION = (
    "jobjanitor.engine",
    "jobjanitor.clients",
    "jobjanitor.lean_http",
    "jobjanitor.lean_model",
    "jobjanitor.kinds",
    "jobjanitor.clusters",
    "jobjanitor.guard",
    "jobjanitor.hook",
    "jobjanitor.sweeper",
    "aws_lambda_powertools.utilities.idempotency",
    "boto3.dynamodb",
)


@pytest.mark.parametrize("function", built.FUNCTIONS)
def test_a_handler_import_is_boto3_and_powertools_and_the_function_loads_on_its_first_invocation(
    function: str,
) -> None:
    """Lambda's init imports the handler: within 1.2x `import boto3` at 256 MB's CPU share
    (docs/build.md). It loads boto3 and Powertools' Logger, Metrics and Tracer; the function's own
    modules load on its first invocation (tests/sweeper/test_sweeper_artifact.py and the guard's
    test above invoke the handlers from the artifact)."""
    code = ALL_IMPORTED.format(module=built.HANDLERS[function])
    out = built.run_python(code, path=built.lambda_path(function), env={"AWS_REGION": "us-east-1"})
    assert out.returncode == 0, out.stderr
    imported = out.stdout.split()
    assert {"boto3", "botocore.client", "aws_lambda_powertools.logging", "aws_lambda_powertools.metrics"} <= set(
        imported
    )
    early = [m for m in imported if any(m == p or m.startswith(f"{p}.") for p in FIRST_INVOCATION)]
    assert early == []
