"""docs/deploy.md's networking, IAM and cost tables are true for template.yaml.

- IAM: one row per statement ``Sid`` (and per set of functions, where functions differ): the
  functions that have it and its exact actions, as the template grants them; "(only when
  `NeptuneClusterResourceIds` is set)" exactly on the statements under ``HasNeptune``.
- Networking: every AWS API a function is granted (so, by ``test_iam_drift``, every API its
  code calls) has a route for that function: the VPC endpoint of its service, or the
  security group rule to the cluster; plus S3 for the guard, which PUTs its answer to
  CloudFormation's presigned URL (not an SDK call).
- Cost: the Lambda memory, the number of alarms and of interface endpoints the table prices
  are the template's and the networking table's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_iam_drift import functions, granted_actions

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "docs" / "deploy.md"
FUNCTION_WORDS = {"guard": "GuardFunction", "sweeper": "SweeperFunction", "hook": "HookFunction"}
# IAM service prefix -> the route its API needs from inside a VPC (None: no route needed).
ROUTES: dict[str, str | None] = {
    "neptune-db": "security group",
    "rds": "rds",
    "glue": "glue",
    "sagemaker": "sagemaker.api",
    "dynamodb": "dynamodb",
    "events": "events",
    "lambda": "lambda",
    "cloudformation": "cloudformation",
    "kms": None,  # Lambda decrypts the environment itself, outside the VPC
}
NOT_SDK_ROUTES = {"GuardFunction": {"s3"}}  # crhelper PUTs the answer to the presigned S3 URL
GATEWAY = {"dynamodb", "s3"}
ONLY_WITH_NEPTUNE = "only when `NeptuneClusterResourceIds` is set"


def table(heading: str) -> list[dict[str, str]]:
    """The first Markdown table under ``heading`` in docs/deploy.md, as rows of column -> cell."""
    text = DEPLOY.read_text(encoding="utf-8")
    assert heading in text, f"docs/deploy.md has no section {heading!r}"
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    header, _rule, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def function_set(cell: str) -> set[str]:
    return {FUNCTION_WORDS[word] for word in re.findall(r"\b(guard|sweeper|hook)\b", cell)}


def sid_statements(document: Any, neptune_only: bool = False) -> list[tuple[dict[str, Any], bool]]:
    """(statement, under HasNeptune) for every statement of a policy document."""
    if isinstance(document, list):
        return [found for item in document for found in sid_statements(item, neptune_only)]
    if isinstance(document, dict) and "Fn::If" in document:
        condition, *branches = document["Fn::If"]
        return [found for b in branches for found in sid_statements(b, neptune_only or condition == "HasNeptune")]
    if isinstance(document, dict) and "Statement" in document:
        return sid_statements(document["Statement"], neptune_only)
    if isinstance(document, dict) and "Effect" in document:
        return [(document, neptune_only)]
    return []


def template_statements(resources: dict[str, Any]) -> dict[tuple[str, str], tuple[frozenset[str], bool]]:
    """(function, Sid) -> (actions, under HasNeptune)."""
    out = {}
    for name, function in functions(resources).items():
        for policy in function["Properties"].get("Policies", []):
            for statement, neptune_only in sid_statements(policy):
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert "Sid" in statement, f"{name}: a statement without a Sid cannot be documented: {statement}"
                out[(name, statement["Sid"])] = (frozenset(actions), neptune_only)
    return out


def test_the_iam_table_is_the_templates_statements(resources: dict[str, Any]) -> None:
    documented: dict[tuple[str, str], tuple[frozenset[str], bool]] = {}
    for row in table("## IAM"):
        sid_match = re.match(r"`(\w+)`", row["Sid"])
        assert sid_match, row
        actions = frozenset(re.findall(r"`([a-z0-9-]+:[A-Za-z]+)`", row["Actions"]))
        for function in function_set(row["Functions"]):
            key = (function, sid_match.group(1))
            assert key not in documented, f"{key} is documented twice"
            documented[key] = (actions, ONLY_WITH_NEPTUNE in row["Sid"])
    expected = template_statements(resources)
    assert documented.keys() == expected.keys(), (
        f"missing from docs/deploy.md: {sorted(expected.keys() - documented.keys())}; "
        f"not in the template: {sorted(documented.keys() - expected.keys())}"
    )
    for key, (actions, neptune_only) in expected.items():
        assert documented[key][0] == actions, (key, sorted(actions ^ documented[key][0]))
        assert documented[key][1] == neptune_only, f"{key}: say whether it is {ONLY_WITH_NEPTUNE!r}"


def routes_documented() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {name: set() for name in FUNCTION_WORDS.values()}
    for row in table("## Networking (VPC)"):
        endpoint = row["Endpoint"]
        routes = set(re.findall(r"`com\.amazonaws\.<region>\.([a-z0-9.-]+)`", endpoint))
        if "security group" in endpoint:
            routes.add("security group")
        for function in function_set(row["Functions"]):
            out[function] |= routes
    return out


@pytest.mark.parametrize("function_name", sorted(FUNCTION_WORDS.values()))
def test_the_networking_table_routes_every_api_a_function_calls(resources: dict[str, Any], function_name: str) -> None:
    actions, _managed = granted_actions(functions(resources)[function_name])
    prefixes = {action.split(":", 1)[0] for action in actions}
    assert prefixes <= ROUTES.keys(), f"say in ROUTES which VPC route {prefixes - ROUTES.keys()} needs"
    needed = {ROUTES[p] for p in prefixes if ROUTES[p]} | NOT_SDK_ROUTES.get(function_name, set())
    assert routes_documented()[function_name] == needed


def test_the_cost_table_prices_what_the_template_deploys(template: dict[str, Any], resources: dict[str, Any]) -> None:
    text = DEPLOY.read_text(encoding="utf-8").split("## What jobjanitor itself costs", 1)[1].split("\n## ", 1)[0]
    default = template["Globals"]["Function"]["MemorySize"]
    words = {logical: word for word, logical in FUNCTION_WORDS.items()}
    for name, function in functions(resources).items():
        memory = function["Properties"].get("MemorySize", default)
        assert f"{words[name]} at {memory} MB" in text, f"the cost table must price {name} at {memory} MB"
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    without_hook = [r for r in alarms if r.get("Condition") != "HookOn"]
    assert f"{len(without_hook)} alarms" in text, f"the template has {len(without_hook)} alarms without the hook"
    assert f"{len(alarms)} with the hook" in text, f"and {len(alarms)} with it"
    interface = set().union(*routes_documented().values()) - GATEWAY - {"security group"}
    assert f"{len(interface)} interface endpoints" in text, f"the networking table names {sorted(interface)}"
