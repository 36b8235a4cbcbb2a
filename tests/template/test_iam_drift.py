"""The IAM actions template.yaml grants each function equal the AWS operations its code calls.

Both sides are derived, nothing is listed by hand except the mapping rules:

- called: every module reachable (by static imports) from the function's Handler is scanned
  with ``ast`` for calls of botocore client methods of the services the janitor uses (the
  method names come from botocore's own ``method_to_api_mapping``), and for string constants
  naming such a method (``getattr(client, "cancel_loader_job")``, tables keyed by kind).
  Libraries we configure are scanned the same way when the code imports them: Powertools
  idempotency's DynamoDB persistence layer. Operation names map to IAM actions (service prefix, and Neptune's three
  differently named Get actions).
- granted: the Allow statements of each function's inline ``Policies`` (both branches of an
  ``!If``), minus the infrastructure actions in ``PLUMBING`` (each with its reason).
- configuration-gated calls: a few calls run only when a Policy field is set (``CONFIG_GATED``);
  a function needs them only when its own configuration can set that field, read from the
  function's configuration module (``FUNCTION_SETTINGS``). So a grant the guard can never use
  (glue:ListMLTransforms: its properties cannot select transforms by tag) fails as unused.

The managed policies SAM attaches (basic execution, X-Ray write, VPC access) and the
SQS SendMessage SAM adds for ``DeadLetterQueue`` are checked separately below.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

REPO = Path(__file__).resolve().parents[2]
CODE_ROOT = REPO / "functions"
PACKAGE = "jobjanitor"

# boto3 service name -> IAM service prefix.
SERVICES: dict[str, str] = {
    "neptunedata": "neptune-db",
    "glue": "glue",
    "dynamodb": "dynamodb",
    "events": "events",
    "lambda": "lambda",
    "cloudformation": "cloudformation",
    "sagemaker": "sagemaker",
    "neptune": "rds",  # Neptune's management API is RDS's (DescribeDBClusters -> rds:DescribeDBClusters)
}
# Operations authorised by an IAM action of another name (Neptune user guide, data-plane actions).
IAM_ACTION_RENAMES: dict[tuple[str, str], str] = {
    ("neptunedata", "GetMLDataProcessingJob"): "GetMLDataProcessingJobStatus",
    ("neptunedata", "GetMLModelTrainingJob"): "GetMLModelTrainingJobStatus",
    ("neptunedata", "GetMLModelTransformJob"): "GetMLModelTransformJobStatus",
    ("neptunedata", "GetMLEndpoint"): "GetMLEndpointStatus",
}
# Words in a receiver expression (``self._lambda_client``) that settle which service a method
# name shared by several services (remove_permission: events and lambda) belongs to.
RECEIVER_HINTS: dict[str, tuple[str, ...]] = {
    "neptunedata": ("neptune",),
    "glue": ("glue",),
    "dynamodb": ("dynamodb", "ddb", "table"),
    "events": ("events", "eventbridge"),
    "lambda": ("lambda",),
    "cloudformation": ("cloudformation", "cfn"),
    "sagemaker": ("sagemaker",),
    "neptune": ("neptune",),
}
# Granted actions that are not API calls of the code, and why they are needed.
PLUMBING: dict[str, str] = {
    "kms:Decrypt": "Lambda decrypts the function's environment variables with the stack's key (KmsKeyArn)",
}
# IAM actions called only when a Policy field is set: action -> the field.
CONFIG_GATED: dict[str, str] = {
    "glue:ListMLTransforms": "glue_transform_tags",
    "glue:GetMLTransforms": "glue_transform_name_prefix",
}
CONFIG_GATED_MODULE = "functions/jobjanitor/kinds/glue_ml_task_run.py"
# Where each function's configuration names the Policy fields it can set.
FUNCTION_SETTINGS: dict[str, Callable[[], set[str]]] = {
    "GuardFunction": lambda: {f for f in importlib.import_module("jobjanitor.guard.config").PROPERTIES.values() if f},
    "SweeperFunction": lambda: set(importlib.import_module("jobjanitor.sweeper.config").ENV),
    "HookFunction": lambda: set(importlib.import_module("jobjanitor.hook.config").HookConfig.__dataclass_fields__),
}
# Managed policies a function may carry (SAM adds them: Tracing Active, VpcConfig, always).
ALLOWED_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole", "AWSXrayWriteOnlyAccess"}
# Libraries whose AWS calls happen on our behalf: import prefix -> module file to scan.
LIBRARIES: dict[str, tuple[str, str]] = {
    "aws_lambda_powertools.utilities.idempotency": (
        "aws_lambda_powertools",
        "utilities/idempotency/persistence/dynamodb.py",
    ),
}


# ------------------------------------------------------------------ botocore side
@cache
def method_index() -> dict[str, dict[str, str]]:
    """snake_case client method -> {boto3 service: OperationName}."""
    session = botocore.session.get_session()
    index: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        client = session.create_client(
            service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        for method, operation in client.meta.method_to_api_mapping.items():
            index.setdefault(method, {})[service] = operation
    return index


def iam_action(service: str, operation: str) -> str:
    return f"{SERVICES[service]}:{IAM_ACTION_RENAMES.get((service, operation), operation)}"


# ------------------------------------------------------------------ code side
def module_file(module: str) -> Path | None:
    base = CODE_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def handler_module(handler: str) -> str:
    return handler.rsplit(".", 1)[0]


def imports_of(module: str, tree: ast.Module) -> set[str]:
    """Absolute names of everything ``module`` imports (modules, or modules' attributes)."""
    is_package = module_file(module) is not None and module_file(module).name == "__init__.py"  # type: ignore[union-attr]
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package_parts[: len(package_parts) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PACKAGE + "."):
            names.add(node.value)  # importlib.import_module("jobjanitor.kinds.x")
    return names


def reachable(entry: str) -> tuple[set[str], set[str]]:
    """(our modules reachable from ``entry`` by static imports, every imported name)."""
    seen: set[str] = set()
    imported: set[str] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module)
        if path is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run too
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in imports_of(module, tree):
            imported.add(name)
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                todo.append(name)
    return seen, imported


