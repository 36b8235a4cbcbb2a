"""Neptune ML job management (dataprocessing, modeltraining, modeltransform) through boto3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed
from jobjanitor_testbed.sigv4 import sign

KINDS = ["dataprocessing", "modeltraining", "modeltransform"]
NOUN = {"dataprocessing": "data_processing", "modeltraining": "model_training", "modeltransform": "model_transform"}
START_ARGS: dict[str, dict[str, Any]] = {
    "dataprocessing": {"inputDataS3Location": "s3://in/", "processedDataS3Location": "s3://processed/"},
    "modeltraining": {"dataProcessingJobId": "dp-1", "trainModelS3Location": "s3://train/"},
    "modeltransform": {"modelTransformOutputS3Location": "s3://transform/"},
}
SUB_OBJECTS = {
    "dataprocessing": ["processingJob"],
    "modeltraining": ["processingJob", "hpoJob"],
    "modeltransform": ["baseProcessingJob", "remoteModelTransformJob"],
}


def call(client: Any, verb: str, kind: str, **kwargs: Any) -> Any:
    suffix = "s" if verb == "list" else ""
    return getattr(client, f"{verb}_ml_{NOUN[kind]}_job{suffix}")(**kwargs)


def exc(client: Any, name: str) -> type[Exception]:
    return getattr(client.exceptions, name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", KINDS)
def test_start_list_get_cancel(testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock, kind: str) -> None:
    out = call(neptune_client, "start", kind, id=f"{kind}-1", **START_ARGS[kind])
    assert out["id"] == f"{kind}-1"
    assert out["arn"].startswith("arn:aws:sagemaker:us-east-1:")
    assert out["creationTimeInMillis"] == int(testbed_clock.now * 1000)
    generated = call(neptune_client, "start", kind, **START_ARGS[kind])["id"]
    assert generated

    assert call(neptune_client, "list", kind)["ids"] == [generated, f"{kind}-1"]
    got = call(neptune_client, "get", kind, id=f"{kind}-1")
    assert got["status"] == "InProgress"
    assert got["id"] == f"{kind}-1"
    for sub in SUB_OBJECTS[kind]:
        assert got[sub]["status"] == "InProgress"
        assert got[sub]["arn"]
    assert "creationTimeInMillis" not in got  # unmodelled: boto3 drops it

    assert call(neptune_client, "cancel", kind, id=f"{kind}-1", clean=True)["status"] == "Stopping"
    assert call(neptune_client, "get", kind, id=f"{kind}-1")["status"] == "Stopping"
    view = testbed.neptune.job(kind, f"{kind}-1")
    assert (view.status, view.clean, view.cancelled_at) == ("Stopping", True, testbed_clock.now)
    testbed_clock.advance(0.3)  # stop_delay of the fixture
    assert call(neptune_client, "get", kind, id=f"{kind}-1")["status"] == "Stopped"
    assert testbed.neptune.job(kind, generated).clean is None


def test_ml_lifecycle_completes_and_stopping_is_idempotent(
    testbed: TestBed, neptune_client: Any, testbed_clock: FakeClock
) -> None:
    testbed.lifecycle.job_duration = 5
    call(neptune_client, "start", "modeltraining", id="t1", **START_ARGS["modeltraining"])
    testbed_clock.advance(5)
    done = call(neptune_client, "get", "modeltraining", id="t1")
    assert done["status"] == "Completed"
    assert done["mlModels"][0]["name"]

    call(neptune_client, "start", "modeltraining", id="t2", **START_ARGS["modeltraining"])
    call(neptune_client, "cancel", "modeltraining", id="t2")
    testbed_clock.advance(0.1)
    assert call(neptune_client, "cancel", "modeltraining", id="t2", clean=True)["status"] == "Stopping"
    view = testbed.neptune.job("modeltraining", "t2")
    assert view.cancel_count == 2
    assert view.cancelled_at == testbed_clock.now - 0.1  # the first cancel counts
    assert view.clean is True


@pytest.mark.parametrize("raw", ["true", "TRUE", "True"])
def test_clean_is_parsed_case_insensitively(testbed: TestBed, raw: str) -> None:
    import urllib.request

    testbed.neptune.seed_ml_job("dataprocessing", "j")
    url = f"{testbed.neptune_url}/ml/dataprocessing/j?clean={raw}"
    req = urllib.request.Request(url, method="DELETE", headers=sign("DELETE", url))  # noqa: S310 - loopback test server
    with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback test server
        assert json.loads(resp.read()) == {"status": "Stopping"}
    assert testbed.neptune.job("dataprocessing", "j").clean is True


def test_clean_false_recorded(testbed: TestBed, neptune_client: Any) -> None:
    testbed.neptune.seed_ml_job("dataprocessing", "j")
    call(neptune_client, "cancel", "dataprocessing", id="j", clean=False)
    assert testbed.neptune.job("dataprocessing", "j").clean is False


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_and_finished_ids_default_400(testbed: TestBed, neptune_client: Any, kind: str) -> None:
    with pytest.raises(exc(neptune_client, "InvalidParameterException"), match="Invalid ID") as info:
        call(neptune_client, "get", kind, id="nope")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(exc(neptune_client, "InvalidParameterException"), match="Invalid ID"):
        call(neptune_client, "cancel", kind, id="nope")
    testbed.neptune.seed_ml_job(kind, "done", status="Completed")
    with pytest.raises(exc(neptune_client, "InvalidParameterException"), match="already completed or failed"):
        call(neptune_client, "cancel", kind, id="done")
    assert call(neptune_client, "get", kind, id="done")["status"] == "Completed"


@pytest.mark.parametrize("kind", KINDS)
def test_not_found_style_404(testbed: TestBed, neptune_client: Any, kind: str) -> None:
    testbed.neptune.ml_not_found_style = "404"
    for verb in ("get", "cancel"):
        with pytest.raises(exc(neptune_client, "MLResourceNotFoundException")) as info:
            call(neptune_client, verb, kind, id="nope")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert str(info.value)
    testbed.neptune.seed_ml_job(kind, "stopped", status="Stopped")
    with pytest.raises(exc(neptune_client, "MLResourceNotFoundException")):
        call(neptune_client, "cancel", kind, id="stopped")


@pytest.mark.parametrize("kind", KINDS)
def test_list_max_items(testbed: TestBed, neptune_client: Any, kind: str) -> None:
    ids = [testbed.neptune.seed_ml_job(kind, f"j{i:02d}") for i in range(15)]
    assert call(neptune_client, "list", kind)["ids"] == list(reversed(ids))[:10]
    assert call(neptune_client, "list", kind, maxItems=3)["ids"] == ["j14", "j13", "j12"]
    assert call(neptune_client, "list", kind, maxItems=1024)["ids"] == list(reversed(ids))
    with pytest.raises(exc(neptune_client, "InvalidParameterException"), match="between 1 and 1024"):
        call(neptune_client, "list", kind, maxItems=1025)


def test_duplicate_id_and_missing_parameters(neptune_client: Any) -> None:
    call(neptune_client, "start", "dataprocessing", id="dup", **START_ARGS["dataprocessing"])
    with pytest.raises(exc(neptune_client, "InvalidParameterException"), match="already exists"):
        call(neptune_client, "start", "dataprocessing", id="dup", **START_ARGS["dataprocessing"])
    with pytest.raises(exc(neptune_client, "InvalidParameterException")) as info:
        call(neptune_client, "start", "dataprocessing", id="dup", **START_ARGS["dataprocessing"])
    assert (
        info.value.response["Error"]["Message"] == "Another resource with same ID already exists. Please use a new ID."
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("job_id", "message"),
    [
        ("bad_id.x", "Invalid ID provided. Must contain only letters, digits, or hyphens."),
        ("with space", "Invalid ID provided. Must contain only letters, digits, or hyphens."),
        ("é", "Invalid ID provided. Must contain only letters, digits, or hyphens."),
        ("a" * 49, "Invalid ID provided. ID can be 1-48 alphanumeric characters."),
        ("", "Invalid ID provided. ID can be 1-48 alphanumeric characters."),
    ],
)
def test_invalid_ids_are_refused(testbed: TestBed, kind: str, job_id: str, message: str) -> None:
    """Raw HTTP: botocore would refuse the empty id itself; the server must refuse them all."""
    import urllib.error
    import urllib.request

    body = json.dumps({"id": job_id, **START_ARGS[kind]}).encode()
    url = f"{testbed.neptune_url}/ml/{kind}"
    req = urllib.request.Request(url, data=body, method="POST", headers=sign("POST", url, body))  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)  # noqa: S310 - loopback test server
    assert info.value.code == 400
    error = json.loads(info.value.read())
    assert (error["code"], error["detailedMessage"]) == ("InvalidParameterException", message)
    assert testbed.neptune.jobs(kind) == []


@pytest.mark.parametrize("job_id", ["a", "A-1-b", "a" * 48, "0123456789-abcdef"])
def test_valid_ids_are_accepted(neptune_client: Any, job_id: str) -> None:
    assert call(neptune_client, "start", "dataprocessing", id=job_id, **START_ARGS["dataprocessing"])["id"] == job_id


def test_seeding_an_invalid_id_is_a_test_bug(testbed: TestBed) -> None:
    with pytest.raises(ValueError, match="invalid Neptune ML job id"):
        testbed.neptune.seed_ml_job("modeltraining", "under_score")


def test_transform_needs_an_existing_training_job(testbed: TestBed, neptune_client: Any, sagemaker_client: Any) -> None:
    args = {"modelTransformOutputS3Location": "s3://transform/", "dataProcessingJobId": "dp"}
    with pytest.raises(exc(neptune_client, "BadRequestException")) as info:
        call(neptune_client, "start", "modeltransform", id="x1", mlModelTrainingJobId="missing", **args)
    assert info.value.response["Error"]["Message"] == "Provided MLModelTraining job doesn't exist."
    with pytest.raises(exc(neptune_client, "BadRequestException"), match="Unable to find SageMaker AI resource"):
        call(neptune_client, "start", "modeltransform", id="x2", trainingJobName="no-such-sagemaker-job", **args)
    assert testbed.neptune.jobs("modeltransform") == []

    testbed.neptune.seed_ml_job("modeltraining", "trained", status="Completed")
    assert (
        call(neptune_client, "start", "modeltransform", id="x3", mlModelTrainingJobId="trained", **args)["id"] == "x3"
    )
    hpo = call(neptune_client, "get", "modeltraining", id="trained")["hpoJob"]["name"]
    best = sagemaker_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=hpo)["BestTrainingJob"]
    by_name = {"modelTransformOutputS3Location": "s3://transform/", "trainingJobName": best["TrainingJobName"]}
    assert call(neptune_client, "start", "modeltransform", id="x4", **by_name)["id"] == "x4"
