"""Each kind's cancel outcomes, one by one, against the test bed (real clients, real HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import boto3
import pytest
from jobjanitor.clients import Clients
from jobjanitor.kinds import make_kind
from jobjanitor.lean_http import LeanClient
from jobjanitor.model import JobKindName, JobRef, Outcome
from jobjanitor.policy import Policy
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed

ML = {
    JobKindName.NEPTUNE_ML_DATAPROCESSING: ("dataprocessing", "CancelMLDataProcessingJob"),
    JobKindName.NEPTUNE_ML_TRAINING: ("modeltraining", "CancelMLModelTrainingJob"),
    JobKindName.NEPTUNE_ML_TRANSFORM: ("modeltransform", "CancelMLModelTransformJob"),
}


@pytest.fixture
def neptune(
    make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> Callable[[JobKindName], object]:
    policy = make_policy()
    clients = make_clients(policy)
    return lambda name: make_kind(name, policy, clients)


def _ref(bed: TestBed, kind: JobKindName, job_id: str) -> JobRef:
    return JobRef(kind, job_id, bed.neptune_url)


# -- loader -------------------------------------------------------------------------------
def test_loader_cancel_outcomes(aws_env: TestBed, neptune: Callable[[JobKindName], object]) -> None:
    bed = aws_env
    kind = neptune(JobKindName.NEPTUNE_LOADER)
    bed.neptune.seed_load("running", status="LOAD_IN_PROGRESS")
    bed.neptune.seed_load("done", status="LOAD_COMPLETED")

    assert kind.cancel(_ref(bed, kind.name, "running"), False).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert bed.neptune.job("loader", "running").status == "LOAD_CANCELLED_BY_USER"
    done = kind.cancel(_ref(bed, kind.name, "done"), False)  # type: ignore[attr-defined]
    assert (done.outcome, done.status) == (Outcome.ALREADY_FINISHED, "LOAD_COMPLETED")
    assert kind.cancel(_ref(bed, kind.name, "nope"), False).outcome is Outcome.NOT_FOUND  # type: ignore[attr-defined]


def test_finished_load_cancel_costs_one_request(aws_env: TestBed, neptune: Callable[[JobKindName], object]) -> None:
    bed = aws_env
    bed.neptune.seed_load("done", status="LOAD_COMPLETED")
    kind = neptune(JobKindName.NEPTUNE_LOADER)
    result = kind.cancel(_ref(bed, kind.name, "done"), False)  # type: ignore[attr-defined]
    assert result.outcome is Outcome.ALREADY_FINISHED
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 1
    assert bed.neptune_log.count(operation="GetLoaderJobStatus") == 1  # the Get that tells finished from unknown


def test_default_client_would_retry_the_404(aws_env: TestBed, no_retry_delay: None) -> None:
    """The trap our retry policy avoids: botocore's default client sends the cancel three times."""
    bed = aws_env
    bed.neptune.seed_load("done", status="LOAD_COMPLETED")
    client = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    with pytest.raises(client.exceptions.BulkLoadIdNotFoundException):
        client.cancel_loader_job(loadId="done")
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 3


def test_throttled_cancel_is_still_retried(aws_env: TestBed, neptune: Callable[[JobKindName], object]) -> None:
    bed = aws_env
    bed.neptune.seed_load("running", status="LOAD_IN_PROGRESS")
    bed.faults_neptune.inject("TooManyRequestsException", times=2, operations={"CancelLoaderJob"})
    bed.faults_neptune.inject("InternalFailureException", times=1, operations={"CancelLoaderJob"})
    kind = neptune(JobKindName.NEPTUNE_LOADER)
    assert kind.cancel(_ref(bed, kind.name, "running"), False).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 4
    assert bed.neptune.job("loader", "running").status == "LOAD_CANCELLED_BY_USER"


def test_loader_cancel_fails_after_retries(aws_env: TestBed, neptune: Callable[[JobKindName], object]) -> None:
    bed = aws_env
    bed.neptune.seed_load("running", status="LOAD_IN_PROGRESS")
    bed.faults_neptune.inject("InternalFailureException", times=50, operations={"CancelLoaderJob"})
    kind = neptune(JobKindName.NEPTUNE_LOADER)
    result = kind.cancel(_ref(bed, kind.name, "running"), False)  # type: ignore[attr-defined]
    assert result.outcome is Outcome.FAILED
    assert result.error
    assert "InternalFailureException" in result.error
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 8  # max_attempts
    assert bed.neptune.job("loader", "running").status == "LOAD_IN_PROGRESS"


