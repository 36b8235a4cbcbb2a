"""The template's multi-cluster grants: one exact neptune-db ARN per configured cluster."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jobjanitor.clusters import MAX_CLUSTERS, parse_cluster_list
from jobjanitor.errors import ConfigError

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def evaluate(node: Any, params: dict[str, Any], local: dict[str, Any] | None = None) -> Any:  # noqa: PLR0911 - one return per intrinsic
    """The few intrinsics the grant uses, evaluated as CloudFormation does."""
    local = local or {}
    if isinstance(node, dict) and len(node) == 1:
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return params[arg] if arg in params else PSEUDO[arg]
        if fn == "Fn::Join":
            return arg[0].join(evaluate(arg[1], params, local))
        if fn == "Fn::Select":
            return evaluate(arg[1], params, local)[arg[0]]
        if fn == "Fn::Split":
            return evaluate(arg[1], params, local).split(arg[0])
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {**PSEUDO, **{k: evaluate(v, params, local) for k, v in names.items()}}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m.group(1)]), text)
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [evaluate(item, params, local) for item in node]
    raise AssertionError(f"unexpected intrinsic {node!r}")


def grant(resources: dict[str, Any], function: str, sid: str) -> dict[str, Any]:
    statements = resources[function]["Properties"]["Policies"][0]["Statement"]
    for item in statements:
        statement = item
        if isinstance(item, dict) and "Fn::If" in item:
            condition, statement, _else = item["Fn::If"]
            assert condition == "HasNeptune"
        if isinstance(statement, dict) and statement.get("Sid") == sid:
            return statement
    raise AssertionError(f"{function} has no {sid}")


@pytest.mark.parametrize("function", ["GuardFunction", "SweeperFunction"])
@pytest.mark.parametrize(
    "ids", [["cluster-AAAA"], ["cluster-AAAA", "cluster-BBBB", "cluster-CCCC"], [f"cluster-{i}X" for i in range(10)]]
)
def test_one_exact_neptune_db_arn_per_configured_cluster(
    resources: dict[str, Any], function: str, ids: list[str]
) -> None:
    statement = grant(resources, function, "NeptuneJobsOnConfiguredClusters")
    arns = evaluate(statement["Resource"], {"NeptuneClusterResourceIds": ids})
    prefix = "arn:aws:neptune-db:eu-west-1:123456789012:"
    assert len(arns) == MAX_CLUSTERS
    assert arns[: len(ids)] == [f"{prefix}{i}/*" for i in ids]
    # Unused slots name no resource a cluster could have.
    assert set(arns[len(ids) :]) <= {f"{prefix}-/*"}


def test_the_code_refuses_more_clusters_than_the_template_grants() -> None:
    with pytest.raises(ConfigError, match="at most 10"):
        parse_cluster_list(",".join(f"cluster-{i:04d}AAAA" for i in range(MAX_CLUSTERS + 1)))


def test_both_functions_know_the_clusters_and_may_resolve_them(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    ids = ["cluster-AAAA", "cluster-BBBB"]
    assert (
        evaluate(env["JOBJANITOR_NEPTUNE_CLUSTERS"], {"NeptuneClusterResourceIds": ids}) == "cluster-AAAA,cluster-BBBB"
    )
    parameter = template["Parameters"]["NeptuneClusterResourceIds"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert all(re.fullmatch(parameter["AllowedPattern"], i) for i in [*ids, ""])
    assert not re.fullmatch(parameter["AllowedPattern"], "graph-prod")
    for function in ("GuardFunction", "SweeperFunction"):
        statement = grant(template["Resources"], function, "NeptuneClusterEndpoints")
        assert sorted(statement["Action"]) == ["rds:DescribeDBClusters", "rds:DescribeDBInstances"]
