"""The SageMaker jobs underneath Neptune ML jobs: started, described, stopped and dated in moto."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.neptune import NeptuneState
from jobjanitor_testbed.server import TestBed

MEMBERS = {
    "dataprocessing": {"processingJob": "processing-job"},
    "modeltraining": {"processingJob": "processing-job", "hpoJob": "hyper-parameter-tuning-job"},
    "modeltransform": {"baseProcessingJob": "processing-job", "remoteModelTransformJob": "transform-job"},
}


def start(neptune: Any, kind: str, job_id: str) -> dict[str, Any]:
    if kind == "dataprocessing":
        return dict(
            neptune.start_ml_data_processing_job(
                id=job_id, inputDataS3Location="s3://in/", processedDataS3Location="s3://processed/"
            )
        )
    if kind == "modeltraining":
        return dict(
            neptune.start_ml_model_training_job(id=job_id, dataProcessingJobId="dp", trainModelS3Location="s3://t/")
        )
    neptune.start_ml_model_training_job(id=f"{job_id}-t", dataProcessingJobId="dp", trainModelS3Location="s3://t/")
    return dict(
        neptune.start_ml_model_transform_job(
            id=job_id,
            dataProcessingJobId="dp",
            mlModelTrainingJobId=f"{job_id}-t",
            modelTransformOutputS3Location="s3://o/",
        )
    )


def get(neptune: Any, kind: str, job_id: str) -> dict[str, Any]:
    noun = {"dataprocessing": "data_processing", "modeltraining": "model_training", "modeltransform": "model_transform"}
    return dict(getattr(neptune, f"get_ml_{noun[kind]}_job")(id=job_id))


def describe(sagemaker: Any, resource: str, name: str) -> dict[str, Any]:
    """(status, CreationTime, arn) the way a SageMaker client reads them."""
    if resource == "processing-job":
        out = sagemaker.describe_processing_job(ProcessingJobName=name)
        return {"status": out["ProcessingJobStatus"], "created": out["CreationTime"], "arn": out["ProcessingJobArn"]}
    if resource == "training-job":
        out = sagemaker.describe_training_job(TrainingJobName=name)
        return {"status": out["TrainingJobStatus"], "created": out["CreationTime"], "arn": out["TrainingJobArn"]}
    if resource == "transform-job":
        out = sagemaker.describe_transform_job(TransformJobName=name)
        return {"status": out["TransformJobStatus"], "created": out["CreationTime"], "arn": out["TransformJobArn"]}
    out = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return {
        "status": out["HyperParameterTuningJobStatus"],
        "created": out["CreationTime"],
        "arn": out["HyperParameterTuningJobArn"],
        "trained": out["BestTrainingJob"]["TrainingJobName"],
    }


def underneath(neptune: Any, sagemaker: Any, kind: str, job_id: str) -> dict[str, dict[str, Any]]:
    """Every SageMaker job the Neptune Get names (plus the tuning job's training job), described."""
    got = get(neptune, kind, job_id)
    out: dict[str, dict[str, Any]] = {}
    for member, resource in MEMBERS[kind].items():
        described = describe(sagemaker, resource, got[member]["name"])
        assert described["arn"] == got[member]["arn"]
        assert got[member]["arn"].split(":")[5] == f"{resource}/{got[member]['name']}"
        assert got[member]["status"] == got["status"]
        out[member] = described
        if "trained" in described:
            out["trainingJob"] = describe(sagemaker, "training-job", described["trained"])
    return out


@pytest.mark.parametrize("kind", sorted(MEMBERS))
def test_start_runs_sagemaker_jobs_dated_by_the_testbed_clock(
    neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, kind: str
) -> None:
    start(neptune_client, kind, "job-1")
    jobs = underneath(neptune_client, sagemaker_client, kind, "job-1")
    assert set(jobs) >= set(MEMBERS[kind])
    for job in jobs.values():
        assert job["status"] == "InProgress"
        assert job["created"] == datetime.fromtimestamp(testbed_clock.now, tz=UTC)


@pytest.mark.parametrize("kind", sorted(MEMBERS))
def test_cancel_stops_the_sagemaker_jobs(
    neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, kind: str
) -> None:
    start(neptune_client, kind, "job-1")
    noun = {"dataprocessing": "data_processing", "modeltraining": "model_training", "modeltransform": "model_transform"}
    getattr(neptune_client, f"cancel_ml_{noun[kind]}_job")(id="job-1")
    assert {j["status"] for j in underneath(neptune_client, sagemaker_client, kind, "job-1").values()} == {"Stopping"}
    testbed_clock.advance(0.3)  # the fixture's stop_delay
    assert {j["status"] for j in underneath(neptune_client, sagemaker_client, kind, "job-1").values()} == {"Stopped"}


def test_seeded_old_job_is_dated_without_sleeping(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock
) -> None:
    three_days_ago = testbed_clock.now - 3 * 86_400
    testbed.neptune.seed_ml_job("modeltraining", "old", started_at=three_days_ago, status="InProgress")
    jobs = underneath(neptune_client, sagemaker_client, "modeltraining", "old")
    assert {j["created"] for j in jobs.values()} == {datetime.fromtimestamp(three_days_ago, tz=UTC)}
    assert {j["status"] for j in jobs.values()} == {"InProgress"}


def test_completed_job_and_its_end_time(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock
) -> None:
    testbed.lifecycle.job_duration = 60
    start(neptune_client, "dataprocessing", "dp-1")
    testbed_clock.advance(60)
    name = get(neptune_client, "dataprocessing", "dp-1")["processingJob"]["name"]
    out = sagemaker_client.describe_processing_job(ProcessingJobName=name)
    assert out["ProcessingJobStatus"] == "Completed"
    assert out["ProcessingEndTime"] == datetime.fromtimestamp(testbed_clock.now, tz=UTC)
    summaries = sagemaker_client.list_processing_jobs()["ProcessingJobSummaries"]
    assert [(s["ProcessingJobName"], s["ProcessingJobStatus"]) for s in summaries] == [(name, "Completed")]


STOPS = {
    "processing-job": ("dataprocessing", "stop_processing_job", "ProcessingJobName"),
    "hyper-parameter-tuning-job": ("modeltraining", "stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
    "transform-job": ("modeltransform", "stop_transform_job", "TransformJobName"),
}


@pytest.mark.parametrize("resource", sorted(STOPS))
def test_sagemaker_stop_stops_the_neptune_job(
    neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, resource: str
) -> None:
    kind, call, param = STOPS[resource]
    start(neptune_client, kind, "job-1")
    member = next(m for m, r in MEMBERS[kind].items() if r == resource)
    name = get(neptune_client, kind, "job-1")[member]["name"]
    getattr(sagemaker_client, call)(**{param: name})
    assert get(neptune_client, kind, "job-1")["status"] == "Stopping"
    getattr(sagemaker_client, call)(**{param: name})  # a second stop while stopping changes nothing
    testbed_clock.advance(0.3)
    assert get(neptune_client, kind, "job-1")["status"] == "Stopped"
    with pytest.raises(ClientError, match="is in status Stopped") as info:
        getattr(sagemaker_client, call)(**{param: name})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="Could not find") as info:
        getattr(sagemaker_client, call)(**{param: "no-such-job"})
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_training_job_under_the_tuning_job_stops(
    neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock
) -> None:
    start(neptune_client, "modeltraining", "t-1")
    trained = underneath(neptune_client, sagemaker_client, "modeltraining", "t-1")["trainingJob"]
    name = trained["arn"].rsplit("/", 1)[1]
    sagemaker_client.stop_training_job(TrainingJobName=name)
    testbed_clock.advance(0.3)
    assert get(neptune_client, "modeltraining", "t-1")["status"] == "Stopped"
    assert sagemaker_client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopped"


def test_longest_ids_give_valid_sagemaker_names(neptune_client: Any, sagemaker_client: Any) -> None:
    long_id = "a" * 47 + "z"
    for kind in MEMBERS:
        start(neptune_client, kind, long_id if kind != "modeltransform" else "b" * 46)
    # boto3 validates name lengths client-side, so describing each one proves they fit.
    for kind, members in MEMBERS.items():
        job_id = long_id if kind != "modeltransform" else "b" * 46
        assert len(underneath(neptune_client, sagemaker_client, kind, job_id)) >= len(members)


def test_failed_seeded_job_reports_a_failure_reason(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    testbed.neptune.seed_ml_job("dataprocessing", "broken", status="Failed")
    got = get(neptune_client, "dataprocessing", "broken")
    assert got["processingJob"]["failureReason"]
    out = sagemaker_client.describe_processing_job(ProcessingJobName=got["processingJob"]["name"])
    assert (out["ProcessingJobStatus"], bool(out["FailureReason"])) == ("Failed", True)


def test_remote_transform_as_processing_job_switch(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    testbed.neptune.state.remote_transform_job = "processing-job"
    try:
        start(neptune_client, "modeltransform", "x-1")
        remote = get(neptune_client, "modeltransform", "x-1")["remoteModelTransformJob"]
        assert ":processing-job/" in remote["arn"]
        assert describe(sagemaker_client, "processing-job", remote["name"])["status"] == "InProgress"
    finally:
        testbed.neptune.state.remote_transform_job = "transform-job"
    with pytest.raises(ValueError, match="remote_transform_job"):
        NeptuneState(remote_transform_job="batch")  # type: ignore[arg-type]


def test_reset_drops_the_sagemaker_jobs(testbed: TestBed, neptune_client: Any, sagemaker_client: Any) -> None:
    start(neptune_client, "dataprocessing", "dp-1")
    assert sagemaker_client.list_processing_jobs()["ProcessingJobSummaries"]
    testbed.neptune.reset()
    assert sagemaker_client.list_processing_jobs()["ProcessingJobSummaries"] == []


def test_get_carries_only_members_the_model_defines(testbed: TestBed, neptune_client: Any) -> None:
    """No creationTimeInMillis or any other unmodelled key in a Get body, running or completed."""
    shapes = neptune_client.meta.service_model
    raw: list[dict[str, Any]] = []
    neptune_client.meta.events.register(
        "after-call.neptunedata.*", lambda http_response, **_: raw.append(json.loads(http_response.content))
    )
    for kind, status in [(k, s) for k in MEMBERS for s in ("InProgress", "Completed", "Failed", "Stopping")]:
        testbed.neptune.seed_ml_job(kind, f"{kind}-{status.lower()}", status=status)
        raw.clear()
        get(neptune_client, kind, f"{kind}-{status.lower()}")
        operation = {"dataprocessing": "GetMLDataProcessingJob", "modeltraining": "GetMLModelTrainingJob"}.get(
            kind, "GetMLModelTransformJob"
        )
        output = shapes.operation_model(operation).output_shape
        assert set(raw[0]) <= set(output.members), (kind, status, set(raw[0]) - set(output.members))
        for member in MEMBERS[kind]:
            assert set(raw[0][member]) <= set(output.members[member].members)


def test_two_clusters_with_the_same_ml_id_get_their_own_sagemaker_jobs(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any
) -> None:
    from jobjanitor_testbed.neptune import NeptuneEmulator
    from jobjanitor_testbed.pytest_plugin import make_client

    with NeptuneEmulator(lifecycle=testbed.lifecycle) as other:
        other_client = make_client("neptunedata", other.url)
        start(neptune_client, "modeltraining", "same-id")
        start(other_client, "modeltraining", "same-id")
        mine, theirs = get(neptune_client, "modeltraining", "same-id"), get(other_client, "modeltraining", "same-id")
        assert mine["hpoJob"]["name"] != theirs["hpoJob"]["name"]
        other_client.cancel_ml_model_training_job(id="same-id")
        assert (
            describe(sagemaker_client, "hyper-parameter-tuning-job", mine["hpoJob"]["name"])["status"] == "InProgress"
        )
        assert (
            describe(sagemaker_client, "hyper-parameter-tuning-job", theirs["hpoJob"]["name"])["status"] == "Stopping"
        )
        other.reset()
    assert describe(sagemaker_client, "hyper-parameter-tuning-job", mine["hpoJob"]["name"])["status"] == "InProgress"


LISTINGS = {  # resource -> (Neptune ML kind, Get member, list method, the noun of its summaries' keys)
    "processing-job": ("dataprocessing", "processingJob", "list_processing_jobs", "ProcessingJob"),
    "transform-job": ("modeltransform", "remoteModelTransformJob", "list_transform_jobs", "TransformJob"),
    "hyper-parameter-tuning-job": (
        "modeltraining",
        "hpoJob",
        "list_hyper_parameter_tuning_jobs",
        "HyperParameterTuningJob",
    ),
}


def listed(sagemaker: Any, resource: str, **kwargs: Any) -> dict[str, str]:
    """name -> status over every page of the listing, two jobs a page."""
    _, _, method, noun = LISTINGS[resource]
    out: dict[str, str] = {}
    while True:
        page = getattr(sagemaker, method)(MaxResults=2, **kwargs)
        out.update({s[f"{noun}Name"]: s[f"{noun}Status"] for s in page[f"{noun}Summaries"]})
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


@pytest.mark.parametrize("resource", sorted(LISTINGS))
def test_every_page_of_a_listing_shows_the_live_statuses(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, resource: str
) -> None:
    """Cancelled through Neptune, never described: each page of SageMaker's listing still shows
    where each job is now (Stopping, then Stopped), the others InProgress, filters included."""
    kind, member = LISTINGS[resource][:2]
    for i in range(5):
        testbed.neptune.seed_ml_job(kind, f"job-{i}", status="InProgress")
    names = {i: get(neptune_client, kind, f"job-{i}")[member]["name"] for i in range(5)}
    noun = {"dataprocessing": "data_processing", "modeltraining": "model_training", "modeltransform": "model_transform"}
    for i in (1, 4):
        getattr(neptune_client, f"cancel_ml_{noun[kind]}_job")(id=f"job-{i}")
    expected = {names[i]: "Stopping" if i in (1, 4) else "InProgress" for i in range(5)}
    assert {n: s for n, s in listed(sagemaker_client, resource).items() if n in expected} == expected
    testbed_clock.advance(0.3)  # the fixture's stop_delay
    expected = {names[i]: "Stopped" if i in (1, 4) else "InProgress" for i in range(5)}
    assert {n: s for n, s in listed(sagemaker_client, resource).items() if n in expected} == expected
    stopped = listed(sagemaker_client, resource, StatusEquals="Stopped")
    assert {n for n in stopped if n in expected} == {names[1], names[4]}


@pytest.mark.parametrize("resource", ["processing-job", "hyper-parameter-tuning-job"])
def test_a_listing_reads_the_linked_state_of_the_page_it_answers_only(
    testbed: TestBed, sagemaker_client: Any, resource: str
) -> None:
    """At 20,000 seeded jobs, refreshing every linked job on every page of a listing was most of
    the test bed's CPU: a page of 100 reads the linked state of those 100 jobs."""
    from jobjanitor_testbed import moto_sagemaker

    reads: list[int] = []

    def state() -> tuple[str, float | None, str | None]:
        reads.append(1)
        return "InProgress", None, None

    link = moto_sagemaker.Link(state=state, stop=lambda: None, owner=object())
    jobs = [("job", resource, f"counted-{i}") for i in range(250)]
    role = "arn:aws:iam::123456789012:role/r"
    made = moto_sagemaker.create_linked(
        "123456789012", "us-east-1", jobs, created=0.0, link=link, role=role, output="s3://o/"
    )
    method, noun = LISTINGS[resource][2:]
    try:
        reads.clear()
        page = getattr(sagemaker_client, method)(MaxResults=100)
        assert [s[f"{noun}Status"] for s in page[f"{noun}Summaries"]] == ["InProgress"] * 100
        assert len(reads) == 100
        reads.clear()
        getattr(sagemaker_client, method)(MaxResults=100, NextToken=page["NextToken"])
        assert len(reads) == 100
    finally:
        moto_sagemaker.remove_linked("123456789012", "us-east-1", made)


def test_a_listing_page_does_not_copy_every_job(testbed: TestBed, sagemaker_client: Any, monkeypatch: Any) -> None:
    """moto copies all its jobs on every listing page (at 15,000 jobs, most of a page's CPU):
    the test bed's answer reads the jobs up to the page's end only, and answers the same pages."""
    from jobjanitor_testbed import moto_sagemaker

    link = moto_sagemaker.Link(state=lambda: ("InProgress", None, None), stop=lambda: None, owner=object())
    jobs = [("job", "processing-job", f"paged-{i}") for i in range(250)]
    role = "arn:aws:iam::123456789012:role/r"
    made = moto_sagemaker.create_linked(
        "123456789012", "us-east-1", jobs, created=0.0, link=link, role=role, output="s3://o/"
    )
    backend = moto_sagemaker.backend_for("123456789012", "us-east-1")
    read: list[int] = []

    class Counted(dict[str, Any]):
        def values(self) -> Any:  # type: ignore[override]  # counts the jobs read, in the same order
            for job in super().values():
                read.append(1)
                yield job

    monkeypatch.setattr(backend, "processing_jobs", Counted(backend.processing_jobs))
    try:
        first = sagemaker_client.list_processing_jobs(MaxResults=100)
        assert len(read) <= 100
        second = sagemaker_client.list_processing_jobs(MaxResults=100, NextToken=first["NextToken"])
        assert len(read) <= 300
        names = [s["ProcessingJobName"] for page in (first, second) for s in page["ProcessingJobSummaries"]]
        assert names == [f"paged-{i}" for i in range(200)]
        assert second["NextToken"] == "200"
    finally:
        monkeypatch.undo()
        moto_sagemaker.remove_linked("123456789012", "us-east-1", made)


FAST_LISTINGS: list[tuple[str, dict[str, Any]]] = [
    ("list_processing_jobs", {}),
    ("list_processing_jobs", {"MaxResults": 3}),
    ("list_processing_jobs", {"MaxResults": 3, "NextToken": "3", "SortBy": "CreationTime", "SortOrder": "Descending"}),
    ("list_processing_jobs", {"StatusEquals": "Stopped", "NameContains": "dp-"}),
    ("list_processing_jobs", {"NextToken": "999"}),  # moto refuses it: answered by moto
    ("list_training_jobs", {"MaxResults": 100, "StatusEquals": "InProgress"}),
    ("list_training_jobs", {"MaxResults": 2, "NextToken": "1", "NameContains": "mo-"}),
    ("list_transform_jobs", {"SortBy": "Status"}),
    ("list_hyper_parameter_tuning_jobs", {"MaxResults": 2, "SortOrder": "Descending"}),
    ("list_hyper_parameter_tuning_jobs", {"StatusEquals": "Completed", "SortBy": "Status"}),
    ("describe_processing_job", {"ProcessingJobName": "da-failed-dataprocessing"}),
    ("describe_processing_job", {"ProcessingJobName": "dp-cancelled-dataprocessing"}),
    ("describe_processing_job", {"ProcessingJobName": "mo-completed-training-prep"}),
    ("describe_processing_job", {"ProcessingJobName": "no-such-job"}),  # moto's error: answered by moto
]


def test_listings_answered_without_moto_dispatch_are_what_moto_answers(
    testbed: TestBed, neptune_client: Any, sagemaker_client: Any, testbed_clock: FakeClock, monkeypatch: Any
) -> None:
    """The test bed answers List{Processing,Training,Transform,HyperParameterTuning}Jobs and
    DescribeProcessingJob
    from moto's backend without moto's dispatcher (its CPU): the same bodies as moto's own path,
    errors included."""
    from jobjanitor_testbed import moto_sagemaker

    fast: list[str] = []

    def counted(operation: str, *args: Any) -> bytes | None:
        answer = moto_sagemaker_fast_answer(operation, *args)
        if answer is not None:
            fast.append(operation)
        return answer

    moto_sagemaker_fast_answer = moto_sagemaker.fast_answer
    monkeypatch.setattr(moto_sagemaker, "fast_answer", counted)
    past = testbed_clock.now - 12.3456
    for kind, status in [(k, s) for k in MEMBERS for s in ("InProgress", "Completed", "Failed", "Stopping")]:
        testbed.neptune.seed_ml_job(kind, f"{kind[:2]}-{status.lower()}", status=status, started_at=past)
    testbed.neptune.seed_ml_job("dataprocessing", "dp-cancelled", status="InProgress", started_at=past)
    neptune_client.cancel_ml_data_processing_job(id="dp-cancelled")
    testbed_clock.advance(0.3217)
    raw: list[tuple[int, Any]] = []
    sagemaker_client.meta.events.register(
        "after-call.sagemaker.*",
        lambda http_response, **_: raw.append((http_response.status_code, http_response.content)),
    )
    for method, kwargs in FAST_LISTINGS:
        answers = []
        for fast_paths in (True, False):
            testbed.aws.fast_paths = fast_paths
            raw.clear()
            with contextlib.suppress(ClientError):  # the refused token: compared as answered
                getattr(sagemaker_client, method)(**kwargs)
            answers.append((raw[0][0], json.loads(raw[0][1])))
        testbed.aws.fast_paths = True
        assert answers[0] == answers[1], (method, kwargs)
    assert len(fast) == len(FAST_LISTINGS) - 2  # all but the two moto refuses
