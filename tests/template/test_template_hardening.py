"""template.yaml after issue 11: alarms on the janitor's own metrics, one encrypted topic, the
invoke permission only for EventBridge, and a reserved-concurrency default any account takes."""

from __future__ import annotations

from typing import Any

# Service-dimension totals the code emits (observability.publish_report, the guard app, h10's
# discovery-cap detection); per-kind metrics may change their dimensions, these do not.
ALARMED_METRICS = {"SweepFailures", "SweepStillStopping", "IdempotencyTableFaults", "DiscoveryIncomplete"}
# Lambda keeps at least this much of an account's concurrency unreserved; new accounts may
# have a quota of exactly 10, so any reservation would fail their deployment.
UNRESERVED_MINIMUM = 10


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_alarms_on_the_emf_totals_with_the_dimensions_the_code_emits(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    emf = {
        p["MetricName"]: p for p in alarms(resources).values() if p["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    }
    assert set(emf) >= ALARMED_METRICS
    for name in ALARMED_METRICS:
        props = emf[name]
        assert props["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}], name
        assert props["Statistic"] == "Sum"
        assert props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        # No data means nothing went wrong (the metrics are published only when the code runs).
        assert props["TreatMissingData"] == "notBreaching"


def test_every_alarm_notifies_the_one_encrypted_topic(resources: dict[str, Any]) -> None:
    topics = [n for n, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    assert topics == ["AlarmTopic"]
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "Key"}
    for name, props in alarms(resources).items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_add_permission_only_lets_eventbridge_in(resources: dict[str, Any]) -> None:
    statements = [s for s in resources["GuardFunction"]["Properties"]["Policies"][0]["Statement"] if "Action" in s]
    granting = [
        s
        for s in statements
        if "lambda:AddPermission" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert len(granting) == 1
    assert granting[0]["Condition"] == {"StringEquals": {"lambda:Principal": "events.amazonaws.com"}}


def test_reserved_concurrency_default_deploys_on_a_new_account(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReservedConcurrency"]
    # Two functions reserve the parameter's value each; a new account's quota can be exactly
    # the unreserved minimum, so the only default every account accepts is no reservation.
    assert parameter["Default"] == 0
    assert template["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }
    reserved = template["Globals"]["Function"]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
