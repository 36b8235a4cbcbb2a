"""A template rendered as CloudFormation would for one stack in one account and Region: its
conditions, and the physical names it sets, with Ref, Fn::Sub, Fn::Join, Fn::Select, Fn::Split,
Fn::If and the pseudo parameters resolved (AWS::Region, AWS::AccountId, AWS::StackName...).
A Ref or GetAtt of a resource stands for a value unique to that stack (``<stack:Logical>``).

Every resource type is classified by where its names live: ACCOUNT_WIDE (IAM: one namespace for
all Regions of an account; S3 bucket names, wider still) or REGIONAL. A type not listed in
NAMESPACES fails the rendering, so a new resource type is classified before it ships."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ACCOUNT_WIDE = "account"
REGIONAL = "region"
NO_VALUE = object()

# type -> {property that sets a physical name: where that name must be unique}. A type with no
# entry sets no name here: CloudFormation generates one, unique per stack.
NAMESPACES: dict[str, dict[str, str]] = {
    "AWS::IAM::Role": {"RoleName": ACCOUNT_WIDE},
    "AWS::IAM::ManagedPolicy": {"ManagedPolicyName": ACCOUNT_WIDE},
    "AWS::IAM::InstanceProfile": {"InstanceProfileName": ACCOUNT_WIDE},
    "AWS::IAM::User": {"UserName": ACCOUNT_WIDE},
    "AWS::IAM::Group": {"GroupName": ACCOUNT_WIDE},
    "AWS::S3::Bucket": {"BucketName": ACCOUNT_WIDE},  # global, in fact: wider than the account
    # "This alias must be unique per account and Region" (AWS::CloudFormation::LambdaHook reference).
    "AWS::CloudFormation::LambdaHook": {"Alias": REGIONAL},
    "AWS::Lambda::Function": {"FunctionName": REGIONAL},
    # Every stack adds versions to its LayerName: two stacks share the name without colliding.
    "AWS::Lambda::LayerVersion": {},
    "AWS::Lambda::Permission": {},
    "AWS::Logs::LogGroup": {"LogGroupName": REGIONAL},
    "AWS::KMS::Key": {},
    "AWS::KMS::Alias": {"AliasName": REGIONAL},
    "AWS::DynamoDB::Table": {"TableName": REGIONAL},
    "AWS::SQS::Queue": {"QueueName": REGIONAL},
    "AWS::SQS::QueuePolicy": {},
    "AWS::SNS::Topic": {"TopicName": REGIONAL},
    "AWS::SNS::Subscription": {},
    "AWS::Scheduler::Schedule": {"Name": REGIONAL},  # within its GroupName (default: "default")
    "AWS::Events::Rule": {"Name": REGIONAL},
    "AWS::CloudWatch::Alarm": {"AlarmName": REGIONAL},
}
EXPORT = "Outputs.Export"  # export names are per account and Region


def is_intrinsic(key: str) -> bool:
    return key in {"Ref", "Condition"} or key.startswith("Fn::")


@dataclass(frozen=True)
class Where:
    account: str
    region: str
    stack: str


@dataclass(frozen=True)
class Name:
    scope: str  # ACCOUNT_WIDE or REGIONAL
    namespace: str  # "AWS::IAM::Role.RoleName", EXPORT...
    logical_id: str
    value: str


class Render:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], where: Where) -> None:
        self.template = template
        self.where = where
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        assert not unknown, f"values for parameters the template does not declare: {sorted(unknown)}"
        self.parameters: dict[str, Any] = {}
        for name, declaration in declared.items():
            raw = parameters.get(name, declaration.get("Default"))
            assert raw is not None, f"{name}: no value given and no default"
            text = str(raw)
            self.parameters[name] = text.split(",") if "CommaDelimitedList" in declaration["Type"] else text
        self.pseudo: dict[str, Any] = {
            "AWS::AccountId": where.account,
            "AWS::Region": where.region,
            "AWS::StackName": where.stack,
            "AWS::StackId": f"arn:aws:cloudformation:{where.region}:{where.account}:stack/{where.stack}/0",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            result = self.value(self.template["Conditions"][name])
            assert isinstance(result, bool), f"condition {name} is not a boolean: {result!r}"
            self._conditions[name] = result
        return self._conditions[name]

    def exists(self, declaration: dict[str, Any]) -> bool:
        return "Condition" not in declaration or self.condition(declaration["Condition"])

    def value(self, node: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per intrinsic
        if isinstance(node, list):
            return [item for item in (self.value(i) for i in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not is_intrinsic(next(iter(node))):
            return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return f"<{self.where.stack}:{logical}.{attribute}>"
        if function == "Fn::Sub":
            return self.sub(argument)
        if function == "Fn::Join":
            items = self.value(argument[1])
            assert all(isinstance(i, str) for i in items), f"Fn::Join of non-strings: {items!r}"
            return argument[0].join(items)
        if function == "Fn::Select":
            return self.value(argument[1])[int(self.value(argument[0]))]
        if function == "Fn::Split":
            return self.value(argument[1]).split(argument[0])
        if function == "Fn::If":
            condition, then, otherwise = argument
            return self.value(then if self.condition(condition) else otherwise)
        if function == "Fn::Equals":
            first, second = (self.value(a) for a in argument)
            return str(first) == str(second)
        if function == "Fn::Not":
            return not self.value(argument[0])
        if function == "Fn::And":
            return all(self.value(a) for a in argument)
        if function == "Fn::Or":
            return any(self.value(a) for a in argument)
        raise AssertionError(f"{function} is not rendered here (an install that imports depends on another stack)")

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        assert name in self.template["Resources"], f"Ref to nothing: {name}"
        return f"<{self.where.stack}:{name}>"

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {key: self.value(value) for key, value in variables.items()}

        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in values:
                return str(values[key])
            if "." in key and key.split(".", 1)[0] in self.template["Resources"]:
                return f"<{self.where.stack}:{key}>"
            found = self.ref(key)
            assert isinstance(found, str), f"${{{key}}} is not a string: {found!r}"
            return found

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def names(self) -> list[Name]:
        """Every physical name the stack sets, and its exports."""
        found = []
        for logical_id, resource in self.template["Resources"].items():
            kind = resource["Type"]
            assert kind in NAMESPACES, f"{logical_id}: {kind} is not classified in NAMESPACES (cfn_render.py)"
            if not self.exists(resource):
                continue
            properties = resource.get("Properties", {})
            for field, scope in NAMESPACES[kind].items():
                if field not in properties:
                    continue
                value = self.value(properties[field])
                if value is NO_VALUE:
                    continue
                if kind == "AWS::Scheduler::Schedule":
                    value = f"{self.value(properties.get('GroupName', 'default'))}/{value}"
                found.append(Name(scope, f"{kind}.{field}", logical_id, value))
        for logical_id, output in self.template.get("Outputs", {}).items():
            if "Export" in output and self.exists(output):
                found.append(Name(REGIONAL, EXPORT, logical_id, self.value(output["Export"]["Name"])))
        return found


def clashes(first: Render, second: Render) -> set[tuple[str, str]]:
    """(namespace, name) both stacks set where they share a namespace: account-wide names always
    (same account), regional ones when both are in the same Region."""
    assert first.where.account == second.where.account, "different accounts share no namespace"
    shared = {ACCOUNT_WIDE} | ({REGIONAL} if first.where.region == second.where.region else set())
    ours = {(n.namespace, n.value) for n in first.names() if n.scope in shared}
    theirs = {(n.namespace, n.value) for n in second.names() if n.scope in shared}
    return ours & theirs


def stackset(template: dict[str, Any], values: dict[str, str], where: Where) -> tuple[dict[str, Any], dict[str, str]]:
    """The properties of the one AWS::CloudFormation::StackSet in an administrator's template, rendered
    (the template deployed with ``values``, defaults for the rest), and the parameter values its stack
    instances receive."""
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    properties = Render(template, values, where).value(resource["Properties"])
    passed = {}
    for parameter in properties["Parameters"]:
        value = parameter["ParameterValue"]
        assert isinstance(value, (str, int)), f"{parameter['ParameterKey']}: not a string: {value!r}"
        passed[parameter["ParameterKey"]] = str(value)
    return properties, passed