@cache
def own_function_names() -> frozenset[str]:
    """Names of every function and method our package defines (a method of ours named like an
    operation, say ``list_jobs``, is not glue:ListJobs)."""
    names: set[str] = set()
    for path in (CODE_ROOT / PACKAGE).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return frozenset(names)


def own_imported_names(tree: ast.Module) -> set[str]:
    """Local names bound to our own modules or objects (``from jobjanitor import engine``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGE)):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name.startswith(PACKAGE)
            )
    return names


def looks_like_client(receiver: str) -> bool:
    lowered = receiver.lower()
    return "client" in lowered or any(h in lowered for hints in RECEIVER_HINTS.values() for h in hints)


def calls_in(path: Path, ours: bool) -> Iterator[tuple[str, str, int]]:
    """(method name, receiver source, line) for calls of, and strings naming, client methods.

    In our own code, a call on a name imported from our package, or of a name our package
    defines on a receiver that does not look like a client, is one of our functions."""
    index = method_index()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own_defs = own_function_names() if ours else frozenset()
    own_names = own_imported_names(tree) if ours else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in index:
            receiver = ast.unparse(node.func.value)
            root = receiver.split(".", 1)[0].split("(", 1)[0]
            if root in own_names or (node.func.attr in own_defs and not looks_like_client(receiver)):
                continue
            yield node.func.attr, receiver, node.lineno
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in index
            and node.value not in own_defs
        ):
            yield node.value, "", node.lineno


def resolve(method: str, receiver: str, where: str) -> str:
    candidates = method_index()[method]
    if len(candidates) == 1:
        (service,) = candidates
    else:
        lowered = receiver.lower()
        hinted = [s for s in candidates if any(h in lowered for h in RECEIVER_HINTS[s])]
        if len(hinted) != 1:
            pytest.fail(
                f"{where}: {method}() exists in {sorted(candidates)}; name the receiver after its "
                f"service (e.g. glue_client) so this test can tell which IAM action it needs"
            )
        (service,) = hinted
    return iam_action(service, candidates[service])


def library_files(imported: set[str]) -> list[Path]:
    files = []
    for prefix, (package, relative) in LIBRARIES.items():
        if any(name == prefix or name.startswith(prefix + ".") for name in imported):
            spec = importlib.util.find_spec(package)
            assert spec is not None, f"{package} is not installed in the test environment"
            assert spec.origin
            files.append(Path(spec.origin).parent / relative)
    return files


def unresolved_imports(handler: str) -> list[str]:
    """Our modules the handler's code imports that do not exist yet (code still being written)."""
    _modules, imported = reachable(handler_module(handler))
    own = [n for n in imported if n == PACKAGE or n.startswith(PACKAGE + ".")]
    return sorted(n for n in own if module_file(n) is None and module_file(n.rsplit(".", 1)[0]) is None)


