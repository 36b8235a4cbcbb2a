"""examples/consumer-stack.yaml deployed in the order its header gives, driven as CloudFormation
would: the stack's own Neptune cluster (a second emulator, its management-API side in moto),
the guard's properties resolved from the example's own intrinsics, the guard's Create with its
preflight, the documented error while the cluster is not among jobjanitor's clusters (and the
rollback's Delete), the jobjanitor update adding the cluster, and the stack's Delete."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jobjanitor.guard.app as guard_app
import pytest
import yaml
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.cfn import ResponseReceiver, custom_resource_event, stack_id
from jobjanitor_testbed.clusters import STAND_IN, create_stand_in_cluster, delete_cluster
from jobjanitor_testbed.guard_driver import deliver
from jobjanitor_testbed.neptune import NeptuneEmulator
from jobjanitor_testbed.scenario import create_transform

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer-stack.yaml"
STACK_NAME = "ml-pipeline"
JOB_RESOURCES = {"DataBucket", "JobRole", "MatchTransform", "NeptuneCluster", "NeptuneInstance"}


def load_example() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {suffix: value}

    Loader.add_multi_constructor("!", tag)
    template: dict[str, Any] = yaml.load(EXAMPLE.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return template


@dataclass
class Deployed:
    """What CloudFormation created for the consumer stack (the guard aside)."""

    stack: str
    refs: dict[str, str]
    attrs: dict[tuple[str, str], str]
    exports: dict[str, str]
    cluster_resource_id: str


def resolve(node: Any, deployed: Deployed) -> Any:  # noqa: PLR0911 - one return per intrinsic
    """The intrinsics the example's guard uses, resolved as CloudFormation resolves them."""
    if isinstance(node, dict) and len(node) == 1:
        ((fn, arg),) = node.items()
        if fn in ("Ref", "Fn::Ref"):
            return deployed.stack if arg == "AWS::StackId" else deployed.refs[arg]
        if fn == "Join":
            separator, items = arg
            return separator.join(resolve(item, deployed) for item in items)
        if fn == "Select":
            index, items = arg
            return resolve(items, deployed)[int(index)]
        if fn == "Split":
            separator, text = arg
            return resolve(text, deployed).split(separator)
        if fn == "GetAtt":
            return deployed.attrs[tuple(arg.split(".", 1))]
        if fn == "ImportValue":
            return deployed.exports[resolve(arg, deployed)]
        if fn == "Sub":

            def value(match: re.Match[str]) -> str:
                name = match.group(1)
                if name == "AWS::StackName":
                    return deployed.stack.split("/")[1]
                return deployed.attrs[tuple(name.split(".", 1))] if "." in name else deployed.refs[name]

            return re.sub(r"\$\{([^}]+)\}", value, arg)
    if isinstance(node, list):
        return [resolve(item, deployed) for item in node]
    if isinstance(node, bool | int):
        return str(node).lower() if isinstance(node, bool) else str(node)  # CloudFormation sends strings
    return node


def guard_properties(template: dict[str, Any], deployed: Deployed, emulator_url: str) -> dict[str, Any]:
    props = {k: resolve(v, deployed) for k, v in template["Resources"]["JobGuard"]["Properties"].items()}
    token = props.pop("ServiceToken")
    assert token.endswith(":function:jobjanitor-guard")
    # The cluster's endpoint as the example builds it; the emulator serves it over http.
    host_port = emulator_url.split("://", 1)[1]
    assert props["NeptuneEndpoint"] == f"https://{host_port}"
    props["NeptuneEndpoint"] = emulator_url
    return props


def deploy_stack_resources(emulator: NeptuneEmulator) -> Deployed:
    """Step 1 (GuardEnabled=false): the cluster, its instance, the role, the transform."""
    stack = stack_id(STACK_NAME)
    cluster = create_stand_in_cluster(emulator.url, "ml-pipeline-graph")
    described = boto3.client("neptune").describe_db_clusters(DBClusterIdentifier=cluster.identifier)["DBClusters"][0]
    role = boto3.client("iam").create_role(RoleName=f"{STACK_NAME}-JobRole", AssumeRolePolicyDocument="{}")["Role"]
    transform = create_transform(boto3.client("glue"), f"{STACK_NAME}-match")
    return Deployed(
        stack=stack,
        refs={"MatchTransform": transform, "JobJanitorServiceTokenExport": "jobjanitor-ServiceToken"},
        attrs={
            ("NeptuneCluster", "Endpoint"): described["Endpoint"],
            ("NeptuneCluster", "Port"): str(described["Port"]),
            ("NeptuneCluster", "ClusterResourceId"): described["DbClusterResourceId"],
            ("JobRole", "Arn"): role["Arn"],
        },
        exports={"jobjanitor-ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:jobjanitor-guard"},
        cluster_resource_id=described["DbClusterResourceId"],
    )


@pytest.fixture
def emulator(guard_env: Any) -> Iterator[NeptuneEmulator]:
    second = NeptuneEmulator(lifecycle=guard_env.lifecycle).start()
    try:
        yield second
    finally:
        second.stop()


