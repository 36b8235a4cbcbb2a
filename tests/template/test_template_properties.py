"""Key properties of template.yaml, read as plain YAML (intrinsics kept as {"Fn::...": ...})."""

from __future__ import annotations

from typing import Any

from jobjanitor.hook.config import MODES

# The install's names: NamePrefix, or the stack's name when it is empty (tests/template/test_stackset_safe.py).
NAME = {"Name": {"Fn::If": ["HasNamePrefix", {"Ref": "NamePrefix"}, {"Ref": "AWS::StackName"}]}}


def test_globals_runtime_architecture_tracing(template: dict[str, Any]) -> None:
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    # Tracing follows the Tracing parameter (default Active), and Powertools is told the same.
    assert fn["Tracing"] == {"Ref": "Tracing"}
    assert template["Parameters"]["Tracing"]["Default"] == "Active"
    assert fn["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingActive", "false", "true"]}
    assert fn["CodeUri"] == "functions/"
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "jobjanitor"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "JobJanitor"
    assert env["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
    assert env["JOBJANITOR_NEPTUNE_CLUSTERS"] == {"Fn::Join": [",", {"Ref": "NeptuneClusterResourceIds"}]}
    assert "POWERTOOLS_LOG_LEVEL" in env
    assert fn["DeadLetterQueue"]["Type"] == "SQS"


def test_functions(resources: dict[str, Any]) -> None:
    guard = resources["GuardFunction"]["Properties"]
    sweeper = resources["SweeperFunction"]["Properties"]
    assert guard["Handler"] == "jobjanitor.handlers.guard.lambda_handler"
    assert sweeper["Handler"] == "jobjanitor.handlers.sweeper.lambda_handler"
    assert guard["Timeout"] == 900
    assert guard["FunctionName"] == {"Fn::Sub": ["${Name}-guard", NAME]}
    assert guard["Environment"]["Variables"]["JOBJANITOR_POLL_MINUTES"] == "1"
    for props, log_group in ((guard, "GuardLogGroup"), (sweeper, "SweeperLogGroup")):
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": log_group}
        assert "RetentionInDays" in resources[log_group]["Properties"]
    expected_env = {
        "JOBJANITOR_NEPTUNE_IAM_ROLE_ARN",
        "JOBJANITOR_GLUE_TRANSFORM_IDS",
        "JOBJANITOR_GLUE_TRANSFORM_NAME_PREFIX",
        "JOBJANITOR_KINDS",
        "JOBJANITOR_MAX_AGE",
        "JOBJANITOR_ENDPOINT_MAX_AGE",
        "JOBJANITOR_JOB_ID_PREFIX",
        "JOBJANITOR_CLEAN",
        "JOBJANITOR_DRY_RUN",
        "JOBJANITOR_STACK_TAG_PREFIX",
    }
    assert set(sweeper["Environment"]["Variables"]) == expected_env


def test_lambda_permission_scoped_to_the_guard_itself(resources: dict[str, Any]) -> None:
    statements = resources["GuardFunction"]["Properties"]["Policies"][0]["Statement"]
    for sid in ("GuardPollingInvokePermissionOnItself", "GuardPollingRemovePermissionOnItself"):
        (stmt,) = [s for s in statements if isinstance(s, dict) and s.get("Sid") == sid]
        text, variables = stmt["Resource"]["Fn::Sub"]
        assert text.endswith(":function:${Name}-guard")
        assert variables == NAME


def test_idempotency_table(resources: dict[str, Any]) -> None:
    table = resources["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_schedule_and_stack_deletion_rule(resources: dict[str, Any]) -> None:
    events = resources["SweeperFunction"]["Properties"]["Events"]
    schedule = events["Schedule"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    rule = events["StackDeleting"]
    assert rule["Type"] == "EventBridgeRule"
    assert rule["Properties"]["Pattern"] == {
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "detail": {"status-details": {"status": ["DELETE_IN_PROGRESS"]}},
    }


def test_service_token_export(template: dict[str, Any]) -> None:
    output = template["Outputs"]["GuardServiceToken"]
    assert output["Value"] == {"Fn::GetAtt": ["GuardFunction", "Arn"]}
    assert output["Export"]["Name"] == {"Fn::Sub": ["${Name}-ServiceToken", NAME]}


def test_alarms_cover_errors_and_throttles(resources: dict[str, Any]) -> None:
    covered = {
        (r["Properties"]["MetricName"], r["Properties"]["Dimensions"][0]["Value"]["Ref"])
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "AWS/Lambda"
    }
    functions = ("GuardFunction", "SweeperFunction", "HookFunction")
    assert covered == {(m, f) for m in ("Errors", "Throttles") for f in functions}


def test_every_suppression_has_a_reason(resources: dict[str, Any]) -> None:
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip.get("comment"), f"{name}: checkov skip {skip.get('id')} without a comment"


def test_the_teardown_hook_targets_deletes_of_the_two_types(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    hook = resources["TeardownHookResource"]
    assert hook["Condition"] == "HookOn"
    assert template["Parameters"]["TeardownHook"]["Default"] == "Disabled"
    assert template["Parameters"]["TeardownHook"]["AllowedValues"] == ["Disabled", "Audit", "Warn", "Fail"]
    # Every value but Disabled reaches the function as JOBJANITOR_HOOK_MODE, which accepts exactly these.
    assert template["Parameters"]["TeardownHook"]["AllowedValues"][1:] == list(MODES)
    # Only Fail stops a delete; Audit (always SUCCESS) and Warn let it go on.
    assert template["Conditions"]["HookFails"] == {"Fn::Equals": [{"Ref": "TeardownHook"}, "Fail"]}
    props = hook["Properties"]
    assert props["TargetOperations"] == ["RESOURCE"]
    assert props["TargetFilters"] == {
        "Actions": ["DELETE"],
        "InvocationPoints": ["PRE_PROVISION"],
        "TargetNames": ["AWS::Neptune::DBCluster", "AWS::Glue::MLTransform"],
    }
    assert props["FailureMode"] == {"Fn::If": ["HookFails", "FAIL", "WARN"]}
    function = resources["HookFunction"]["Properties"]
    # CloudFormation waits 30 s for an answer: the function may not run longer.
    assert function["Timeout"] <= 30
    assert function["Environment"]["Variables"]["JOBJANITOR_HOOK_MODE"] == {"Ref": "TeardownHook"}
    every_hook_resource = [
        name for name, r in resources.items() if "Hook" in name and r["Type"] != "AWS::CloudWatch::Alarm"
    ]
    assert all(resources[name].get("Condition") == "HookOn" for name in every_hook_resource), every_hook_resource