def called_actions(handler: str) -> tuple[dict[str, list[str]], set[str]]:
    """IAM action -> where it is called, and the boto3 services the code creates clients for."""
    modules, imported = reachable(handler_module(handler))
    files = [f for f in (module_file(m) for m in sorted(modules)) if f]
    actions: dict[str, list[str]] = {}
    for path in files + library_files(imported):
        for method, receiver, line in calls_in(path, ours=path in files):
            where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path.name}:{line}"
            actions.setdefault(resolve(method, receiver, where), []).append(where)
    clients = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                clients.add(node.args[0].value)
    return actions, clients


# ------------------------------------------------------------------ template side
def statements(document: Any) -> Iterator[dict[str, Any]]:
    """Statements of a policy document, through both branches of Fn::If."""
    if isinstance(document, dict) and set(document) == {"Fn::If"}:
        _condition, *branches = document["Fn::If"]
        for branch in branches:
            yield from statements(branch)
    elif isinstance(document, dict) and set(document) == {"Ref"}:
        assert document["Ref"] == "AWS::NoValue", document
    elif isinstance(document, list):
        for item in document:
            yield from statements(item)
    elif isinstance(document, dict) and "Statement" in document:
        yield from statements(document["Statement"])
    elif isinstance(document, dict):
        yield document
    else:
        pytest.fail(f"unexpected policy element {document!r}")


def granted_actions(function: dict[str, Any]) -> tuple[set[str], list[str]]:
    """(actions the function's inline Policies allow, managed policy names it lists)."""
    props = function["Properties"]
    assert "Role" not in props, "a function with its own Role escapes this test: use SAM Policies"
    policies = props.get("Policies", [])
    policies = policies if isinstance(policies, list) else [policies]
    actions: set[str] = set()
    managed: list[str] = []
    for policy in policies:
        if isinstance(policy, str):
            managed.append(policy)
            continue
        assert isinstance(policy, dict)
        assert "Statement" in policy, f"only inline statements can be checked, not SAM policy templates: {policy!r}"
        for statement in statements(policy):
            assert statement.get("Effect") == "Allow", statement
            assert "NotAction" not in statement, statement
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions, managed


def gated(function_name: str, called: dict[str, list[str]]) -> dict[str, list[str]]:
    """``called`` without the configuration-gated calls the function's settings cannot enable."""
    assert function_name in FUNCTION_SETTINGS, f"{function_name}: say in FUNCTION_SETTINGS which fields it can set"
    settable = FUNCTION_SETTINGS[function_name]()
    return {a: w for a, w in called.items() if a not in CONFIG_GATED or CONFIG_GATED[a] in settable}


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


def handler_present(handler: str) -> bool:
    return module_file(handler_module(handler)) is not None


# ------------------------------------------------------------------ tests
# IAM resources that are not the functions' own: the role the CloudFormation hooks service
# assumes to invoke the teardown hook's function.
HOOK_EXECUTION_ROLE = "HookExecutionRole"


def test_no_iam_outside_function_policies(resources: dict[str, Any]) -> None:
    """Every grant to the functions is in their SAM Policies, where the drift test sees it; the
    one other IAM resource is the hook's execution role (tested below)."""
    iam = [name for name, r in resources.items() if r["Type"].startswith("AWS::IAM::")]
    assert iam == [HOOK_EXECUTION_ROLE]


def test_the_hook_execution_role_invokes_the_hook_function_only(resources: dict[str, Any]) -> None:
    role = resources[HOOK_EXECUTION_ROLE]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "hooks.cloudformation.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role
    statements = [st for policy in role["Policies"] for st in statements_of(policy["PolicyDocument"])]
    assert statements == [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["HookFunction", "Arn"]}}
    ]
    hook = resources["TeardownHookResource"]["Properties"]
    assert hook["ExecutionRole"] == {"Fn::GetAtt": [HOOK_EXECUTION_ROLE, "Arn"]}
    assert hook["LambdaFunction"] == {"Fn::GetAtt": ["HookFunction", "Arn"]}


def statements_of(document: Any) -> list[dict[str, Any]]:
    return list(statements(document))


def test_only_expected_managed_policies(resources: dict[str, Any]) -> None:
    for name, function in functions(resources).items():
        _actions, managed = granted_actions(function)
        assert set(managed) <= ALLOWED_MANAGED, f"{name}: unexpected managed policies {managed}"


