"""jobjanitor.lean_http: the lean request path sends what botocore sends, raises what botocore
raises, and hands every answer a retry could change to botocore's retry policy."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from jobjanitor import lean_http
from jobjanitor.clients import build_clients
from jobjanitor.deadline import Deadline
from jobjanitor.policy import Policy
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.scenario import create_transform


def _clients(bed: Any, **kwargs: Any) -> Any:
    policy = Policy.build(kinds="neptune-loader,neptune-ml-training", neptune_endpoint=bed.neptune_url)
    return build_clients(policy, **kwargs)


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_loader_jobs", {"limit": 100, "includeQueuedLoads": True}),
    ("get_loader_job_status", {"loadId": "load-1"}),
    ("cancel_loader_job", {"loadId": "load-1"}),
    ("list_ml_data_processing_jobs", {"maxItems": 1024, "neptuneIamRoleArn": "arn:aws:iam::123456789012:role/r"}),
    ("get_ml_model_training_job", {"id": "job/1 é"}),  # no such job: refused, its path encoded alike
    ("cancel_ml_model_training_job", {"id": "job-2", "clean": True}),
    ("cancel_ml_model_transform_job", {"id": "job-3", "clean": False}),
    ("list_ml_model_transform_jobs", {"maxItems": 5}),
]


def test_the_sweep_calls_go_on_the_lean_path_as_botocore_sends_them(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = aws_env
    lean = _clients(bed).neptune
    assert isinstance(lean, lean_http.LeanClient)
    plain = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    # The wire: what each path sends (the test bed's log keeps no query string).
    targets: dict[str, list[str]] = {"lean": [], "botocore": []}
    send = lean._send
    monkeypatch.setattr(
        lean, "_send", lambda method, target, *rest: targets["lean"].append(target) or send(method, target, *rest)
    )
    plain.meta.events.register(
        "before-send.neptunedata", lambda request, **_: targets["botocore"].append(request.url[len(bed.neptune_url) :])
    )
    sent: dict[str, list[tuple[str, str, int | None, str | None]]] = {}
    answered: dict[str, list[Any]] = {}
    assert bed.neptune.iam  # the test bed verifies every request's signature
    started = time.time() - 60  # the same start each time: answers carry it (a load's startTime)
    for label, client in (("lean", lean), ("botocore", plain)):
        bed.reset()
        bed.neptune.seed_load("load-1", status="LOAD_IN_PROGRESS", started_at=started)
        bed.neptune.seed_ml_job("modeltransform", "job-3", status="InProgress", started_at=started)
        bed.neptune.seed_ml_job("modeltraining", "job-2", status="InProgress", started_at=started)
        answers = []
        for method, params in CALLS:
            try:
                answers.append(getattr(client, method)(**params))
            except ClientError as error:  # the same refusals either way
                answers.append(error.response["Error"]["Code"])
        sent[label] = [(e.method, e.path, e.status, e.error_code) for e in bed.neptune_log.entries()]
        assert len(sent[label]) == len(CALLS)
        assert bed.neptune.sigv4.verified == len(CALLS)  # each request signed, and signed right
        answered[label] = [_without_metadata(answer) for answer in answers]
    assert sent["lean"] == sent["botocore"]
    assert answered["lean"] == answered["botocore"]
    assert [a for a in answered["lean"] if not isinstance(a, str)]  # answers, not only refusals
    assert targets["lean"] == targets["botocore"]
    assert "/ml/modeltraining/job%2F1%20%C3%A9" in targets["lean"]
    assert "/loader?limit=100&includeQueuedLoads=true" in targets["lean"]
    assert lean.lean_calls >= len(CALLS) - 2
    assert lean.handed_over == 0


def _without_metadata(answer: Any) -> Any:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"} if isinstance(answer, dict) else answer


def test_temporary_credentials_are_signed_with_their_session_token_on_the_lean_path(aws_env: Any) -> None:
    bed = aws_env
    bed.neptune.sigv4.allow("ASIATEMPORARY", "temporary-secret", "the-session-token")
    bed.neptune.seed_ml_job("modeltraining", "job-2", status="InProgress")
    session = boto3.session.Session(
        aws_access_key_id="ASIATEMPORARY",
        aws_secret_access_key="temporary-secret",
        aws_session_token="the-session-token",
        region_name="us-east-1",
    )
    lean = _clients(bed, session=session).neptune
    assert isinstance(lean, lean_http.LeanClient)
    assert lean.list_ml_model_training_jobs(maxItems=5)["ids"] == ["job-2"]
    assert lean.get_ml_model_training_job(id="job-2")["status"] == "InProgress"
    assert lean.cancel_ml_model_training_job(id="job-2", clean=False)["status"] == "Stopping"
    assert (lean.lean_calls, lean.handed_over, bed.neptune.sigv4.verified) == (3, 0, 3)
    bed.neptune.sigv4.allow("ASIATEMPORARY", "temporary-secret", "a-newer-token")  # the session's is stale now
    with pytest.raises(lean.exceptions.AccessDeniedException):
        lean.list_ml_model_training_jobs(maxItems=5)


@pytest.mark.parametrize(("attribute", "value"), [("_signing_name", "neptune"), ("_region", "us-west-2")])
def test_a_lean_path_that_signs_wrongly_is_refused_by_the_test_bed(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch, attribute: str, value: str
) -> None:
    """The signature check would catch a signing bug on the lean path: a wrong signing name or
    region is refused 403, in one request, and raised as botocore raises it."""
    bed = aws_env
    lean = _clients(bed).neptune
    assert lean.list_loader_jobs(limit=1)["payload"]["loadIds"] == []
    monkeypatch.setattr(lean, attribute, value)
    with pytest.raises(lean.exceptions.AccessDeniedException) as caught:
        lean.list_loader_jobs(limit=1)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert [e.status for e in bed.neptune_log.entries(operation="ListLoaderJobs")] == [200, 403]
    assert lean.handed_over == 0


def test_a_refusal_is_raised_as_botocore_raises_it_in_one_request(aws_env: Any) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "done", status="Completed")
    lean = _clients(bed).neptune
    plain = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    errors = []
    for client in (lean, plain):
        with pytest.raises(ClientError) as caught:
            client.cancel_ml_model_training_job(id="done", clean=False)
        errors.append(caught.value)
    ours, theirs = errors
    assert type(ours).__name__ == type(theirs).__name__
    assert isinstance(ours, lean.exceptions.InvalidParameterException)  # the client's own modeled class
    assert ours.response["Error"] == theirs.response["Error"]
    assert ours.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert str(ours) == str(theirs)
    with pytest.raises(lean.exceptions.BulkLoadIdNotFoundException):
        lean.cancel_loader_job(loadId="never-was")
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 2  # one each
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 1  # not retried


def test_a_throttled_or_failing_call_is_retried_by_botocore_within_max_attempts(aws_env: Any) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "running", status="InProgress")
    bed.faults_neptune.inject("TooManyRequestsException", times=2, operations={"CancelMLModelTrainingJob"})
    clients = _clients(bed, backoff_scale=0.01)
    lean = clients.neptune
    assert lean.cancel_ml_model_training_job(id="running", clean=False) is not None
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 3
    assert lean.handed_over == 1
    # Every attempt, the lean one too, went through the service's shared rate.
    limiter = clients.limiters["neptunedata"]
    assert limiter._answers + limiter._sent >= 3
    bed.faults_neptune.inject("ClientTimeoutException", times=50, operations={"GetMLModelTrainingJob"})
    with pytest.raises(ClientError) as caught:
        lean.get_ml_model_training_job(id="running")
    assert caught.value.response["Error"]["Code"] == "ClientTimeoutException"
    assert bed.neptune_log.count(operation="GetMLModelTrainingJob") == 8  # max_attempts, the lean one first


def test_no_retry_starts_with_too_little_time_left(aws_env: Any) -> None:
    bed = aws_env
    bed.faults_neptune.inject("ClientTimeoutException", times=50, operations={"GetLoaderJobStatus"})
    lean = _clients(bed).neptune
    from jobjanitor.deadline import CURRENT_DEADLINE

    token = CURRENT_DEADLINE.set(Deadline.after(0.5))
    try:
        with pytest.raises(ClientError):
            lean.get_loader_job_status(loadId="any")
    finally:
        CURRENT_DEADLINE.reset(token)
    assert bed.neptune_log.count(operation="GetLoaderJobStatus") == 1
    assert lean.handed_over == 0


def test_botocore_keeps_the_calls_behind_a_proxy_or_a_configured_client(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not isinstance(_clients(aws_env, configure=lambda client: None).neptune, lean_http.LeanClient)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not isinstance(_clients(aws_env).neptune, lean_http.LeanClient)


# -- Glue (json 1.1) ------------------------------------------------------------------------
def _glue(bed: Any, **kwargs: Any) -> Any:
    return build_clients(Policy.build(glue_transform_ids="any"), **kwargs).glue


def test_glue_task_run_calls_go_on_the_lean_path_and_answer_as_botocore_does(aws_env: Any) -> None:
    """GetMLTaskRuns, GetMLTaskRun and CancelMLTaskRun: the same requests reach Glue (the test bed's
    log), the same answers come back (timestamps as aware datetimes, the same instants), the
    same refusals are raised, by the client's modeled classes."""
    bed = aws_env
    lean = _glue(bed)
    assert isinstance(lean, lean_http.LeanClient)
    plain = boto3.client("glue")
    transform = create_transform(plain, "lean-transform")
    running = moto_glue.seed_task_run(transform, status="RUNNING", task_run_id="run-1")
    moto_glue.seed_task_run(transform, status="STARTING", task_run_id="run-2")
    moto_glue.seed_task_run(
        transform,
        status="RUNNING",
        task_run_id="run-3",
    )
    reads: list[tuple[str, dict[str, Any]]] = [
        ("get_ml_task_runs", {"TransformId": transform, "MaxResults": 1000, "Filter": {"Status": "RUNNING"}}),
        ("get_ml_task_run", {"TransformId": transform, "TaskRunId": running}),
        ("get_ml_task_run", {"TransformId": transform, "TaskRunId": "no-such-run"}),
        ("get_ml_task_runs", {"TransformId": "no-such-transform", "Filter": {"Status": "STARTING"}}),
    ]
    sent: dict[str, list[tuple[str, int | None, str | None]]] = {}
    answered: dict[str, list[Any]] = {}
    for label, client in (("lean", lean), ("botocore", plain)):
        bed.aws_log.clear()
        answered[label] = [_answer(client, method, params) for method, params in reads]
        sent[label] = [(e.operation, e.status, e.error_code) for e in bed.aws_log.entries()]
    assert sent["lean"] == sent["botocore"]
    assert answered["lean"] == answered["botocore"]  # datetimes compare as instants
    listed = answered["lean"][0]["TaskRuns"]
    assert sorted(r["TaskRunId"] for r in listed) == ["run-1", "run-3"]
    assert all(r["StartedOn"].tzinfo is not None for r in listed)
    assert [a[0] for a in answered["lean"][2:]] == ["EntityNotFoundException"] * 2
    # A cancel each (of two runs alike): the same answer but for the run's id.
    cancelled = [
        _answer(client, "cancel_ml_task_run", {"TransformId": transform, "TaskRunId": run})
        for client, run in ((lean, "run-1"), (plain, "run-3"))
    ]
    assert cancelled[0] == {**cancelled[1], "TaskRunId": "run-1"}
    assert cancelled[0]["Status"] == "STOPPING"
    assert (lean.lean_calls, lean.handed_over) == (3, 0)


