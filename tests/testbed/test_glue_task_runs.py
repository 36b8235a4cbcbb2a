"""Glue ML task runs in moto (jobjanitor_testbed.moto_glue), under mock_aws and in server mode."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from jobjanitor_testbed import lifecycle, moto_glue
from moto import mock_aws
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """Drive lifecycle.DEFAULT from a fake clock; restore every setting afterwards."""
    saved = (
        lifecycle.DEFAULT.clock,
        lifecycle.DEFAULT.job_duration,
        lifecycle.DEFAULT.stop_delay,
        lifecycle.DEFAULT.starting_delay,
    )
    fake = FakeClock(T0)
    lifecycle.configure(clock=fake, job_duration=600.0, stop_delay=5.0, starting_delay=2.0)
    try:
        yield fake
    finally:
        lifecycle.configure(clock=saved[0], job_duration=saved[1], stop_delay=saved[2], starting_delay=saved[3])


@pytest.fixture
def cancel_behaviour() -> Iterator[None]:
    saved = moto_glue.CANCEL_FINISHED_BEHAVIOUR
    yield
    moto_glue.CANCEL_FINISHED_BEHAVIOUR = saved


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    moto_glue.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Env:
    glue: Any
    mode: str


@pytest.fixture(params=["mock_aws", "server"])
def env(request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    moto_glue.install()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    if request.param == "mock_aws":
        with mock_aws():
            yield Env(boto3.client("glue", region_name=REGION), "mock_aws")
        return
    url = request.getfixturevalue("server_url")
    _reset(url)
    try:
        yield Env(boto3.client("glue", region_name=REGION, endpoint_url=url), "server")
    finally:
        _reset(url)


def _reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")  # noqa: S310
    with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback moto server
        assert resp.status == 200


def make_transform(glue: Any, name: str = "jj-transform", tags: dict[str, str] | None = None) -> str:
    kwargs: dict[str, Any] = {
        "Name": name,
        "InputRecordTables": [{"DatabaseName": "db", "TableName": "people"}],
        "Parameters": {
            "TransformType": "FIND_MATCHES",
            "FindMatchesParameters": {"PrimaryKeyColumnName": "id"},
        },
        "Role": f"arn:aws:iam::{ACCOUNT}:role/glue",
        "GlueVersion": "2.0",
    }
    if tags:
        kwargs["Tags"] = tags
    return str(glue.create_ml_transform(**kwargs)["TransformId"])


def all_runs(glue: Any, transform_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        page = glue.get_ml_task_runs(TransformId=transform_id, **kwargs, **({"NextToken": token} if token else {}))
        runs.extend(page["TaskRuns"])
        token = page.get("NextToken")
        if not token:
            return runs


def ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


# -- install ------------------------------------------------------------------------------
def test_install_is_idempotent() -> None:
    moto_glue.install()
    moto_glue.install()
    assert moto_glue.installed()
    from moto.glue.models import GlueBackend
    from moto.glue.responses import GlueResponse

    for name in ("start_ml_evaluation_task_run", "get_ml_task_runs", "cancel_ml_task_run", "list_ml_transforms"):
        assert hasattr(GlueBackend, name)
        assert hasattr(GlueResponse, name)


# -- lifecycle ----------------------------------------------------------------------------
def test_start_and_natural_lifecycle(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = glue.start_ml_evaluation_task_run(TransformId=tid)["TaskRunId"]
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert run["TransformId"] == tid
    assert run["TaskRunId"] == run_id
    assert run["Status"] == "STARTING"
    assert run["Properties"] == {"TaskType": "EVALUATION"}
    assert run["LogGroupName"]
    assert run["StartedOn"] == ts(T0)
    assert "CompletedOn" not in run
    assert "ErrorString" not in run

    clock.advance(2)
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert run["Status"] == "RUNNING"
    assert run["LastModifiedOn"] == ts(T0 + 2)

    clock.advance(300)
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert run["Status"] == "RUNNING"
    assert run["ExecutionTime"] == 302

    clock.advance(298)
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert run["Status"] == "SUCCEEDED"
    assert run["CompletedOn"] == ts(T0 + 600)
    assert run["LastModifiedOn"] == ts(T0 + 600)
    assert run["ExecutionTime"] == 600


def test_cancel_running_then_stopped(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = glue.start_ml_evaluation_task_run(TransformId=tid)["TaskRunId"]
    clock.advance(10)
    answer = glue.cancel_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert {k: answer[k] for k in ("TransformId", "TaskRunId", "Status")} == {
        "TransformId": tid,
        "TaskRunId": run_id,
        "Status": "STOPPING",
    }
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPING"
    # a second cancel while stopping changes nothing
    assert glue.cancel_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPING"
    clock.advance(4.9)
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPING"
    clock.advance(0.1)
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert run["Status"] == "STOPPED"
    assert run["CompletedOn"] == ts(T0 + 15)
    # never turns SUCCEEDED later
    clock.advance(10_000)
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPED"


def test_cancel_starting_run(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = glue.start_ml_evaluation_task_run(TransformId=tid)["TaskRunId"]
    assert glue.cancel_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPING"


def test_cancel_finished_returns_status_by_default(env: Env, clock: FakeClock, cancel_behaviour: None) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = glue.start_ml_evaluation_task_run(TransformId=tid)["TaskRunId"]
    clock.advance(601)
    assert glue.cancel_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "SUCCEEDED"
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "SUCCEEDED"
    failed = moto_glue.seed_task_run(tid, started_on=T0 - 100, status="FAILED", region=REGION, account=ACCOUNT)
    assert glue.cancel_ml_task_run(TransformId=tid, TaskRunId=failed)["Status"] == "FAILED"


def test_cancel_finished_error_switch(env: Env, clock: FakeClock, cancel_behaviour: None) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = moto_glue.seed_task_run(tid, status="STOPPED", region=REGION, account=ACCOUNT)
    moto_glue.CANCEL_FINISHED_BEHAVIOUR = "error"
    with pytest.raises(glue.exceptions.InvalidInputException) as info:
        glue.cancel_ml_task_run(TransformId=tid, TaskRunId=run_id)
    assert "STOPPED" in info.value.response["Error"]["Message"]
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)["Status"] == "STOPPED"


def test_cancel_unknown(env: Env) -> None:
    glue = env.glue
    tid = make_transform(glue)
    with pytest.raises(glue.exceptions.EntityNotFoundException) as info:
        glue.cancel_ml_task_run(TransformId=tid, TaskRunId="tsk-missing")
    assert info.value.response["Error"]["Message"]
    with pytest.raises(glue.exceptions.EntityNotFoundException) as info:
        glue.cancel_ml_task_run(TransformId="tfm-missing", TaskRunId="tsk-missing")
    assert info.value.response["Error"]["Message"]


def test_unknown_transform_or_run(env: Env) -> None:
    glue = env.glue
    tid = make_transform(glue)
    for call in (
        lambda: glue.start_ml_evaluation_task_run(TransformId="tfm-missing"),
        lambda: glue.get_ml_task_runs(TransformId="tfm-missing"),
        lambda: glue.get_ml_task_run(TransformId="tfm-missing", TaskRunId="x"),
        lambda: glue.get_ml_task_run(TransformId=tid, TaskRunId="tsk-missing"),
    ):
        with pytest.raises(glue.exceptions.EntityNotFoundException) as info:
            call()
        assert info.value.response["Error"]["Code"] == "EntityNotFoundException"
        assert info.value.response["Error"]["Message"]


def test_seeded_pinned_running_run_stays_until_cancelled(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    old = moto_glue.seed_task_run(tid, started_on=T0 - 86_400, status="RUNNING", region=REGION, account=ACCOUNT)
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=old)
    assert run["Status"] == "RUNNING"
    assert run["StartedOn"] == ts(T0 - 86_400)
    assert run["ExecutionTime"] == 86_400
    assert glue.cancel_ml_task_run(TransformId=tid, TaskRunId=old)["Status"] == "STOPPING"
    clock.advance(5)
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=old)["Status"] == "STOPPED"


def test_seed_with_datetime_and_natural_lifecycle(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    done = moto_glue.seed_task_run(tid, started_on=ts(T0 - 1000), region=REGION, account=ACCOUNT)
    live = moto_glue.seed_task_run(tid, started_on=T0 - 100, region=REGION, account=ACCOUNT)
    failed = moto_glue.seed_task_run(
        tid, started_on=T0 - 50, status="FAILED", error_string="boom", region=REGION, account=ACCOUNT
    )
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=done)["Status"] == "SUCCEEDED"
    assert glue.get_ml_task_run(TransformId=tid, TaskRunId=live)["Status"] == "RUNNING"
    run = glue.get_ml_task_run(TransformId=tid, TaskRunId=failed)
    assert run["Status"] == "FAILED"
    assert run["ErrorString"] == "boom"
    assert run["CompletedOn"] == ts(T0)


def test_seed_rejects_unknown_transform_and_status(env: Env) -> None:
    tid = make_transform(env.glue)
    with pytest.raises(ValueError, match="status"):
        moto_glue.seed_task_run(tid, status="DANCING", region=REGION, account=ACCOUNT)
    with pytest.raises(Exception, match="not found"):
        moto_glue.seed_task_run("tfm-missing", region=REGION, account=ACCOUNT)


# -- GetMLTaskRuns ------------------------------------------------------------------------
def test_get_ml_task_runs_pagination(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    other = make_transform(glue, name="other")
    moto_glue.seed_task_run(other, region=REGION, account=ACCOUNT)
    ids = {moto_glue.seed_task_run(tid, started_on=T0 - i, region=REGION, account=ACCOUNT) for i in range(23)}
    # two runs with the same start time: the tie must not lose or repeat either
    ids.add(moto_glue.seed_task_run(tid, started_on=T0 - 5, region=REGION, account=ACCOUNT))
    pages = []
    token = None
    while True:
        page = glue.get_ml_task_runs(TransformId=tid, MaxResults=5, **({"NextToken": token} if token else {}))
        assert len(page["TaskRuns"]) <= 5
        pages.append(page["TaskRuns"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [5, 5, 5, 5, 4]
    seen = [r["TaskRunId"] for p in pages for r in p]
    assert len(seen) == len(set(seen))
    assert set(seen) == ids
    # default order: STARTED descending
    starts = [r["StartedOn"] for p in pages for r in p]
    assert starts == sorted(starts, reverse=True)


def test_pagination_survives_runs_started_between_pages(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    ids = {moto_glue.seed_task_run(tid, started_on=T0 - 100 - i, region=REGION, account=ACCOUNT) for i in range(6)}
    first = glue.get_ml_task_runs(TransformId=tid, MaxResults=3)
    glue.start_ml_evaluation_task_run(TransformId=tid)  # newest: sorts before the token
    second = glue.get_ml_task_runs(TransformId=tid, MaxResults=3, NextToken=first["NextToken"])
    seen = [r["TaskRunId"] for r in first["TaskRuns"] + second["TaskRuns"]]
    assert len(seen) == 6
    assert set(seen) == ids
    assert "NextToken" not in second


def test_get_ml_task_runs_empty(env: Env) -> None:
    tid = make_transform(env.glue)
    page = env.glue.get_ml_task_runs(TransformId=tid)
    assert page["TaskRuns"] == []
    assert "NextToken" not in page


def test_get_ml_task_runs_filters(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    old = moto_glue.seed_task_run(tid, started_on=T0 - 5000, status="RUNNING", region=REGION, account=ACCOUNT)
    done = moto_glue.seed_task_run(tid, started_on=T0 - 4000, region=REGION, account=ACCOUNT)
    recent = moto_glue.seed_task_run(tid, started_on=T0 - 10, region=REGION, account=ACCOUNT)
    labels = moto_glue.seed_task_run(
        tid, started_on=T0 - 20, task_type="EXPORT_LABELS", status="STOPPED", region=REGION, account=ACCOUNT
    )

    def ids(**flt: Any) -> set[str]:
        return {r["TaskRunId"] for r in all_runs(glue, tid, Filter=flt)}

    assert ids(Status="RUNNING") == {old, recent}
    assert ids(Status="SUCCEEDED") == {done}
    assert ids(Status="STOPPING") == set()
    assert ids(TaskRunType="EVALUATION") == {old, done, recent}
    assert ids(TaskRunType="EXPORT_LABELS") == {labels}
    assert ids(StartedBefore=ts(T0 - 1000)) == {old, done}
    assert ids(StartedAfter=ts(T0 - 1000)) == {recent, labels}
    assert ids(StartedAfter=ts(T0 - 4500), StartedBefore=ts(T0 - 15)) == {done, labels}
    assert ids(Status="RUNNING", StartedBefore=ts(T0 - 1000)) == {old}
    # bounds are exclusive, and a returned StartedOn filters exactly
    started = glue.get_ml_task_run(TransformId=tid, TaskRunId=done)["StartedOn"]
    assert done not in ids(StartedAfter=started)
    assert done not in ids(StartedBefore=started)


def test_get_ml_task_runs_sort(env: Env, clock: FakeClock) -> None:
    glue = env.glue
    tid = make_transform(glue)
    a = moto_glue.seed_task_run(tid, started_on=T0 - 30, status="RUNNING", region=REGION, account=ACCOUNT)
    b = moto_glue.seed_task_run(
        tid, started_on=T0 - 20, status="FAILED", task_type="IMPORT_LABELS", region=REGION, account=ACCOUNT
    )
    c = moto_glue.seed_task_run(tid, started_on=T0 - 10, status="SUCCEEDED", region=REGION, account=ACCOUNT)

    def order(column: str, direction: str) -> list[str]:
        runs = all_runs(glue, tid, Sort={"Column": column, "SortDirection": direction}, MaxResults=2)
        return [r["TaskRunId"] for r in runs]

    assert [r["TaskRunId"] for r in all_runs(glue, tid)] == [c, b, a]
    assert order("STARTED", "DESCENDING") == [c, b, a]
    assert order("STARTED", "ASCENDING") == [a, b, c]
    assert order("STATUS", "ASCENDING") == [b, a, c]  # FAILED < RUNNING < SUCCEEDED
    assert order("STATUS", "DESCENDING") == [c, a, b]
    assert order("TASK_RUN_TYPE", "ASCENDING")[-1] == b  # EVALUATION < IMPORT_LABELS
    assert order("TASK_RUN_TYPE", "DESCENDING")[0] == b


def test_get_ml_task_runs_invalid_input(env: Env) -> None:
    glue = env.glue
    tid = make_transform(glue)
    raw = boto3.client(
        "glue",
        region_name=REGION,
        endpoint_url=glue.meta.endpoint_url if env.mode == "server" else None,
        config=Config(parameter_validation=False),
    )
    bad_calls: list[dict[str, Any]] = [
        {"TransformId": tid, "MaxResults": 1001},
        {"TransformId": tid, "MaxResults": 0},
        {"TransformId": ""},
        {"TransformId": "x" * 256},
        {"TransformId": tid, "Filter": {"Status": "DANCING"}},
        {"TransformId": tid, "Filter": {"TaskRunType": "NOPE"}},
        {"TransformId": tid, "Sort": {"Column": "NAME", "SortDirection": "ASCENDING"}},
        {"TransformId": tid, "Sort": {"Column": "STARTED", "SortDirection": "SIDEWAYS"}},
        {"TransformId": tid, "NextToken": "not-a-token"},
    ]
    for kwargs in bad_calls:
        with pytest.raises(raw.exceptions.InvalidInputException) as info:
            raw.get_ml_task_runs(**kwargs)
        assert info.value.response["Error"]["Message"], kwargs
    with pytest.raises(raw.exceptions.InvalidInputException):
        raw.get_ml_task_runs()
    with pytest.raises(raw.exceptions.InvalidInputException):
        raw.start_ml_evaluation_task_run()
    with pytest.raises(raw.exceptions.InvalidInputException):
        raw.cancel_ml_task_run(TransformId=tid)


def test_next_token_from_another_listing_is_rejected(env: Env) -> None:
    glue = env.glue
    one, two = make_transform(glue, "one"), make_transform(glue, "two")
    for _ in range(3):
        moto_glue.seed_task_run(one, region=REGION, account=ACCOUNT)
    token = glue.get_ml_task_runs(TransformId=one, MaxResults=1)["NextToken"]
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.get_ml_task_runs(TransformId=two, NextToken=token)
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.get_ml_task_runs(TransformId=one, NextToken=token, Sort={"Column": "STATUS", "SortDirection": "ASCENDING"})


def test_deleting_transform_drops_its_runs(env: Env) -> None:
    glue = env.glue
    tid = make_transform(glue)
    run_id = glue.start_ml_evaluation_task_run(TransformId=tid)["TaskRunId"]
    glue.delete_ml_transform(TransformId=tid)
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_ml_task_run(TransformId=tid, TaskRunId=run_id)


# -- ListMLTransforms / GetMLTransforms ---------------------------------------------------
def test_list_ml_transforms_tags_and_name(env: Env) -> None:
    glue = env.glue
    a = make_transform(glue, "stack1-dedupe", tags={"aws:cloudformation:stack-name": "stack1", "team": "x"})
    b = make_transform(glue, "stack1-other", tags={"aws:cloudformation:stack-name": "stack1"})
    c = make_transform(glue, "stack2-dedupe", tags={"aws:cloudformation:stack-name": "stack2"})

    def listed(**kwargs: Any) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = glue.list_ml_transforms(**kwargs, **({"NextToken": token} if token else {}))
            out.extend(page["TransformIds"])
            token = page.get("NextToken")
            if not token:
                return out

    assert sorted(listed()) == sorted([a, b, c])
    assert sorted(listed(Tags={"aws:cloudformation:stack-name": "stack1"})) == sorted([a, b])
    assert listed(Tags={"aws:cloudformation:stack-name": "stack1", "team": "x"}) == [a]
    assert listed(Tags={"aws:cloudformation:stack-name": "nope"}) == []
    assert listed(Filter={"Name": "stack2-dedupe"}) == [c]
    assert listed(Filter={"Name": "stack2"}) == []  # exact by default
    assert listed(Filter={"Name": "stack1-dedupe"}, Tags={"team": "x"}) == [a]
    # tags added later by TagResource count too
    glue.tag_resource(ResourceArn=f"arn:aws:glue:{REGION}:{ACCOUNT}:mlTransform/{c}", TagsToAdd={"team": "x"})
    assert sorted(listed(Tags={"team": "x"})) == sorted([a, c])
    # pagination with MaxResults
    assert sorted(listed(MaxResults=1)) == sorted([a, b, c])
    first = glue.list_ml_transforms(MaxResults=2)
    assert len(first["TransformIds"]) == 2
    assert first["NextToken"]
    # sort by name
    assert listed(Sort={"Column": "NAME", "SortDirection": "ASCENDING"}, MaxResults=1) == [a, b, c]
    assert listed(Sort={"Column": "NAME", "SortDirection": "DESCENDING"}) == [c, b, a]


def test_name_filter_prefix_switch(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    glue = env.glue
    a = make_transform(glue, "stack1-dedupe")
    b = make_transform(glue, "stack1-other")
    make_transform(glue, "xstack1")
    monkeypatch.setattr(moto_glue, "NAME_FILTER_MATCH", "prefix")
    assert sorted(glue.list_ml_transforms(Filter={"Name": "stack1-"})["TransformIds"]) == sorted([a, b])
    monkeypatch.setattr(moto_glue, "NAME_FILTER_MATCH", "contains")
    assert len(glue.list_ml_transforms(Filter={"Name": "stack1"})["TransformIds"]) == 3


def test_get_ml_transforms_filter(env: Env) -> None:
    glue = env.glue
    a = make_transform(glue, "alpha")
    make_transform(glue, "beta")
    found = glue.get_ml_transforms(Filter={"Name": "alpha"})["Transforms"]
    assert [t["TransformId"] for t in found] == [a]
    assert len(glue.get_ml_transforms()["Transforms"]) == 2
    assert len(glue.get_ml_transforms(Filter={"TransformType": "FIND_MATCHES", "Status": "READY"})["Transforms"]) == 2
    assert glue.get_ml_transforms(Filter={"Status": "NOT_READY"})["Transforms"] == []
    assert len(glue.get_ml_transforms(Filter={"GlueVersion": "2.0"})["Transforms"]) == 2
    assert glue.get_ml_transforms(Filter={"CreatedBefore": datetime(2000, 1, 1, tzinfo=UTC)})["Transforms"] == []
    assert len(glue.get_ml_transforms(Filter={"CreatedAfter": datetime(2000, 1, 1, tzinfo=UTC)})["Transforms"]) == 2
    page = glue.get_ml_transforms(MaxResults=1)
    rest = glue.get_ml_transforms(MaxResults=1, NextToken=page["NextToken"])
    assert {page["Transforms"][0]["Name"], rest["Transforms"][0]["Name"]} == {"alpha", "beta"}
    assert "NextToken" not in rest


def test_list_ml_transforms_invalid_input(env: Env) -> None:
    glue = env.glue
    with pytest.raises(glue.exceptions.InvalidInputException) as info:
        glue.list_ml_transforms(MaxResults=1001)
    assert info.value.response["Error"]["Message"]
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.list_ml_transforms(Filter={"Status": "BROKEN"})
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.get_ml_transforms(Sort={"Column": "STARTED", "SortDirection": "ASCENDING"})


def test_state_is_reset_between_mock_aws_sessions(clock: FakeClock) -> None:
    moto_glue.install()
    with mock_aws():
        glue = boto3.client("glue", region_name=REGION)
        tid = make_transform(glue)
        glue.start_ml_evaluation_task_run(TransformId=tid)
    with mock_aws():
        glue = boto3.client("glue", region_name=REGION)
        assert glue.list_ml_transforms()["TransformIds"] == []
        with pytest.raises(glue.exceptions.EntityNotFoundException):
            glue.get_ml_task_runs(TransformId=tid)
