"""Configured clusters resolved through the Neptune management API (moto implements it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from jobjanitor.clusters import (
    CLUSTERS_ENV,
    ClusterGone,
    ClusterRegistry,
    NeptuneCluster,
    Resolved,
    cluster_for_endpoint,
    configured_clusters,
    names_cluster,
    parse_cluster_list,
    resolve_clusters,
)
from jobjanitor.endpoints import not_the_writer
from jobjanitor.errors import ConfigError
from jobjanitor_testbed.clusters import create_cluster
from moto import mock_aws


@pytest.fixture
def neptune(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("neptune", region_name="us-east-1")


def make_cluster(client: Any, identifier: str, instances: int = 2) -> dict[str, Any]:
    return create_cluster(client, identifier, instances=instances)


def test_identifiers_and_resource_ids_resolve_to_every_endpoint_of_each_cluster(neptune: Any) -> None:
    a = make_cluster(neptune, "graph-a", instances=2)
    b = make_cluster(neptune, "graph-b", instances=1)
    make_cluster(neptune, "graph-c")  # not configured

    clusters = configured_clusters(neptune, f"graph-a, {b['DbClusterResourceId']}")

    assert [c.identifier for c in clusters] == ["graph-a", "graph-b"]
    first, second = clusters
    assert first.resource_id == a["DbClusterResourceId"]
    assert first.writer_endpoint == f"https://{a['Endpoint']}:8182"
    assert first.endpoints[1] == f"https://{a['ReaderEndpoint']}:8182"
    instance_hosts = {
        i["Endpoint"]["Address"]
        for i in neptune.describe_db_instances()["DBInstances"]
        if i["DBClusterIdentifier"] == "graph-a"
    }
    assert set(first.endpoints[2:]) == {f"https://{h}:8182" for h in instance_hosts}
    assert len(second.endpoints) == 3
    assert second.resource_id == b["DbClusterResourceId"]


def test_the_environment_variable_is_the_default_and_duplicates_collapse(
    neptune: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_cluster(neptune, "graph-a")
    monkeypatch.setenv(CLUSTERS_ENV, f"graph-a,{a['DbClusterResourceId']},GRAPH-A")
    assert [c.identifier for c in configured_clusters(neptune)] == ["graph-a"]


def test_unset_or_empty_means_no_clusters(neptune: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLUSTERS_ENV, raising=False)
    assert configured_clusters(neptune) == ()
    assert configured_clusters(neptune, "  ") == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("graph-a,,graph-b", "blank entry"),
        ("graph-a, ", "blank entry"),
        ("graph a", "neither"),
        ("1graph", "neither"),
        ("arn:aws:rds:us-east-1:123456789012:cluster:graph-a", "neither"),
    ],
)
def test_blank_or_malformed_entries_are_errors_naming_the_variable(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_list(value)
    assert caught.value.field == CLUSTERS_ENV
    assert words in caught.value.message


def test_an_unknown_cluster_is_an_error_naming_it(neptune: Any) -> None:
    make_cluster(neptune, "graph-a")
    with pytest.raises(ConfigError) as caught:
        configured_clusters(neptune, "graph-a,graph-zz")
    assert caught.value.field == CLUSTERS_ENV
    assert "'graph-zz'" in caught.value.message


def test_a_non_neptune_cluster_of_the_same_name_is_not_a_neptune_cluster(neptune: Any) -> None:
    boto3.client("rds", region_name="us-east-1").create_db_cluster(
        DBClusterIdentifier="graph-pg", Engine="aurora-postgresql", MasterUsername="u", MasterUserPassword="password1"
    )
    with pytest.raises(ConfigError, match="graph-pg"):
        configured_clusters(neptune, "graph-pg")


def test_aws_faults_surface(neptune: Any) -> None:
    broken = boto3.client("neptune", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=_no_retries())
    with pytest.raises(Exception, match=r"127\.0\.0\.1:9"):
        configured_clusters(broken, "graph-a")


def _no_retries() -> Any:
    from botocore.config import Config

    return Config(retries={"total_max_attempts": 1}, connect_timeout=1)


CLUSTERS = (
    NeptuneCluster("a", "cluster-AAA", ("https://a.cluster-x.neptune.amazonaws.com:8182", "https://i1.x:8182")),
    NeptuneCluster("b", "cluster-BBB", ("https://b.cluster-x.neptune.amazonaws.com:8182",)),
)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://a.cluster-x.neptune.amazonaws.com:8182", "a"),
        ("https://A.Cluster-X.neptune.amazonaws.com:8182/", "a"),
        ("https://i1.x:8182", "a"),
        ("https://b.cluster-x.neptune.amazonaws.com", "b"),  # 8182 when absent
        ("https://b.cluster-x.neptune.amazonaws.com:8183", None),
        ("https://c.cluster-x.neptune.amazonaws.com:8182", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_cluster_for_endpoint_matches_host_and_port(endpoint: str, expected: str | None) -> None:
    found = cluster_for_endpoint(endpoint, CLUSTERS)
    assert (found.identifier if found else None) == expected


def test_data_endpoint_is_the_writer_unless_a_stand_in_is_allowed_at_its_host_and_port() -> None:
    cluster = NeptuneCluster("t", "cluster-T", ("https://127.0.0.1:4567", "https://t.ro:8182"))
    assert cluster.data_endpoint({}) == "https://127.0.0.1:4567"
    allowed = {"JOBJANITOR_ALLOWED_ENDPOINTS": "http://127.0.0.1:9999, http://127.0.0.1:4567"}
    assert cluster.data_endpoint(allowed) == "http://127.0.0.1:4567"


def test_a_stand_in_cluster_on_the_test_bed_serves_the_emulators_endpoint(aws_env: Any) -> None:
    from jobjanitor_testbed.clusters import create_stand_in_cluster

    stand_in = create_stand_in_cluster(aws_env.neptune_url, "graph-bed", instances=1)
    (cluster,) = configured_clusters(boto3.client("neptune"), "graph-bed")

    assert cluster.resource_id == stand_in.resource_id
    assert cluster_for_endpoint(aws_env.neptune_url, [cluster]) is cluster
    allowed = {"JOBJANITOR_ALLOWED_ENDPOINTS": aws_env.neptune_url}
    assert cluster.data_endpoint(allowed) == aws_env.neptune_url


def test_the_registry_accepts_an_instance_added_after_it_resolved(neptune: Any) -> None:
    make_cluster(neptune, "graph-a", instances=1)
    registry = ClusterRegistry("graph-a", lambda: neptune)
    assert [c.identifier for c in registry.clusters()] == ["graph-a"]
    added = neptune.create_db_instance(
        DBInstanceIdentifier="graph-a-new",
        DBInstanceClass="db.r6g.large",
        Engine="neptune",
        DBClusterIdentifier="graph-a",
    )["DBInstance"]["Endpoint"]
    found = registry.require(f"https://{added['Address']}:{added['Port']}", field="NeptuneEndpoint")
    assert found.identifier == "graph-a"


def test_an_unconfigured_endpoint_is_refused_naming_the_cluster_and_how_to_add_it(neptune: Any) -> None:
    a = make_cluster(neptune, "graph-a")
    b = make_cluster(neptune, "graph-b")
    registry = ClusterRegistry(a["DbClusterResourceId"], lambda: neptune)
    with pytest.raises(ConfigError) as caught:
        registry.require(f"https://{b['Endpoint']}:8182", field="NeptuneEndpoint")
    assert caught.value.field == "NeptuneEndpoint"
    message = caught.value.message
    assert message.startswith(f"graph-b ({b['DbClusterResourceId']}) is not among jobjanitor's clusters: add it: ")
    expected = f'NeptuneClusterResourceIds="{a["DbClusterResourceId"]},{b["DbClusterResourceId"]}"'
    assert expected in message


def test_with_no_clusters_configured_every_endpoint_is_refused_without_resolving(neptune: Any) -> None:
    calls: list[str] = []

    def factory() -> Any:
        calls.append("client")
        return neptune

    registry = ClusterRegistry("", factory)
    assert registry.clusters() == ()
    with pytest.raises(ConfigError, match=r'NeptuneClusterResourceIds="<its cluster resource id>"'):
        registry.require("https://nowhere.cluster-x.us-east-1.neptune.amazonaws.com:8182", field="NeptuneEndpoint")
    assert calls == ["client"]  # only to name the cluster in the error


def test_a_long_list_is_left_out_of_the_message_so_the_command_survives(neptune: Any) -> None:
    b = make_cluster(neptune, "graph-b")
    ids = [f"cluster-{i:02d}ABCDEFGHIJKLMNOPQRSTUVWX" for i in range(9)]
    registry = ClusterRegistry(",".join(ids), lambda: neptune)
    registry.clusters = lambda refresh=False: ()  # type: ignore[method-assign] # those clusters are elsewhere
    with pytest.raises(ConfigError) as caught:
        registry.require(f"https://{b['Endpoint']}:8182", field="NeptuneEndpoint")
    assert len(str(caught.value)) <= 250
    assert str(caught.value).endswith(f'NeptuneClusterResourceIds="<the ids it has>,{b["DbClusterResourceId"]}"`')


def test_a_malformed_list_fails_each_use_not_the_construction() -> None:
    registry = ClusterRegistry("cluster-AAAA,,cluster-BBBB", lambda: None)
    assert registry.known() == ()
    for use in (registry.clusters, lambda: registry.require("https://x:8182", field="NeptuneEndpoint")):
        with pytest.raises(ConfigError) as caught:
            use()
        assert caught.value.field == CLUSTERS_ENV


@pytest.mark.parametrize(
    ("entry", "identifier", "resource_id", "names"),
    [
        ("cluster-ABC123", "graph-a", "cluster-ABC123", True),
        ("cluster-ABC123", "cluster-abc123", "cluster-ZZZ999", False),  # a resource id never names an identifier
        ("cluster-abc123", "cluster-abc123", "cluster-ZZZ999", True),  # lower case: an identifier
        ("GRAPH-A", "graph-a", "cluster-X", True),  # identifiers fold case
        ("graph-a", "graph-b", "cluster-X", False),
        ("cluster-ABC12", "graph-a", "cluster-ABC123", False),
    ],
)
def test_names_cluster_compares_resource_ids_exactly_and_identifiers_case_folded(
    entry: str, identifier: str, resource_id: str, names: bool
) -> None:
    assert names_cluster(entry, identifier, resource_id) is names


def test_a_missing_entry_is_reported_and_the_rest_resolved(neptune: Any) -> None:
    make_cluster(neptune, "graph-a")
    resolved = resolve_clusters(neptune, "graph-a,graph-gone,cluster-GONE1")
    assert [c.identifier for c in resolved.clusters] == ["graph-a"]
    assert resolved.missing == ("graph-gone", "cluster-GONE1")
    assert resolve_clusters(neptune, "graph-gone") == Resolved((), ("graph-gone",))


def test_the_registry_names_the_missing_cluster_an_endpoint_belonged_to(neptune: Any) -> None:
    make_cluster(neptune, "graph-a")
    registry = ClusterRegistry("graph-a,graph-b,graph-c", lambda: neptune)
    with pytest.raises(ClusterGone) as caught:
        registry.require("https://graph-b.cluster-xyz.us-east-1.neptune.amazonaws.com:8182", field="NeptuneEndpoint")
    assert caught.value.message.startswith("this endpoint's cluster 'graph-b' no longer exists: ")
    with pytest.raises(ClusterGone) as unsure:
        registry.require("https://other.cluster-xyz.us-east-1.neptune.amazonaws.com:8182", field="NeptuneEndpoint")
    assert unsure.value.message.startswith("configured clusters 'graph-b', 'graph-c' no longer exist, and none")
    assert registry.missing == ("graph-b", "graph-c")
    assert [c.identifier for c in registry.clusters()] == ["graph-a"]


@pytest.mark.parametrize(
    ("endpoint", "advice"),
    [
        ("https://g.cluster-abc.us-east-1.neptune.amazonaws.com:8182", None),
        ("https://g.cluster-ro-abc.us-east-1.neptune.amazonaws.com:8182", "https://g.cluster-abc.us-east-1."),
        (
            "https://i-1.abc.us-east-1.neptune.amazonaws.com:8183",
            "https://<cluster>.cluster-abc.us-east-1.neptune.amazonaws.com:8183",
        ),
        ("https://c.cluster-custom-abc.eu-west-1.neptune.amazonaws.com:8182", "may route to readers"),
        ("http://127.0.0.1:8182", None),  # a test bed: no form to read
    ],
)
def test_not_the_writer_names_the_cluster_endpoint_to_use(endpoint: str, advice: str | None) -> None:
    said = not_the_writer(endpoint)
    if advice is None:
        assert said is None
    else:
        assert said is not None
        assert advice in said
