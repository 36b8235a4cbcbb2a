"""Neptune ML inference endpoints in the test bed, through boto3's neptunedata and sagemaker
clients: the four operations, their lifecycle on the test bed clock, the SageMaker endpoint,
config and model underneath, and what is counted."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign

START = 1_700_000_000.0


@pytest.fixture
def trained(testbed: TestBed, testbed_clock: FakeClock) -> str:
    """A completed model-training job to point endpoints at; endpoints take 30 s to create and
    10 s to delete."""
    testbed.lifecycle.starting_delay = 30.0
    testbed.lifecycle.stop_delay = 10.0
    return testbed.neptune.seed_ml_job("modeltraining", "train-1", status="Completed")


def sagemaker_state(sagemaker: Any, got: dict[str, Any]) -> dict[str, Any]:
    """The SageMaker endpoint, config and model GetMLEndpoint names, as SageMaker describes them
    (None for one that does not exist)."""

    def read(call: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            return dict(call(**kwargs))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            return None

    endpoint = read(sagemaker.describe_endpoint, EndpointName=got["endpoint"]["name"])
    config = read(sagemaker.describe_endpoint_config, EndpointConfigName=got["endpointConfig"]["name"])
    model = None
    if config is not None:
        model = read(sagemaker.describe_model, ModelName=config["ProductionVariants"][0]["ModelName"])
    return {"endpoint": endpoint, "config": config, "model": model}


def test_create_list_get_delete_on_the_testbed_clock(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, trained: str
) -> None:
    created = neptune_client.create_ml_endpoint(id="ep-1", mlModelTrainingJobId=trained, instanceCount=2)
    assert created["id"] == "ep-1"
    assert created["creationTimeInMillis"] == int(START * 1000)
    got = neptune_client.get_ml_endpoint(id="ep-1")
    assert got["status"] == got["endpoint"]["status"] == "Creating"
    assert got["endpoint"]["arn"] == created["arn"]
    underneath = sagemaker_state(sagemaker_client, got)
    assert underneath["endpoint"]["EndpointStatus"] == "Creating"
    assert underneath["endpoint"]["EndpointArn"] == got["endpoint"]["arn"]
    assert underneath["endpoint"]["CreationTime"] == datetime.fromtimestamp(START, UTC)
    assert underneath["endpoint"]["EndpointConfigName"] == got["endpointConfig"]["name"]
    assert underneath["config"]["EndpointConfigArn"] == got["endpointConfig"]["arn"]
    assert underneath["config"]["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"  # the default
    assert underneath["model"] is not None
    assert neptune_client.list_ml_endpoints()["ids"] == ["ep-1"]

    testbed_clock.advance(30)
    assert neptune_client.get_ml_endpoint(id="ep-1")["status"] == "InService"
    assert sagemaker_state(sagemaker_client, got)["endpoint"]["EndpointStatus"] == "InService"

    assert neptune_client.delete_ml_endpoint(id="ep-1")["status"] == "Deleting"
    assert neptune_client.get_ml_endpoint(id="ep-1")["status"] == "Deleting"
    assert sagemaker_state(sagemaker_client, got)["endpoint"]["EndpointStatus"] == "Deleting"
    assert neptune_client.list_ml_endpoints()["ids"] == ["ep-1"]  # listed while being deleted

    testbed_clock.advance(10)
    with pytest.raises(neptune_client.exceptions.InvalidParameterException):
        neptune_client.get_ml_endpoint(id="ep-1")
    assert neptune_client.list_ml_endpoints()["ids"] == []
    # The endpoint, its config and its model are gone from SageMaker (the test bed's default).
    assert sagemaker_state(sagemaker_client, got) == {"endpoint": None, "config": None, "model": None}
    view = testbed.neptune.ml_endpoint("ep-1")
    assert view.status == "Deleted"
    assert view.delete_count == 1
    # Billed nothing, but counted: two instances for the 40 s from creation to deletion.
    assert view.instance_seconds == 80.0


def test_config_and_model_left_behind_when_told(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, trained: str
) -> None:
    testbed.neptune.state.endpoints.leave_config_and_model = True
    neptune_client.create_ml_endpoint(id="ep-2", mlModelTrainingJobId=trained)
    got = neptune_client.get_ml_endpoint(id="ep-2")
    neptune_client.delete_ml_endpoint(id="ep-2")
    testbed_clock.advance(10)
    left = sagemaker_state(sagemaker_client, got)
    assert left["endpoint"] is None
    assert left["config"] is not None
    assert left["model"] is not None


def test_sources_ids_and_updates(testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock, trained: str) -> None:
    errors = neptune_client.exceptions
    with pytest.raises(errors.MissingParameterException):
        neptune_client.create_ml_endpoint(id="ep")
    with pytest.raises(errors.InvalidParameterException):
        neptune_client.create_ml_endpoint(id="ep", mlModelTrainingJobId=trained, mlModelTransformJobId="x")
    with pytest.raises(errors.BadRequestException, match="doesn't exist"):
        neptune_client.create_ml_endpoint(id="ep", mlModelTrainingJobId="no-such-job")
    testbed.neptune.seed_ml_job("modeltraining", "still-training", status="InProgress")
    with pytest.raises(errors.BadRequestException, match="not completed"):
        neptune_client.create_ml_endpoint(id="ep", mlModelTrainingJobId="still-training")
    for bad in ("x" * 49, "under_score", ""):
        with pytest.raises(errors.InvalidParameterException, match="Invalid ID"):
            neptune_client.create_ml_endpoint(id=bad, mlModelTrainingJobId=trained)
    with pytest.raises(errors.InvalidParameterException, match="modelName"):
        neptune_client.create_ml_endpoint(id="ep", mlModelTrainingJobId=trained, modelName="gpt")
    with pytest.raises(errors.BadRequestException, match="SageMaker"):
        neptune_client.create_ml_endpoint(id="ep", mlModelTrainingJobId=trained, instanceType="ml.nonesuch.huge")
    assert neptune_client.list_ml_endpoints()["ids"] == []  # nothing refused was created

    testbed.neptune.seed_ml_job("modeltransform", "transform-1", status="Completed")
    assert neptune_client.create_ml_endpoint(id="x" * 48, mlModelTransformJobId="transform-1")["id"] == "x" * 48
    generated = neptune_client.create_ml_endpoint(mlModelTrainingJobId=trained)["id"]
    assert generated.startswith("endpoint-20231114")  # the default id: a timestamped name
    with pytest.raises(errors.InvalidParameterException, match="same ID"):
        neptune_client.create_ml_endpoint(id=generated, mlModelTrainingJobId=trained)
    with pytest.raises(errors.InvalidParameterException):
        neptune_client.create_ml_endpoint(id="not-there", mlModelTrainingJobId=trained, update=True)
    testbed_clock.advance(30)
    assert neptune_client.create_ml_endpoint(id=generated, mlModelTrainingJobId=trained, update=True)["id"] == generated
    assert neptune_client.get_ml_endpoint(id=generated)["status"] == "Updating"
    testbed_clock.advance(30)
    assert neptune_client.get_ml_endpoint(id=generated)["status"] == "InService"
    assert neptune_client.list_ml_endpoints()["ids"] == [generated, "x" * 48]  # most recent first


@pytest.mark.parametrize("style", ["400", "404"])
def test_unknown_ids(testbed: TestBed, neptune_client: Any, style: str) -> None:
    testbed.neptune.ml_not_found_style = style  # type: ignore[assignment]
    code = "InvalidParameterException" if style == "400" else "MLResourceNotFoundException"
    for call in (neptune_client.get_ml_endpoint, neptune_client.delete_ml_endpoint):
        with pytest.raises(getattr(neptune_client.exceptions, code)) as info:
            call(id="nope")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == int(style)


def test_list_max_items(testbed: TestBed, neptune_client: Any) -> None:
    for i in range(12):
        testbed.neptune.seed_ml_endpoint(f"ep-{i:02d}")
    assert len(neptune_client.list_ml_endpoints()["ids"]) == 10  # the model's default
    assert neptune_client.list_ml_endpoints(maxItems=3)["ids"] == ["ep-11", "ep-10", "ep-09"]
    assert len(neptune_client.list_ml_endpoints(maxItems=1024)["ids"]) == 12
    with pytest.raises(neptune_client.exceptions.InvalidParameterException):
        neptune_client.list_ml_endpoints(maxItems=1025)  # botocore checks only the minimum


@pytest.mark.parametrize("raw", ["true", "TRUE", "True"])
def test_clean_parsed_case_insensitively_and_a_second_delete_changes_nothing(
    testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock, raw: str
) -> None:
    testbed.lifecycle.stop_delay = 10.0
    testbed.neptune.seed_ml_endpoint("ep")
    url = f"{testbed.neptune_url}/ml/endpoints/ep?clean={raw}"
    request = urllib.request.Request(url, method="DELETE", headers=sign("DELETE", url))  # noqa: S310 - loopback
    with urllib.request.urlopen(request) as resp:  # noqa: S310 - loopback test server
        assert json.loads(resp.read()) == {"status": "Deleting"}
    testbed_clock.advance(5)
    assert neptune_client.delete_ml_endpoint(id="ep", clean=False)["status"] == "Deleting"
    view = testbed.neptune.ml_endpoint("ep")
    assert (view.clean, view.delete_count, view.deleted_at) == (True, 2, START)
    testbed_clock.advance(5)
    assert testbed.neptune.ml_endpoint("ep").status == "Deleted"  # the first delete's clock


def test_outputs_carry_only_members_the_model_defines(testbed: TestBed, neptune_client: Any, trained: str) -> None:
    shapes = neptune_client.meta.service_model
    raw: list[dict[str, Any]] = []
    neptune_client.meta.events.register(
        "after-call.neptunedata.*", lambda http_response, **_: raw.append(json.loads(http_response.content))
    )

    def check(operation: str, body: dict[str, Any]) -> None:
        output = shapes.operation_model(operation).output_shape
        assert set(body) <= set(output.members), (operation, set(body) - set(output.members))
        for member, value in body.items():
            if isinstance(value, dict):
                assert set(value) <= set(output.members[member].members), (operation, member)

    neptune_client.create_ml_endpoint(id="made", mlModelTrainingJobId=trained)
    check("CreateMLEndpoint", raw[-1])
    for status in ("Creating", "InService", "Updating", "Failed", "Deleting"):
        testbed.neptune.seed_ml_endpoint(f"ep-{status.lower()}", status=status)
        neptune_client.get_ml_endpoint(id=f"ep-{status.lower()}")
        check("GetMLEndpoint", raw[-1])
        assert raw[-1]["status"] == raw[-1]["endpoint"]["status"] == status
        assert ("failureReason" in raw[-1]["endpoint"]) == (status == "Failed")
    neptune_client.list_ml_endpoints()
    check("ListMLEndpoints", raw[-1])
    neptune_client.delete_ml_endpoint(id="made")
    check("DeleteMLEndpoint", raw[-1])


def test_seeded_old_endpoint_is_dated_by_sagemaker_without_sleeping(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock
) -> None:
    testbed.neptune.seed_ml_endpoint("old", created_at=START - 7 * 86400, instance_type="ml.m5.2xlarge")
    got = neptune_client.get_ml_endpoint(id="old")
    assert got["status"] == "InService"
    described = sagemaker_client.describe_endpoint(EndpointName=got["endpoint"]["name"])
    assert described["CreationTime"] == datetime.fromtimestamp(START - 7 * 86400, UTC)
    assert testbed.neptune.ml_endpoint("old").instance_seconds == 7 * 86400


def test_sagemaker_delete_behind_neptunes_back_leaves_neptunes_record(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    """An assumption, made a behaviour of the test bed: Neptune's Get answers from its own
    record, so an endpoint deleted in SageMaker still reads InService there."""
    testbed.neptune.seed_ml_endpoint("orphaned", status="InService")
    got = neptune_client.get_ml_endpoint(id="orphaned")
    sagemaker_client.delete_endpoint(EndpointName=got["endpoint"]["name"])
    assert neptune_client.get_ml_endpoint(id="orphaned")["status"] == "InService"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker_client.describe_endpoint(EndpointName=got["endpoint"]["name"])


def test_reset_drops_endpoints_and_their_sagemaker_resources(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    testbed.neptune.seed_ml_endpoint("ep")
    assert sagemaker_client.list_endpoints()["Endpoints"]
    testbed.neptune.reset()
    assert neptune_client.list_ml_endpoints()["ids"] == []
    assert sagemaker_client.list_endpoints()["Endpoints"] == []
    assert sagemaker_client.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker_client.list_models()["Models"] == []


def test_seeding_mistakes_are_test_bugs(testbed: TestBed) -> None:
    with pytest.raises(ValueError, match="endpoint id"):
        testbed.neptune.seed_ml_endpoint("bad_id")
    with pytest.raises(ValueError, match="status"):
        testbed.neptune.seed_ml_endpoint("ep", status="Stopped")
