"""Issue 23, point 5: the guard sends no cancel to a job it has read as finished.

Neptune lists finished jobs with the running ones. ``make demo`` used to count 14 cancel
requests for 10 in-scope jobs: the 4 extra went to finished jobs (refused, 400/404) that the
answer then listed as skipped, so CloudTrail showed cancels the report denied. Counted at the
test bed, through the handler as CloudFormation drives it.
"""

from __future__ import annotations

from typing import Any

from jobjanitor_testbed import scenario as sc
from jobjanitor_testbed.cfn import ResponseReceiver, stack_id
from jobjanitor_testbed.guard_driver import deliver
from test_guard import assert_contract, clients, create, make_event, props

PREFIX = "stack-a-"


def test_delete_sends_no_cancel_to_a_finished_job(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    neptune, glue = clients(testbed)
    jobs = sc.start_jobs(neptune, glue, prefix=PREFIX, per_kind=2, testbed=testbed)  # one finished per kind
    assert all(jobs.finished.values())
    stack = stack_id()
    properties = props(testbed, jobs)
    pid = create(testbed, receiver, properties, stack)["PhysicalResourceId"]
    testbed.neptune_log.clear()
    testbed.aws_log.clear()

    body = assert_contract(deliver(make_event("Delete", properties, receiver, stack=stack, physical_id=pid), receiver))

    assert body["Status"] == "SUCCESS", body
    cancelled_paths = {e.path for e in testbed.neptune_log.entries() if e.method == "DELETE"}
    finished = [job_id for kind, ids in jobs.finished.items() if kind != "glue-ml-task-run" for job_id in ids]
    assert [job_id for job_id in finished if any(path.endswith(f"/{job_id}") for path in cancelled_paths)] == []
    glue_cancelled = {e.path for e in testbed.aws_log.entries(operation="CancelMLTaskRun")}
    cancels = testbed.neptune_log.count(method="DELETE") + len(testbed.aws_log.entries(operation="CancelMLTaskRun"))
    assert cancels == jobs.count("in_scope"), (cancelled_paths, glue_cancelled)
    assert {e.status for e in testbed.neptune_log.entries() if e.method == "DELETE"} == {200}
    # The answer says what CloudTrail shows: cancels for the running jobs, the finished ones skipped.
    assert int(body["Data"]["Cancelled"]) == jobs.count("in_scope")
    assert int(body["Data"]["Skipped"]) >= len(finished) + 1  # the Glue run too
    for kind, api_kind in sc.ML_KINDS.items():
        assert testbed.neptune.job(api_kind, jobs.finished[kind][0]).cancel_count == 0