# -- Neptune ML ---------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["400", "404"])
@pytest.mark.parametrize("name", list(ML))
def test_ml_cancel_outcomes(
    aws_env: TestBed, neptune: Callable[[JobKindName], object], name: JobKindName, style: str
) -> None:
    bed = aws_env
    bed.neptune.ml_not_found_style = style  # type: ignore[assignment]
    ml_kind, cancel_op = ML[name]
    bed.neptune.seed_ml_job(ml_kind, "running", status="InProgress")
    bed.neptune.seed_ml_job(ml_kind, "done", status="Completed")
    bed.neptune.seed_ml_job(ml_kind, "failed", status="Failed")
    kind = neptune(name)

    result = kind.cancel(_ref(bed, name, "running"), True)  # type: ignore[attr-defined]
    assert result.outcome is Outcome.CANCELLED
    view = bed.neptune.job(ml_kind, "running")
    assert view.status == "Stopping"
    assert view.clean is True
    for job_id, status in (("done", "Completed"), ("failed", "Failed")):
        result = kind.cancel(_ref(bed, name, job_id), False)  # type: ignore[attr-defined]
        assert (result.outcome, result.status) == (Outcome.ALREADY_FINISHED, status)
    assert kind.cancel(_ref(bed, name, "nope"), False).outcome is Outcome.NOT_FOUND  # type: ignore[attr-defined]
    assert bed.neptune_log.count(operation=cancel_op) == 4  # no retries of 400/404 answers


@pytest.mark.parametrize("name", list(ML))
def test_ml_invalid_parameter_on_running_job_is_a_failure(
    aws_env: TestBed, neptune: Callable[[JobKindName], object], name: JobKindName
) -> None:
    """InvalidParameterException only means "already finished" once a Get shows a terminal status."""
    bed = aws_env
    ml_kind, cancel_op = ML[name]
    bed.neptune.seed_ml_job(ml_kind, "running", status="InProgress")
    bed.faults_neptune.inject("InvalidParameterException", operations={cancel_op}, message="bad role")
    kind = neptune(name)
    result = kind.cancel(_ref(bed, name, "running"), False)  # type: ignore[attr-defined]
    assert result.outcome is Outcome.FAILED
    assert result.status == "InProgress"
    assert result.error
    assert "InvalidParameterException" in result.error
    assert bed.neptune.job(ml_kind, "running").status == "InProgress"


def test_ml_role_is_sent_on_every_call(
    aws_env: TestBed, make_clients: Callable[[Policy], Clients], monkeypatch: pytest.MonkeyPatch
) -> None:
    """neptuneIamRoleArn goes on list, get and cancel (the emulator ignores it: read the wire)."""
    bed = aws_env
    role = "arn:aws:iam::123456789012:role/neptune-ml"
    policy = Policy.build(neptune_endpoint=bed.neptune_url, neptune_iam_role_arn=role, kinds="neptune-ml-training")
    bed.neptune.seed_ml_job("modeltraining", "running", status="InProgress")
    clients = make_clients(policy)
    urls: list[str] = []
    assert clients.neptune is not None
    # botocore's requests (a configured client) and the lean path's (jobjanitor.lean_http)
    clients.neptune.meta.events.register("before-send.neptunedata", lambda request, **_: urls.append(request.url))
    if isinstance(clients.neptune, LeanClient):
        send = clients.neptune._send
        monkeypatch.setattr(
            clients.neptune, "_send", lambda method, path, *rest: urls.append(path) or send(method, path, *rest)
        )
    kind = make_kind(JobKindName.NEPTUNE_ML_TRAINING, policy, clients)
    assert [r.job_id for r in kind.discover().refs] == ["running"]
    assert kind.describe(_ref(bed, kind.name, "running")).status == "InProgress"
    assert kind.cancel(_ref(bed, kind.name, "running"), False).outcome is Outcome.CANCELLED
    assert len(urls) == 3
    assert all("neptuneIamRoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fneptune-ml" in url for url in urls), urls


# -- Glue ---------------------------------------------------------------------------------
@pytest.fixture
def glue_kind(make_clients: Callable[[Policy], Clients], transform: str) -> object:
    policy = Policy.build(glue_transform_ids=transform)
    return make_kind(JobKindName.GLUE_ML_TASK_RUN, policy, make_clients(policy))


