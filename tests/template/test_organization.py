"""examples/organization/: the StackSet an administrator deploys (docs/organization.md), and how
its parameters flow into every account's install (template.yaml)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.template.cfn_render import Where, stackset
from tests.template.conftest import load_cfn

ORG = Path(__file__).resolve().parents[2] / "examples" / "organization"
ADMIN = Where(account="999988887777", region="eu-west-1", stack="jobjanitor-stackset")
# What an administrator must give (the rest has defaults).
REQUIRED = {
    "InstallTemplateUrl": "https://jobjanitor-artifacts-999988887777-eu-west-1.s3.eu-west-1.amazonaws.com/install.json",
    "OrganizationalUnitIds": "ou-ab12-cd34ef56,ou-ab12-0011aabb",
    "Regions": "eu-west-1,us-east-2",
}


@pytest.fixture(scope="module")
def stackset_template() -> dict[str, Any]:
    return load_cfn(ORG / "stackset.yaml")


@pytest.fixture(scope="module")
def rendered(stackset_template: dict[str, Any]) -> dict[str, Any]:
    return stackset(stackset_template, REQUIRED, ADMIN)[0]


@pytest.fixture(scope="module")
def passed(stackset_template: dict[str, Any]) -> dict[str, str]:
    return stackset(stackset_template, REQUIRED, ADMIN)[1]


def fits(value: str, declaration: dict[str, Any]) -> str | None:
    """Why CloudFormation would refuse ``value`` for a parameter so declared, or None."""
    items = value.split(",") if "CommaDelimitedList" in declaration["Type"] else [value]
    for item in items:
        if "AllowedValues" in declaration and item not in [str(v) for v in declaration["AllowedValues"]]:
            return f"{item!r} is not among {declaration['AllowedValues']}"
        if "AllowedPattern" in declaration and not re.fullmatch(declaration["AllowedPattern"], item):
            return f"{item!r} does not match {declaration['AllowedPattern']}"
    if declaration["Type"] == "Number":
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
            return f"{value!r} is not a number"
        if not declaration.get("MinValue", float("-inf")) <= float(value) <= declaration.get("MaxValue", float("inf")):
            return f"{value} is outside {declaration.get('MinValue')}..{declaration.get('MaxValue')}"
    return None


def outer_values(declaration: dict[str, Any]) -> list[str]:
    """Every value an administrator's parameter can take that a test can enumerate: its allowed
    values, else its default."""
    if "AllowedValues" in declaration:
        return [str(v) for v in declaration["AllowedValues"]]
    return [str(declaration["Default"])]


def test_the_stackset_is_service_managed_and_follows_the_organization(
    stackset_template: dict[str, Any], rendered: dict[str, Any]
) -> None:
    assert rendered["PermissionModel"] == "SERVICE_MANAGED"
    assert rendered["AutoDeployment"]["Enabled"] is True
    # A deliberate choice, explained in the template and in docs/organization.md.
    assert rendered["AutoDeployment"]["RetainStacksOnAccountRemoval"] is True
    # A delegated administrator must say so; the management account says SELF.
    call_as = stackset_template["Parameters"]["CallAs"]
    assert rendered["CallAs"] == "DELEGATED_ADMIN" == call_as["Default"]
    assert sorted(call_as["AllowedValues"]) == ["DELEGATED_ADMIN", "SELF"]
    (group,) = rendered["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": ["ou-ab12-cd34ef56", "ou-ab12-0011aabb"]}
    assert group["Regions"] == ["eu-west-1", "us-east-2"]
    # Per-account values are instance overrides (update-stack-instances): an OU-wide override in the
    # group would reset them whenever it changes, so there is none.
    assert "ParameterOverrides" not in group
    preferences = rendered["OperationPreferences"]
    tolerance, concurrency = int(preferences["FailureTolerancePercentage"]), int(preferences["MaxConcurrentPercentage"])
    assert 0 <= tolerance <= 100
    # StackSets never works on more accounts at once than may fail, plus one.
    assert 1 <= concurrency <= tolerance + 1
    assert preferences["RegionOrder"] == group["Regions"]
    assert rendered["TemplateURL"] == REQUIRED["InstallTemplateUrl"]
    # IAM roles with generated names only; never CAPABILITY_AUTO_EXPAND: a service-managed
    # StackSet runs no macros, which is why the install template comes expanded.
    assert rendered["Capabilities"] == ["CAPABILITY_IAM"]


def test_every_parameter_the_stackset_passes_fits_the_install(
    template: dict[str, Any], stackset_template: dict[str, Any], rendered: dict[str, Any]
) -> None:
    install = template["Parameters"]
    outer = stackset_template["Parameters"]
    raw_values = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in stackset_template["Resources"]["JobJanitorStackSet"]["Properties"]["Parameters"]
    }
    for parameter in rendered["Parameters"]:
        key = parameter["ParameterKey"]
        assert key in install, f"the StackSet passes {key}, which template.yaml does not declare"
        raw = raw_values[key]
        if isinstance(raw, str):  # a literal
            assert fits(raw, install[key]) is None, f"{key}: {fits(raw, install[key])}"
            continue
        # The administrator's own parameter (maybe joined from a list): every value it may take fits.
        (source,) = re.findall(r"'Ref': '([A-Za-z0-9]+)'", str(raw))
        declaration = outer[source]
        for value in outer_values(declaration):
            assert fits(value, install[key]) is None, f"{key} <- {source}={value!r}: {fits(value, install[key])}"
        for constraint in ("AllowedPattern", "AllowedValues"):
            if constraint in install[key] and "AllowedValues" not in declaration:
                assert declaration.get(constraint) == install[key][constraint], (
                    f"{key} <- {source}: the install constrains it ({constraint}); so must the StackSet's parameter"
                )
        if install[key]["Type"] == "Number":
            assert declaration["Type"] == "Number", f"{key} <- {source}: a Number from a {declaration['Type']}"


def test_every_install_parameter_without_a_default_is_passed(template: dict[str, Any], passed: dict[str, str]) -> None:
    required = {name for name, declaration in template["Parameters"].items() if "Default" not in declaration}
    assert required <= set(passed), f"needed by the install, not passed: {required - set(passed)}"


def test_per_account_values_are_overrides_of_parameters_the_stackset_passes(
    template: dict[str, Any], passed: dict[str, str]
) -> None:
    overrides = json.loads((ORG / "account-overrides.example.json").read_text())
    keys = [o["ParameterKey"] for o in overrides]
    # A stack instance can override only what the StackSet specifies.
    assert set(keys) <= set(passed)
    # What differs per account is all there: clusters, subnets, security groups, alarm e-mail.
    assert {"NeptuneClusterResourceIds", "SubnetIds", "SecurityGroupIds", "AlarmEmail"} <= set(keys)
    for override in overrides:
        declaration = template["Parameters"][override["ParameterKey"]]
        assert fits(override["ParameterValue"], declaration) is None, override


def test_every_account_gets_one_name_prefix_and_settings_that_touch_nothing_until_overridden(
    template: dict[str, Any], passed: dict[str, str]
) -> None:
    assert passed["NamePrefix"] == "jobjanitor"  # consumers import jobjanitor-ServiceToken everywhere
    assert fits(passed["NamePrefix"], template["Parameters"]["NamePrefix"]) is None
    assert passed["DryRun"] == "true"
    for per_account in ("NeptuneClusterResourceIds", "SubnetIds", "SecurityGroupIds", "GlueTransformIds"):
        assert passed[per_account] == "", per_account


def test_the_hook_starts_in_a_mode_that_never_blocks_a_deletion(
    template: dict[str, Any], stackset_template: dict[str, Any], passed: dict[str, str]
) -> None:
    modes = template["Parameters"]["TeardownHook"]["AllowedValues"]
    outer = stackset_template["Parameters"]["TeardownHook"]
    # The StackSet offers exactly the install's modes, and starts with the one that only reports
    # (Audit, where template.yaml has it), else Warn; never Fail (docs/organization.md, "Rollout").
    assert set(outer["AllowedValues"]) == set(modes), "examples/organization/stackset.yaml: TeardownHook's values"
    expected = "Audit" if "Audit" in modes else "Warn"
    assert passed["TeardownHook"] == expected, f"stackset.yaml: TeardownHook defaults to {expected}"
    assert outer["Default"] != "Fail"


def test_the_artifacts_bucket_is_one_per_region_and_only_the_organization_reads_it() -> None:
    artifacts = load_cfn(ORG / "artifacts.yaml")
    bucket = artifacts["Resources"]["ArtifactsBucket"]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": "${BucketPrefix}-${AWS::Region}"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = artifacts["Resources"]["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (read,) = [s for s in statements if s["Effect"] == "Allow"]
    assert read["Action"] == "s3:GetObject"
    assert read["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