def jobjanitor_serves(monkeypatch: pytest.MonkeyPatch, resource_ids: list[str], allowed: list[str]) -> None:
    """A jobjanitor deploy or update: the functions' environment changes, so Lambda starts new
    execution environments (a fresh guard)."""
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", ",".join(resource_ids))
    monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", ",".join(allowed))
    monkeypatch.setattr(guard_app, "_app", None)


def test_the_example_deploys_in_the_documented_order(
    guard_env: Any, emulator: NeptuneEmulator, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = guard_env
    template = load_example()
    # The guard only exists once GuardEnabled=true, and is the first resource deleted.
    assert template["Parameters"]["GuardEnabled"]["Default"] == "false"
    assert template["Resources"]["JobGuard"]["Condition"] == "GuardOn"
    assert set(template["Resources"]["JobGuard"]["DependsOn"]) >= JOB_RESOURCES
    assert "NeptuneClusterResourceIds" in template["Outputs"]["NeptuneClusterResourceId"]["Description"]

    # jobjanitor is deployed first, serving another cluster (by resource id, as its template passes them).
    served = boto3.client("neptune").describe_db_clusters(DBClusterIdentifier=STAND_IN)["DBClusters"][0]
    other_id = served["DbClusterResourceId"]
    jobjanitor_serves(monkeypatch, [other_id], [bed.neptune_url, emulator.url])

    # 1. The consumer stack's first deploy (GuardEnabled=false) creates its cluster.
    deployed = deploy_stack_resources(emulator)
    props = guard_properties(template, deployed, emulator.url)
    prefix = props["JobIdPrefix"]
    # The first block of the stack id's UUID: no other stack's prefix starts with it.
    assert prefix == deployed.stack.rsplit("/", 1)[1].split("-")[0] + "-"
    running = emulator.seed_ml_job("modeltraining", f"{prefix}train-1", status="InProgress")
    load = emulator.seed_load(status="LOAD_IN_PROGRESS")
    task_run = moto_glue.seed_task_run(deployed.refs["MatchTransform"], status="RUNNING")

    # 2 skipped: GuardEnabled=true before jobjanitor knows the cluster. The guard's Create fails
    # with the documented error, before any request to the cluster.
    refused = deliver(custom_resource_event("Create", props, receiver=receiver, stack=deployed.stack), receiver)
    body = refused.body
    assert body["Status"] == "FAILED", body
    cid = deployed.cluster_resource_id
    assert body["Reason"] == (
        f"NeptuneEndpoint: ml-pipeline-graph ({cid}) is not among jobjanitor's clusters: add it: "
        f'`sam deploy --parameter-overrides NeptuneClusterResourceIds="{other_id},{cid}"`'
    )
    assert emulator.log.entries() == []
    # CloudFormation rolls the update back: a Delete of the resource that failed to create.
    rollback = deliver(
        custom_resource_event(
            "Delete", props, receiver=receiver, stack=deployed.stack, physical_id=body["PhysicalResourceId"]
        ),
        receiver,
    )
    assert rollback.body["Status"] == "SUCCESS", rollback.body
    assert emulator.log.entries() == []
    assert emulator.job("modeltraining", running).status == "InProgress"

    # 2. jobjanitor's update adds the cluster; 3. the consumer's update turns the guard on.
    jobjanitor_serves(monkeypatch, [other_id, cid], [bed.neptune_url, emulator.url])
    created = deliver(custom_resource_event("Create", props, receiver=receiver, stack=deployed.stack), receiver).body
    assert created["Status"] == "SUCCESS", created
    assert created["Data"]["Outstanding"] == "3"  # the preflight listed the stack's jobs, cancelled none
    assert emulator.job("modeltraining", running).status == "InProgress"

    # The consumer stack's Delete: the guard first (DependsOn), and its jobs stop.
    deleted = deliver(
        custom_resource_event(
            "Delete", props, receiver=receiver, stack=deployed.stack, physical_id=created["PhysicalResourceId"]
        ),
        receiver,
    ).body
    assert deleted["Status"] == "SUCCESS", deleted
    assert emulator.job("modeltraining", running).status == "Stopped"
    assert emulator.job("loader", load).status == "LOAD_CANCELLED_BY_USER"
    glue = boto3.client("glue")
    run = glue.get_ml_task_run(TransformId=deployed.refs["MatchTransform"], TaskRunId=task_run)
    assert run["Status"] == "STOPPED"
    # ... then what the jobs used.
    delete_cluster("ml-pipeline-graph")
    left = boto3.client("neptune").describe_db_clusters(Filters=[{"Name": "engine", "Values": ["neptune"]}])
    assert [c["DBClusterIdentifier"] for c in left["DBClusters"]] == [STAND_IN]


def test_a_malformed_cluster_list_is_answered_naming_the_variable(
    guard_env: Any, receiver: ResponseReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobjanitor_serves(monkeypatch, [STAND_IN, "", "graph-b"], [guard_env.neptune_url])
    props = {"NeptuneEndpoint": guard_env.neptune_url, "Kinds": "neptune-ml-training", "JobIdPrefix": "s-"}
    body = deliver(custom_resource_event("Create", props, receiver=receiver), receiver).body
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("JOBJANITOR_NEPTUNE_CLUSTERS: blank entry"), body["Reason"]
