"""The one table, one key scheme: every writer's items are keyed ``jobjanitor#<namespace>#…``
(jobjanitor.store.table.key), and items written by an earlier version are still read."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from jobjanitor.clusters import NeptuneCluster
from jobjanitor.guard.prefixes import PrefixRegistry
from jobjanitor.model import JobKindName, JobRef
from jobjanitor.protocol.polling import Polling
from jobjanitor.store import table
from jobjanitor.store.first_seen import DynamoDBFirstSeen
from jobjanitor.store.requests import LEGACY_KEY_PREFIX, POLL_KEY, RequestStore, request_hash
from jobjanitor_testbed.server import TestBed

TABLE = "jobjanitor-idempotency"
EVENT = {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/uuid", "RequestId": "r-1"}
CLUSTER = NeptuneCluster("db", "cluster-ABC", ("https://db.cluster-x.us-east-1.neptune.amazonaws.com:8182",))
OWNER = f"{EVENT['StackId']}|Guard"


@pytest.fixture
def dynamodb(aws_env: TestBed) -> object:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _ids(client: object) -> set[str]:
    return {item["id"]["S"] for item in client.scan(TableName=TABLE)["Items"]}  # type: ignore[attr-defined]


def test_every_writer_keys_its_items_by_the_one_scheme(dynamodb: object) -> None:
    requests = RequestStore(TABLE, dynamodb)
    requests.deadline(EVENT, 600)
    requests.save({**EVENT, "ResponseURL": "https://example.invalid/answer"})
    PrefixRegistry(TABLE, dynamodb).record(CLUSTER, OWNER, "ml-")
    ref = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "job-1", "https://db:8182")
    DynamoDBFirstSeen(TABLE, client=dynamodb).first_seen(ref, datetime.now(UTC))  # type: ignore[arg-type]

    assert _ids(dynamodb) == {
        table.key("guard-request", request_hash(EVENT)),
        table.key("guard-prefixes", CLUSTER.resource_id),
        table.key("first-seen", "https://db:8182", JobKindName.NEPTUNE_ML_TRAINING.value, "", "job-1"),
    }
    assert all(i.startswith("jobjanitor#") and i.split("#")[1] in table.NAMESPACES for i in _ids(dynamodb))
    with pytest.raises(ValueError, match="namespace"):
        table.key("somewhere-else", "x")


def test_a_request_stored_by_an_earlier_version_is_still_read(dynamodb: object) -> None:
    """Before the store package, requests were keyed ``jobjanitor-guard-request#<hash>``: a
    polling rule made then names that key, and the first delivery's deadline stands."""
    old_key = LEGACY_KEY_PREFIX + request_hash(EVENT)
    first_deadline = time.time() + 120
    stored = {**EVENT, "ResponseURL": "https://example.invalid/answer", "CrHelperData": {"Cancelled": "1"}}
    dynamodb.put_item(  # type: ignore[attr-defined]
        TableName=TABLE,
        Item={"id": {"S": old_key}, "request": {"S": json.dumps(stored)}, "deadline": {"N": str(first_deadline)}},
    )
    requests = RequestStore(TABLE, dynamodb)

    assert requests.load(old_key) == stored
    resumed = Polling(requests, events_client=None, lambda_client=None).resume({POLL_KEY: old_key}, "fn")
    assert resumed == ({k: v for k, v in stored.items() if k != "CrHelperData"}, {"Cancelled": "1"})
    # A later delivery (or tick) keeps the first delivery's deadline, now under the new key too.
    assert requests.deadline(EVENT, 3600) == pytest.approx(first_deadline)
    assert requests.deadline(EVENT, 3600) == pytest.approx(first_deadline)


def test_a_prefix_entry_of_an_earlier_version_is_still_read(dynamodb: object) -> None:
    """Earlier versions keyed a cluster's entries by the endpoint a guard was given."""
    PrefixRegistry(TABLE, dynamodb)._store.record(CLUSTER.data_endpoint(), "old-stack|Guard", "ml-old-")
    PrefixRegistry(TABLE, dynamodb).record(CLUSTER, "new-stack|Guard", "ml-new-")

    assert PrefixRegistry(TABLE, dynamodb).others(CLUSTER, OWNER) == {
        "old-stack|Guard": "ml-old-",
        "new-stack|Guard": "ml-new-",
    }
    assert table.key("guard-prefixes", CLUSTER.data_endpoint()) in _ids(dynamodb)


def test_a_first_seen_entry_keeps_its_key_across_the_move(dynamodb: object) -> None:
    """The ledger's key format did not change: an entry written before the move dates the job."""
    ref = JobRef(JobKindName.NEPTUNE_ML_TRAINING, "job-1", "https://db:8182")
    seen = datetime.now(UTC) - timedelta(hours=2)
    dynamodb.put_item(  # type: ignore[attr-defined]
        TableName=TABLE,
        Item={
            "id": {"S": f"jobjanitor#first-seen#https://db:8182#{ref.kind.value}##job-1"},
            "first_seen": {"N": str(int(seen.timestamp()))},
        },
    )
    ledger = DynamoDBFirstSeen(TABLE, client=dynamodb, read_only=True)  # type: ignore[arg-type]
    assert ledger.first_seen(ref, datetime.now(UTC)) == seen.replace(microsecond=0)
