"""samconfig.toml respects the user's region, configures sync for dev, and its environments
name only template parameters (the placeholders fail the template's checks)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

SAMCONFIG = tomllib.loads((REPO / "samconfig.toml").read_text())


def overrides(command: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in command["parameters"]["parameter_overrides"])


def test_no_region_is_pinned() -> None:
    for env, commands in SAMCONFIG.items():
        if isinstance(commands, dict):
            for command, section in commands.items():
                assert "region" not in section.get("parameters", {}), f"{env}.{command} pins a region"


def test_dev_is_synced_to_its_own_stack_with_the_deploy_parameters() -> None:
    dev = SAMCONFIG["dev"]
    sync = dev["sync"]["parameters"]
    assert (
        sync["stack_name"]
        == dev["deploy"]["parameters"]["stack_name"]
        != SAMCONFIG["prod"]["deploy"]["parameters"]["stack_name"]
    )
    assert "CAPABILITY_AUTO_EXPAND" in sync["capabilities"]
    assert overrides(dev["sync"]) == overrides(dev["deploy"])
    assert "sync" not in SAMCONFIG["prod"]


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_environments_name_template_parameters_and_leave_placeholders_that_fail(
    env: str, template: dict[str, Any]
) -> None:
    values = overrides(SAMCONFIG[env]["deploy"])
    assert set(values) <= set(template["Parameters"])
    assert "ReservedConcurrency" not in values  # the template's default is sized for a new account
    clusters = values.get("NeptuneClusterResourceIds")
    if env != "default":
        assert clusters is not None
        assert clusters.startswith("<")
        pattern = template["Parameters"]["NeptuneClusterResourceIds"]["AllowedPattern"]
        assert not any(re.fullmatch(pattern, item) for item in clusters.split(","))
