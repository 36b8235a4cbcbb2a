"""One lock: uv.lock pins the runtime and dev sets, .venv is exactly it, the tool pins are single
exact pins Dependabot can update, and the build's model list comes from the code's clients."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.utils import canonicalize_name

from artifact import build
from artifact.lockfile import LAMBDA_ENVIRONMENT, PROJECT, locked_versions

ROOT = Path(__file__).resolve().parents[2]


def test_the_runtime_set_is_pinned_whole_for_the_lambda() -> None:
    runtime = locked_versions(environment=LAMBDA_ENVIRONMENT)
    # The direct dependencies and the transitive ones that used to float (botocore above all).
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "aws-lambda-powertools"):
        assert name in runtime
    assert "wrapt" in runtime  # aws-xray-sdk's, the one compiled package: built for aarch64
    assert "crhelper" not in runtime  # the protocol is ours (docs/design.md)
    assert runtime["boto3"].split(".")[:2] == runtime["botocore"].split(".")[:2]
    lock = (ROOT / "uv.lock").read_text()
    for name, version in runtime.items():
        entry = re.search(rf'name = "{re.escape(name)}"\nversion = "{re.escape(version)}"\n(.*?)\n\n', lock, re.S)
        assert entry, f"{name} {version} is not in uv.lock"
        assert "sha256:" in entry.group(1), f"{name} {version} has no hashes in uv.lock"


def test_the_venv_holds_exactly_the_locked_runtime_and_dev_sets() -> None:
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in importlib.metadata.distributions(path=[p for p in sys.path if p.endswith("site-packages")])
    }
    installed.pop(canonicalize_name(PROJECT))
    assert installed == locked_versions(["dev"], default_environment()), "run `make venv` (or `make lock`)"


def test_tool_pins_are_single_exact_pins() -> None:
    for name, package in (("sam-cli", "aws-sam-cli"), ("checkov", "checkov"), ("uv", "uv")):
        lines = [x for x in (ROOT / "tools" / f"{name}.txt").read_text().splitlines() if x and not x.startswith("#")]
        assert len(lines) == 1, lines
        assert re.fullmatch(rf"{package}==[0-9][0-9a-z.]*", lines[0]), lines


def test_dependabot_updates_the_lock_and_the_tools_weekly_in_groups() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    by_ecosystem = {(u["package-ecosystem"], u["directory"]): u for u in config["updates"]}
    for key in (("uv", "/"), ("pip", "/tools")):
        update = by_ecosystem[key]
        assert update["schedule"]["interval"] == "weekly"
        assert any(group["patterns"] == ["*"] for group in update["groups"].values()), key


def test_kept_models_are_every_client_the_code_creates_and_the_libraries() -> None:
    found = build.client_services()
    assert {"neptunedata", "glue", "dynamodb", "cloudformation"} <= set(found)
    assert build.kept_services() == sorted(set(found) | set(build.LIBRARY_SERVICES))


def test_a_new_client_is_seen_and_a_computed_service_name_stops_the_build(tmp_path: Path) -> None:
    package = tmp_path / "jobjanitor"
    package.mkdir()
    (package / "a.py").write_text('import boto3\nneptune = boto3.session.Session().client("neptune")\n')
    assert build.client_services(package) == {"neptune": ["jobjanitor/a.py:2"]}
    (package / "b.py").write_text("import boto3\nname = 'sage' + 'maker'\nclient = boto3.client(name)\n")
    with pytest.raises(build.BuildError, match=r"jobjanitor/b.py:3: client\(\) with a service name"):
        build.client_services(package)