def test_plumbing_actions_are_justified(resources: dict[str, Any]) -> None:
    known = set(SERVICES.values())
    for name, function in functions(resources).items():
        actions, _managed = granted_actions(function)
        other = {a for a in actions if a.split(":", 1)[0] not in known}
        assert other <= set(PLUMBING), (
            f"{name}: granted actions with no code call and no reason: {other - set(PLUMBING)}"
        )


def test_renames_are_real_operations() -> None:
    """Guard against typos in the mapping itself: the renamed operations exist in botocore."""
    operations = {op for services in method_index().values() for op in services.values()}
    for (_service, operation), _action in IAM_ACTION_RENAMES.items():
        assert operation in operations


@pytest.mark.parametrize("function_name", ["GuardFunction", "SweeperFunction", "HookFunction"])
def test_granted_actions_equal_called_operations(resources: dict[str, Any], function_name: str) -> None:
    function = resources[function_name]
    handler = function["Properties"]["Handler"]
    if not handler_present(handler):
        pytest.skip(f"{handler_module(handler)} is not written yet")
    called, clients = called_actions(handler)
    unknown = clients - set(SERVICES)
    assert not unknown, f"code creates clients for {unknown}: add them to SERVICES and grant their calls"

    called = gated(function_name, called)
    granted, _managed = granted_actions(function)
    granted = {a for a in granted if a not in PLUMBING}
    missing = {a: called[a] for a in sorted(set(called) - granted)}
    unused = sorted(granted - set(called))
    pending = unresolved_imports(handler)
    if pending and not missing:
        pytest.skip(f"code not written yet: {pending}; granted but not called so far: {unused}")
    assert not missing, f"{function_name}: called but not granted: {missing}"
    assert not unused, f"{function_name}: granted but never called: {unused}"


def test_template_grants_what_the_code_calls_overall(resources: dict[str, Any]) -> None:
    """The union over both functions, reported even while a handler is still missing:
    whatever code exists must be covered by some grant."""
    granted: set[str] = set()
    called: dict[str, list[str]] = {}
    for name, function in functions(resources).items():
        actions, _managed = granted_actions(function)
        granted |= actions
        handler = function["Properties"]["Handler"]
        if handler_present(handler):
            for action, where in gated(name, called_actions(handler)[0]).items():
                called.setdefault(action, []).extend(where)
    missing = {a: w for a, w in called.items() if a not in granted}
    assert not missing, f"called but granted to no function: {missing}"


def test_library_scans_find_the_known_calls() -> None:
    """The scanner itself: the guard's polling (protocol/polling.py) and Powertools idempotency
    give the documented sets."""
    found: dict[str, set[str]] = {}
    for prefix in LIBRARIES:
        (path,) = library_files({prefix})
        found[prefix] = {resolve(m, r, f"{path.name}:{n}") for m, r, n in calls_in(path, ours=False)}
    polling = CODE_ROOT / PACKAGE / "protocol" / "polling.py"
    found["polling"] = {resolve(m, r, f"{polling.name}:{n}") for m, r, n in calls_in(polling, ours=True)}
    assert found["polling"] == {
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:DeleteRule",
        "lambda:AddPermission",
        "lambda:RemovePermission",
    }
    assert found["aws_lambda_powertools.utilities.idempotency"] == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }


def test_config_gated_calls_are_where_the_gate_says(resources: dict[str, Any]) -> None:
    """The gated actions are called only in the module that checks their Policy field, and the
    fields exist on Policy (a rename would silently un-gate them)."""
    from jobjanitor.policy import Policy

    fields = set(Policy.__dataclass_fields__)
    assert set(CONFIG_GATED.values()) <= fields
    assert set(FUNCTION_SETTINGS) == set(functions(resources))
    for function in functions(resources).values():
        called, _clients = called_actions(function["Properties"]["Handler"])
        for action in CONFIG_GATED:
            assert {where.rsplit(":", 1)[0] for where in called.get(action, [])} <= {CONFIG_GATED_MODULE}


def test_neptune_get_operations_map_to_status_actions() -> None:
    assert iam_action("neptunedata", "GetMLModelTrainingJob") == "neptune-db:GetMLModelTrainingJobStatus"
    assert iam_action("neptunedata", "GetMLEndpoint") == "neptune-db:GetMLEndpointStatus"
    assert iam_action("neptunedata", "GetLoaderJobStatus") == "neptune-db:GetLoaderJobStatus"
    assert iam_action("glue", "GetMLTaskRuns") == "glue:GetMLTaskRuns"
