"""The hook's idempotency table is bookkeeping, through the real handler against the test bed: a
table that hangs or fails costs a few seconds and is said in the answer, and a failed save
never reruns the work."""

from __future__ import annotations

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
