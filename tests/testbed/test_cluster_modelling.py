"""The test bed's clusters as the janitor meets them: reader and instance endpoints that share the
cluster's jobs and refuse cancels, a stopped cluster, a deleted one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from jobjanitor_testbed.clusters import (
    READER_HOST,
    create_stand_in_cluster,
    delete_cluster,
    model_endpoints,
    start_cluster,
    stop_cluster,
)
from jobjanitor_testbed.neptune import NeptuneEmulator
from jobjanitor_testbed.pytest_plugin import make_client

ONE_TRY = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


@pytest.fixture
def emulator(aws_env: Any) -> Iterator[NeptuneEmulator]:
    with NeptuneEmulator(lifecycle=aws_env.lifecycle) as own:
        yield own


def test_reader_and_instance_endpoints_share_the_jobs_and_only_the_writer_cancels(emulator: NeptuneEmulator) -> None:
    create_stand_in_cluster(emulator.url, "graph-ro", instances=3)
    endpoints = model_endpoints("graph-ro", emulator)
    neptune = boto3.client("neptune")
    (cluster,) = neptune.describe_db_clusters(DBClusterIdentifier="graph-ro")["DBClusters"]
    assert (cluster["ReaderEndpoint"], cluster["Port"]) == (READER_HOST, emulator.port)
    instances = neptune.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["graph-ro"]}])
    listed = {
        i["DBInstanceIdentifier"]: f"http://{i['Endpoint']['Address']}:{i['Endpoint']['Port']}"
        for i in instances["DBInstances"]
    }
    assert listed == endpoints.instances
    job = emulator.seed_ml_job("modeltraining", "ml-1", status="InProgress")
    readers = [endpoints.reader, *(url for url in endpoints.instances.values() if url != endpoints.writer_instance)]
    assert len(readers) == 3
    for url in readers:
        client = make_client("neptunedata", url, config=ONE_TRY)
        assert client.list_ml_model_training_jobs()["ids"] == [job]
        with pytest.raises(ClientError) as refused:
            client.cancel_ml_model_training_job(id=job)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert emulator.job("modeltraining", job).status == "InProgress"
    make_client("neptunedata", endpoints.writer_instance).cancel_ml_model_training_job(id=job)
    assert emulator.job("modeltraining", job).status == "Stopping"
    assert emulator.log.count(method="DELETE", endpoint=endpoints.writer_instance) == 1


def test_a_stopped_cluster_says_so_and_its_endpoints_do_not_answer(emulator: NeptuneEmulator) -> None:
    create_stand_in_cluster(emulator.url, "graph-stop")
    endpoints = model_endpoints("graph-stop", emulator)
    job = emulator.seed_ml_job("modeltraining", "ml-2", status="InProgress")
    stop_cluster("graph-stop", emulator)
    neptune = boto3.client("neptune")
    assert neptune.describe_db_clusters(DBClusterIdentifier="graph-stop")["DBClusters"][0]["Status"] == "stopped"
    for url in endpoints.all:
        with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
            make_client("neptunedata", url, config=ONE_TRY).list_ml_model_training_jobs()
    assert emulator.log.count(fault="stopped") == len(endpoints.all)
    start_cluster("graph-stop", emulator)
    assert make_client("neptunedata", emulator.url).list_ml_model_training_jobs()["ids"] == [job]


def test_a_deleted_cluster_is_not_found(emulator: NeptuneEmulator) -> None:
    create_stand_in_cluster(emulator.url, "graph-gone")
    delete_cluster("graph-gone")
    neptune = boto3.client("neptune")
    with pytest.raises(ClientError) as caught:
        neptune.describe_db_clusters(DBClusterIdentifier="graph-gone")
    assert caught.value.response["Error"]["Code"] == "DBClusterNotFoundFault"