@pytest.mark.parametrize("behaviour", ["return-status", "error"])
def test_glue_cancel_outcomes(
    aws_env: TestBed, glue_kind: object, transform: str, behaviour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_glue, "CANCEL_FINISHED_BEHAVIOUR", behaviour)
    running = moto_glue.seed_task_run(transform, status="RUNNING")
    done = moto_glue.seed_task_run(transform, status="SUCCEEDED")
    target = f"glue:us-east-1:{transform}"

    def ref(run_id: str) -> JobRef:
        return JobRef(JobKindName.GLUE_ML_TASK_RUN, run_id, target, transform)

    result = glue_kind.cancel(ref(running), False)  # type: ignore[attr-defined]
    assert (result.outcome, result.status) == (Outcome.CANCELLED, "STOPPING")
    result = glue_kind.cancel(ref(done), False)  # type: ignore[attr-defined]
    assert (result.outcome, result.status) == (Outcome.ALREADY_FINISHED, "SUCCEEDED")
    assert glue_kind.cancel(ref("tsk-missing"), False).outcome is Outcome.NOT_FOUND  # type: ignore[attr-defined]
    aws_env.faults_aws.inject("InternalServiceException", times=50, status=500, operations={"CancelMLTaskRun"})
    failed = glue_kind.cancel(ref(moto_glue.seed_task_run(transform, status="RUNNING")), False)  # type: ignore[attr-defined]
    assert failed.outcome is Outcome.FAILED
    assert failed.error
    assert "InternalServiceException" in failed.error


def test_glue_discovers_outstanding_runs_only(aws_env: TestBed, glue_kind: object, transform: str) -> None:
    aws_env.lifecycle.stop_delay = 600.0  # the STOPPING run stays so while it is listed
    starting = moto_glue.seed_task_run(transform, status="STARTING")
    running = moto_glue.seed_task_run(transform, status="RUNNING")
    stopping = moto_glue.seed_task_run(transform, status="STOPPING")
    moto_glue.seed_task_run(transform, status="FAILED")
    found = glue_kind.discover()  # type: ignore[attr-defined]
    assert sorted(r.job_id for r in found.refs) == sorted([starting, running, stopping])
    assert {r.parent for r in found.refs} == {transform}
    assert {r.target for r in found.refs} == {f"glue:us-east-1:{transform}"}


def test_glue_finds_a_run_that_starts_running_between_two_of_its_listings(
    aws_env: TestBed, make_clients: Callable[[Policy], Clients], transform: str, testbed_clock: FakeClock
) -> None:
    """GetMLTaskRuns is asked once per outstanding status. A run STARTING when RUNNING is asked
    and RUNNING by the time STARTING is answered (that call throttled and retried) was in
    neither answer: a guard under a throttling storm answered SUCCESS leaving it running. The
    engine's fan-out promises results in order, not calls in order: here it runs them in
    reverse, and the run starts running right after the RUNNING listing is answered."""
    aws_env.lifecycle.starting_delay = 5.0
    run = moto_glue.seed_task_run(transform)  # STARTING for 5 s, then RUNNING
    policy = Policy.build(glue_transform_ids=transform)
    clients = make_clients(policy)
    asked: list[str] = []
    glue = clients.glue

    class Listing:
        """The janitor's Glue client (lean path or botocore alike), the clock moved on right after
        the RUNNING listing is answered."""

        def __getattr__(self, name: str) -> Any:
            return getattr(glue, name)

        def get_ml_task_runs(self, **params: Any) -> Any:
            asked.append(params["Filter"]["Status"])
            answer = glue.get_ml_task_runs(**params)
            if asked[-1] == "RUNNING":
                testbed_clock.advance(10)
            return answer

    clients.glue = cast("Any", Listing())
    kind = make_kind(JobKindName.GLUE_ML_TASK_RUN, policy, clients)

    def in_reverse[T](tasks: Sequence[Callable[[], T]]) -> list[T]:
        return [task() for task in reversed(tasks)][::-1]

    found = kind.discover(in_reverse)  # type: ignore[attr-defined]
    assert [r.job_id for r in found.refs] == [run], asked
    # The run did move on while it was listed: STARTING before, RUNNING after.
    assert glue.get_ml_task_run(TransformId=transform, TaskRunId=run)["Status"] == "RUNNING"


def test_glue_reports_a_listing_that_stopped_at_its_page_limit(
    aws_env: TestBed, glue_kind: object, transform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobjanitor.kinds import glue_ml_task_run

    monkeypatch.setattr(glue_ml_task_run, "PAGE_SIZE", 1)
    monkeypatch.setattr(glue_ml_task_run, "MAX_PAGES", 2)
    runs = [moto_glue.seed_task_run(transform, status="RUNNING") for _ in range(3)]
    found = glue_kind.discover()  # type: ignore[attr-defined]
    assert len(found.refs) == 2
    assert {r.job_id for r in found.refs} < set(runs)
    assert found.capped == [f"glue-ml-task-run: GetMLTaskRuns of {transform} (RUNNING) stopped at 2 pages"]
