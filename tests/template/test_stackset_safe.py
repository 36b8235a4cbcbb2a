"""template.yaml is StackSet-safe (docs/organization.md): the template a StackSet deploys (SAM's
translator run on it, as scripts/stackset_template.py does) rendered for two Regions of one
account sets no account-wide name twice, its exports are regional, and nothing in it names a
Region, an account or a partition."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.template.cfn_render import ACCOUNT_WIDE, EXPORT, REGIONAL, Render, Where, clashes, stackset
from tests.template.conftest import TEMPLATE, load_cfn

REPO = Path(__file__).resolve().parents[2]
SAM_PYTHON = REPO / ".tools" / "sam" / "bin" / "python"
SCRIPT = REPO / "scripts" / "stackset_template.py"
PREFIX = "jobjanitor-artifacts-999988887777"
ACCOUNT = "111122223333"
# Stack instances are named StackSet-<StackSet name>-<UUID>: a name per account and Region.
EU = Where(ACCOUNT, "eu-west-1", "StackSet-jobjanitor-6f1c2a9e-1b7d-4c55-9a0e-2f4b8d3c7e11")
US = Where(ACCOUNT, "us-east-2", "StackSet-jobjanitor-0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f66")
REQUIRED = {
    "InstallTemplateUrl": f"https://{PREFIX}-eu-west-1.s3.eu-west-1.amazonaws.com/install.json",
    "OrganizationalUnitIds": "ou-ab12-cd34ef56",
    "Regions": "eu-west-1,us-east-2",
}


def packaged(region: str = "eu-west-1", prefix: str = PREFIX) -> str:
    """template.yaml as `sam package --s3-bucket <prefix>-<region>` leaves it: the code and the SAR
    files replaced by S3 URIs (keys are content hashes)."""
    text = TEMPLATE.read_text()
    bucket = f"s3://{prefix}-{region}/jobjanitor"
    for local, key in (
        ("    CodeUri: functions/\n", "    CodeUri: {}/5d41402abc4b2a76b9719d911017c592\n"),
        ("      ContentUri: artifact/\n", "      ContentUri: {}/7d793037a0760186574b0282f2f435e7\n"),
        ("    LicenseUrl: LICENSE\n", "    LicenseUrl: {}/3b5d5c3712955042212316173ccf37be\n"),
        ("    ReadmeUrl: README.md\n", "    ReadmeUrl: {}/2cd6ee2c70b0bde53fbe6cac3c8b8bb1\n"),
    ):
        assert text.count(local) == 1, f"template.yaml no longer has {local.strip()!r}: update this test"
        text = text.replace(local, key.format(bucket))
    return text


def run_script(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    if not SAM_PYTHON.exists():
        pytest.skip("needs SAM CLI's environment with its translator: make tools")
    (tmp / "packaged.yaml").write_text(text)
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [SAM_PYTHON, SCRIPT, tmp / "packaged.yaml", "--code-bucket-prefix", PREFIX, "--output", tmp / "install.json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The install template the StackSet's TemplateURL names."""
    tmp = tmp_path_factory.mktemp("stackset")
    result = run_script(tmp, packaged())
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads((tmp / "install.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def org_values() -> dict[str, str]:
    """What examples/organization/stackset.yaml passes every account's install."""
    return stackset(load_cfn(REPO / "examples" / "organization" / "stackset.yaml"), REQUIRED, EU)[1]


def standalone(**values: str) -> dict[str, str]:
    return {"TeardownHook": "Warn", **values}


def test_the_install_needs_no_macro_and_names_no_region_account_or_partition(install: dict[str, Any]) -> None:
    assert "Transform" not in install
    kinds = {r["Type"] for r in install["Resources"].values()}
    assert not {k for k in kinds if k.startswith("AWS::Serverless::")}
    assert {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::CloudFormation::LambdaHook"} <= kinds
    # Lambda reads code only from its own Region: each Region's bucket, one name pattern.
    code = [
        r["Properties"]["Code" if r["Type"] == "AWS::Lambda::Function" else "Content"]
        for r in install["Resources"].values()
        if r["Type"] in {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion"}
    ]
    assert len(code) == 4  # guard, sweeper, hook, the layer
    assert all(c["S3Bucket"] == {"Fn::Sub": f"{PREFIX}-${{AWS::Region}}"} for c in code)
    text = json.dumps(install).replace(f"{PREFIX}-${{AWS::Region}}", "")
    assert not re.search(r"[a-z]{2}(-[a-z]+)+-[0-9]", text), "a Region in the install"
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text), "an account id in the install"
    assert "arn:aws:" not in text, "a partition in the install (use ${AWS::Partition})"
    assert "Fn::ImportValue" not in text, "the install depends on another stack's export"
    # template.yaml itself too (what sam deploy and the SAR install use).
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]\b", TEMPLATE.read_text())


def test_the_install_lints_clean_in_every_region_it_targets(install: dict[str, Any]) -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(install), config=ManualArgs(regions=[EU.region, US.region, "ap-southeast-2"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("setting", ["organization", "standalone"])
def test_two_regions_of_one_account_share_no_account_wide_name(
    install: dict[str, Any], org_values: dict[str, str], setting: str
) -> None:
    values = org_values if setting == "organization" else standalone()
    eu, us = Render(install, values, EU), Render(install, values, US)
    assert eu.condition("HookOn"), "render the hook too"
    assert clashes(eu, us) == set()
    # Stronger: the install sets no account-wide name at all (IAM names are generated).
    assert [n for n in eu.names() if n.scope == ACCOUNT_WIDE] == []
    # Not vacuous: the regional names are there (with a NamePrefix, the same in both Regions).
    regional = {(n.namespace, n.value) for n in eu.names()}
    assert ("AWS::CloudFormation::LambdaHook.Alias", "JobJanitor::Teardown::Hook") in regional
    assert len(regional) == 9  # 3 functions, 3 log groups, KMS alias, hook alias, export
    if setting == "organization":
        assert regional == {(n.namespace, n.value) for n in us.names()}


def test_exports_are_regional_and_one_name_in_every_account_and_region(
    install: dict[str, Any], org_values: dict[str, str]
) -> None:
    for where in (EU, US, Where("444455556666", "ap-southeast-2", "StackSet-jobjanitor-x")):
        exports = [n for n in Render(install, org_values, where).names() if n.namespace == EXPORT]
        assert [(n.scope, n.logical_id, n.value) for n in exports] == [
            (REGIONAL, "GuardServiceToken", "jobjanitor-ServiceToken")
        ]
    # A standalone install keeps its stack-named export (the default NamePrefix is empty).
    exports = [n for n in Render(install, standalone(), EU).names() if n.namespace == EXPORT]
    assert [n.value for n in exports] == [f"{EU.stack}-ServiceToken"]


def test_names_fit_lambda_and_stay_backward_compatible(install: dict[str, Any], org_values: dict[str, str]) -> None:
    org = {n.value for n in Render(install, org_values, EU).names()}
    assert {"jobjanitor-guard", "jobjanitor-sweeper", "jobjanitor-hook", "/aws/lambda/jobjanitor-hook"} <= org
    assert "alias/jobjanitor-jobjanitor" in org
    # Without NamePrefix, the names a stack called "jobjanitor" always had.
    plain = {n.value for n in Render(install, standalone(), Where(ACCOUNT, "eu-west-1", "jobjanitor")).names()}
    assert {"jobjanitor-guard", "jobjanitor-sweeper", "/aws/lambda/jobjanitor-guard"} <= plain
    assert {"alias/jobjanitor-jobjanitor", "jobjanitor-ServiceToken"} <= plain
    longest = Render(install, {**org_values, "NamePrefix": "a" * 56}, EU).names()
    assert max(len(n.value) for n in longest if n.namespace == "AWS::Lambda::Function.FunctionName") == 64


def test_two_installs_in_one_region_collide_only_on_the_hook_alias(install: dict[str, Any]) -> None:
    """Clusters in another VPC need another install (docs/deploy.md), maybe next to the StackSet's."""
    first = Render(install, standalone(), Where(ACCOUNT, "eu-west-1", "jobjanitor"))
    second = Render(install, {"TeardownHook": "Disabled"}, Where(ACCOUNT, "eu-west-1", "jobjanitor-analytics"))
    assert clashes(first, second) == set()
    # One hook per account and Region (the alias): a second install turns its hook on only with its own alias.
    both_hooks = Render(install, standalone(), Where(ACCOUNT, "eu-west-1", "jobjanitor-analytics"))
    assert clashes(first, both_hooks) == {("AWS::CloudFormation::LambdaHook.Alias", "JobJanitor::Teardown::Hook")}
    own_alias = Render(
        install, standalone(TeardownHookAlias="JobJanitor::Analytics::Hook"), Where(ACCOUNT, "eu-west-1", "x")
    )
    assert clashes(first, own_alias) == set()


def test_a_fixed_account_wide_name_is_found_and_a_regional_one_is_not(
    install: dict[str, Any], org_values: dict[str, str]
) -> None:
    colliding = copy.deepcopy(install)
    colliding["Resources"]["HookExecutionRole"]["Properties"]["RoleName"] = "jobjanitor-hook-invoker"
    assert clashes(Render(colliding, org_values, EU), Render(colliding, org_values, US)) == {
        ("AWS::IAM::Role.RoleName", "jobjanitor-hook-invoker")
    }
    regional = copy.deepcopy(install)
    regional["Resources"]["HookExecutionRole"]["Properties"]["RoleName"] = {
        "Fn::Sub": "jobjanitor-hook-invoker-${AWS::Region}"
    }
    assert clashes(Render(regional, org_values, EU), Render(regional, org_values, US)) == set()
    # A name SAM would give (its schedule's logical id) collides between two installs of one Region.
    named = copy.deepcopy(install)
    named["Resources"]["SweeperFunctionSchedule"]["Properties"]["Name"] = "SweeperFunctionSchedule"
    assert clashes(Render(named, org_values, EU), Render(named, {}, Where(ACCOUNT, "eu-west-1", "other"))) == {
        ("AWS::Scheduler::Schedule.Name", "default/SweeperFunctionSchedule")
    }


def test_a_resource_type_nobody_classified_fails_the_check(install: dict[str, Any], org_values: dict[str, str]) -> None:
    unknown = copy.deepcopy(install)
    unknown["Resources"]["Extra"] = {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/jobjanitor/x"}}
    with pytest.raises(AssertionError, match=r"AWS::SSM::Parameter is not classified"):
        Render(unknown, org_values, EU).names()


def test_the_script_refuses_code_outside_a_regional_bucket(tmp_path: Path) -> None:
    result = run_script(tmp_path, packaged(prefix="somewhere-else"))
    assert result.returncode == 1
    assert f"expected the code in one bucket named {PREFIX}-<region>" in result.stderr
    assert not (tmp_path / "install.json").exists()
