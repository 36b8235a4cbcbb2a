"""The hook's idempotency table is bookkeeping, through the real handler against the test bed: a
table that hangs or fails costs a few seconds and is said in the answer, a failed save never
reruns the work, and two resources never share an answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jobjanitor import observability
from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.aws import DYNAMODB_ITEM_OPERATIONS
from jobjanitor_testbed.hook_driver import HookDriver
from test_hook import all_in, invoke, neptune_event, start_neptune_jobs

# The invocation's budget: the Lambda's timeout (the hook works until a second before it).
BUDGET = 8.0
WITHOUT_TABLE = "ran without the idempotency table"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the metrics the handler adds."""
    names: list[str] = []
    add = observability.metrics.add_metric

    def record(name: str, *args: Any, **kwargs: Any) -> None:
        names.append(name)
        add(name, *args, **kwargs)

    monkeypatch.setattr(observability.metrics, "add_metric", record)
    return names


def jobs_in(on: dict[str, list[str]]) -> int:
    return sum(len(ids) for ids in on.values())


def test_a_table_that_hangs_costs_seconds_and_the_answer_says_so(
    stacks: Any, testbed: Any, testbed_clock: Any, counted: list[str]
) -> None:
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    testbed.faults_aws.set(hang_rate=1.0, operations=DYNAMODB_ITEM_OPERATIONS)
    driver = HookDriver(failure_mode="FAIL", lambda_timeout=BUDGET, invocation_limit=BUDGET, clock=testbed_clock)

    run = driver.run(neptune_event(stacks))

    first = run.invocations[0]
    assert not first.timed_out, "no answer within the invocation's budget"
    assert run.status == "SUCCESS", run.reason
    assert WITHOUT_TABLE in first.answer["message"], first.answer["message"]
    assert "IdempotencyTableFaults" in counted
    assert testbed.neptune_log.count(method="DELETE") == jobs_in(on_a), "every job gets one cancel"
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []


def test_a_failed_save_returns_the_answer_already_computed(
    stacks: Any, testbed: Any, testbed_clock: Any, counted: list[str]
) -> None:
    """The evaluation ran (cancels sent; the test bed's clock stands still, so the wait for the
    jobs to stop spends the invocation's time); saving its answer fails: the answer is that
    evaluation's, not a second one on the spent deadline."""
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    testbed.faults_aws.inject("InternalServerError", status=500, times=1000, operations=["UpdateItem"])

    answer = invoke(neptune_event(stacks))

    message = answer["message"]
    assert answer["hookStatus"] == "SUCCESS", message
    assert f"{jobs_in(on_a)} job(s) cancelled" in message
    assert "failed" not in message.split(WITHOUT_TABLE)[0]
    assert f"{WITHOUT_TABLE} (the result could not be saved" in message
    assert "IdempotencyTableFaults" in counted
    assert testbed.neptune_log.count(method="DELETE") == jobs_in(on_a), "the evaluation ran twice"
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []


def test_one_token_for_two_clusters_cancels_each_clusters_own_jobs(
    stacks: Any, testbed: Any, monkeypatch: pytest.MonkeyPatch, fresh_hook: Any
) -> None:
    """Whether CloudFormation shares a token between targets is not documented: a request for
    another resource never gets the first resource's answer."""
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_CLUSTERS", f"{stacks.graph['GraphCluster']},{stacks.other['GraphCluster']}")
    fresh_hook()
    on_a = start_neptune_jobs(stacks.neptune_a, "a", per_kind=1)
    on_b = start_neptune_jobs(stacks.neptune_b, "b", per_kind=1)
    token = str(uuid.uuid4())

    first = invoke(neptune_event(stacks, "graph", token=token))
    second = invoke(neptune_event(stacks, "other", token=token))

    assert first["hookStatus"] == second["hookStatus"] == "SUCCESS"
    assert stacks.graph["GraphCluster"] in first["message"]
    assert stacks.other["GraphCluster"] in second["message"]
    assert all_in(stacks.neptune_a, on_a, sc.STOPPING_OR_STOPPED) == []
    assert all_in(stacks.neptune_b, on_b, sc.STOPPING_OR_STOPPED) == []
    assert testbed.neptune_log.count(method="DELETE") == jobs_in(on_a)
    assert stacks.emulator_b.log.count(method="DELETE") == jobs_in(on_b)
    # The same request again is still the same request: its answer, nothing cancelled again.
    assert invoke(neptune_event(stacks, "other", token=token)) == second
    assert stacks.emulator_b.log.count(method="DELETE") == jobs_in(on_b)