def _answer(client: Any, method: str, params: dict[str, Any]) -> Any:
    try:
        return _without_metadata(getattr(client, method)(**params))
    except ClientError as error:
        return (type(error).__name__, error.response["Error"])


def test_a_throttled_glue_call_is_retried_by_botocore_and_a_refusal_raised_at_once(aws_env: Any) -> None:
    bed = aws_env
    plain = boto3.client("glue")
    transform = create_transform(plain, "lean-throttled")
    run = moto_glue.seed_task_run(transform, status="RUNNING")
    clients = build_clients(Policy.build(glue_transform_ids=transform), backoff_scale=0.01)
    lean = clients.glue
    bed.faults_aws.inject("ThrottlingException", times=2, operations={"CancelMLTaskRun"})
    assert lean.cancel_ml_task_run(TransformId=transform, TaskRunId=run)["Status"] == "STOPPING"
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 3
    assert lean.handed_over == 1
    with pytest.raises(lean.exceptions.EntityNotFoundException):
        lean.cancel_ml_task_run(TransformId="no-such-transform", TaskRunId=run)
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 4  # not retried


def test_a_glue_call_with_what_the_lean_path_does_not_send_goes_to_botocore(aws_env: Any) -> None:
    plain = boto3.client("glue")
    transform = create_transform(plain, "lean-sorted")
    moto_glue.seed_task_run(transform, status="RUNNING")
    lean = _glue(aws_env)
    # A datetime (JSON cannot hold it as it is) and a member the input shape lacks.
    with pytest.raises(ParamValidationError):
        lean.get_ml_task_runs(TransformId=transform, NoSuchMember=1)
    answer = lean.get_ml_task_runs(TransformId=transform, Filter={"StartedAfter": datetime(2000, 1, 1, tzinfo=UTC)})
    assert [r["Status"] for r in answer["TaskRuns"]] == ["RUNNING"]
    assert lean.lean_calls == 0
    assert aws_env.aws_log.count(operation="GetMLTaskRuns") == 1


def test_an_endpoint_with_a_path_of_its_own_keeps_botocores_path(aws_env: Any) -> None:
    """botocore joins an endpoint URL's path to each request's; the lean path sends only the
    request's, so such an endpoint (a proxy's prefix) stays on botocore."""
    policy = Policy.build(glue_transform_ids="any")
    assert isinstance(build_clients(policy, endpoint_urls={"glue": aws_env.aws_url}).glue, lean_http.LeanClient)
    prefixed = build_clients(policy, endpoint_urls={"glue": f"{aws_env.aws_url}/glue-proxy"}).glue
    assert not isinstance(prefixed, lean_http.LeanClient)
    assert prefixed.meta.endpoint_url.endswith("/glue-proxy")
