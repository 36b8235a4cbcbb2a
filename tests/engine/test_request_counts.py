"""The requests a sweep spends, counted at the test bed: describe first, then cancel first while
most jobs need a cancel; the overlapped wait; Glue's parallel discovery. Exact counts or tight
bounds on small workloads (no timing is asserted)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from jobjanitor import engine
from jobjanitor.clients import Clients
from jobjanitor.engine import Deadline
from jobjanitor.model import Outcome, SkipReason
from jobjanitor.policy import Policy
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.server import TestBed


def _count(bed: TestBed, prefix: str) -> int:
    return sum(1 for e in bed.neptune_log.entries() + bed.aws_log.entries() if e.operation.startswith(prefix))


def test_a_small_sweep_describes_first_and_cancels_no_finished_job(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """Neptune lists finished jobs with the running ones: the first decisions of a sweep read
    each job first, so a finished one gets no cancel (CloudTrail matches the report)."""
    bed = aws_env
    for i in range(6):
        bed.neptune.seed_ml_job("modeltraining", f"run-{i}", status="InProgress")
    for i in range(2):
        bed.neptune.seed_ml_job("modeltraining", f"done-{i}", status="Completed")
    for i in range(3):
        bed.neptune.seed_load(f"load-{i}", status="LOAD_IN_QUEUE" if i else "LOAD_IN_PROGRESS")
    bed.neptune.seed_load("load-done", status="LOAD_COMPLETED")
    policy = make_policy(kinds="neptune-ml-training,neptune-loader", wait=False)
    bed.neptune_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    by_op = {op: bed.neptune_log.count(operation=op) for op in {e.operation for e in bed.neptune_log.entries()}}
    assert by_op == {
        "ListMLModelTrainingJobs": 1,
        "ListLoaderJobs": 1,
        "GetMLModelTrainingJob": 8,  # one describe per job
        "CancelMLModelTrainingJob": 6,  # the running ones only
        "GetLoaderJobStatus": 4,
        "CancelLoaderJob": 3,
    }
    assert {e.status for e in bed.neptune_log.entries() if e.method == "DELETE"} == {200}
    results = {r.ref.job_id: r for r in report.results}
    assert [results[f"run-{i}"].outcome for i in range(6)] == [Outcome.CANCELLED] * 6
    assert {results[f"run-{i}"].status_before for i in range(6)} == {"InProgress"}
    for job_id in ("done-0", "done-1", "load-done"):
        assert (results[job_id].outcome, results[job_id].skip_reason) == (Outcome.SKIPPED, SkipReason.FINISHED)
    assert report.ok


def test_past_its_first_decisions_a_sweep_of_running_jobs_cancels_first(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """No age filter, most jobs running: after the first ``DESCRIBE_FIRST`` jobs, a cancel
    straight away (one request per running job); a refused one costs a describe."""
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "done-0", status="Completed")  # the oldest: listed last
    for i in range(40):
        bed.neptune.seed_ml_job("modeltraining", f"run-{i:02}", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", wait=False, concurrency=1)
    bed.neptune_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert bed.neptune_log.entries(operation="ListMLModelTrainingJobs")
    assert bed.neptune_log.count(operation="GetMLModelTrainingJob") == engine.DESCRIBE_FIRST + 1
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob", status=200) == 40
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 41  # done-0's refused
    results = {r.ref.job_id: r for r in report.results}
    assert (results["done-0"].outcome, results["done-0"].skip_reason) == (Outcome.SKIPPED, SkipReason.FINISHED)
    assert report.counts()["cancelled"] == 40


def test_a_sweep_over_mostly_finished_jobs_keeps_describing_first(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """A cluster's finished history (Neptune lists up to 1,024 ML jobs): one describe per job,
    and a cancel only for the running ones, however many jobs there are."""
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "run-old", status="InProgress")
    for i in range(40):
        bed.neptune.seed_ml_job("modeltraining", f"done-{i:02}", status="Completed")
    bed.neptune.seed_ml_job("modeltraining", "run-new", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", wait=False, concurrency=1)
    bed.neptune_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert bed.neptune_log.count(operation="GetMLModelTrainingJob") == 42
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 2
    assert report.counts()["cancelled"] == 2
    assert report.counts()["skipped"] == 40


def test_describe_first_mode_reads_every_job_before_its_cancel(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """``Mode.DESCRIBE_FIRST`` (the hook's later invocations): past the first decisions too,
    and however many jobs need a cancel, each job is read first; one already stopping or
    finished gets no cancel."""
    bed = aws_env
    bed.lifecycle.stop_delay = 600.0  # still stopping whenever the engine looks
    for i in range(3):
        bed.neptune.seed_ml_job("modeltraining", f"stopping-{i}", status="Stopping")
    bed.neptune.seed_ml_job("modeltraining", "done-0", status="Completed")
    for i in range(30):
        bed.neptune.seed_ml_job("modeltraining", f"run-{i:02}", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", wait=False, concurrency=1)
    bed.neptune_log.clear()
    report = engine.sweep(
        policy, mode=engine.Mode.DESCRIBE_FIRST, deadline=Deadline.after(30), clients=make_clients(policy)
    )
    assert bed.neptune_log.count(operation="GetMLModelTrainingJob") == 34
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 30
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob", status=200) == 30
    counts = report.counts()
    assert (counts["cancelled"], counts["still_running"], counts["skipped"]) == (30, 3, 1)


def test_an_age_filter_describes_first(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """With ``min_age`` a describe must date each job before anything is cancelled."""
    bed = aws_env
    now = bed.lifecycle.now()
    bed.neptune.seed_load("old", status="LOAD_IN_PROGRESS", started_at=now - 7200)
    bed.neptune.seed_load("young", status="LOAD_IN_QUEUE", started_at=now - 60)
    policy = make_policy(kinds="neptune-loader", min_age=timedelta(hours=1), wait=False)
    bed.neptune_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert bed.neptune_log.count(operation="GetLoaderJobStatus") == 2
    assert bed.neptune_log.count(operation="CancelLoaderJob") == 1
    assert {r.ref.job_id: r.outcome for r in report.results} == {"old": Outcome.CANCELLED, "young": Outcome.SKIPPED}


def test_overlapped_wait_polls_each_job_once_after_one_probe(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """A sweep with the wait: one probe learns the kind's stop delay, then every other job is
    polled once, that long after its own cancel, while later jobs are still being cancelled."""
    bed = aws_env
    bed.lifecycle.stop_delay = 0.1
    jobs = 40
    for i in range(jobs):
        bed.neptune.seed_ml_job("dataprocessing", f"dp-{i:02}", status="InProgress")
    # Two at a time, 20 ms each: the cancels take far longer than the stop delay.
    bed.faults_neptune.set(latency=0.02)
    policy = make_policy(kinds="neptune-ml-dataprocessing", concurrency=2, max_wait=60)
    bed.neptune_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    assert report.ok
    assert [r.outcome for r in report.results] == [Outcome.CANCELLED] * jobs
    assert all(r.final_status == "Stopped" for r in report.results)
    cancels = bed.neptune_log.entries(operation="CancelMLDataProcessingJob")
    assert len(cancels) == jobs
    cancelled_at = {e.path: e.timestamp for e in cancels}
    reads = bed.neptune_log.entries(operation="GetMLDataProcessingJob")
    gets = [e for e in reads if e.timestamp > cancelled_at[e.path]]  # the polls
    assert len(reads) - len(gets) == engine.DESCRIBE_FIRST  # the first decisions describe first
    # One read per job, plus the probe's few early looks (it backs off from 50 ms), and a little
    # room for a loaded machine (a read the client had to retry is counted twice here).
    assert jobs <= len(gets) <= jobs + 8
    assert len({e.path for e in gets}) == jobs
    # Overlapped: jobs were seen stopped before the last cancel was sent.
    assert any(g.timestamp < cancels[-1].timestamp for g in gets)


def test_wait_for_a_cancelled_report_polls_each_job_once_after_one_probe(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """``wait_for`` (the guard's later ticks) schedules polls the same way; it does not know when
    each job was cancelled, so a job cancelled later than the probe may need a second read."""
    bed = aws_env
    bed.lifecycle.stop_delay = 0.2
    for i in range(20):
        bed.neptune.seed_ml_job("modeltransform", f"tf-{i:02}", status="InProgress")
    policy = make_policy(kinds="neptune-ml-transform")
    clients = make_clients(policy)
    cancelled = engine.sweep(policy, wait=False, deadline=Deadline.after(30), clients=clients)
    bed.neptune_log.clear()
    waited = engine.wait_for(cancelled, policy, deadline=Deadline.after(30), clients=clients)
    assert waited.ok
    assert 20 <= bed.neptune_log.count(operation="GetMLModelTransformJob") <= 2 * 20


def test_glue_lists_each_transform_and_status_once(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    """Glue discovery: one GetMLTaskRuns per transform and outstanding status (run at once), no
    describe (the listing gives each run's status), one cancel per run."""
    import boto3
    from jobjanitor_testbed.scenario import create_transform

    bed = aws_env
    second = create_transform(boto3.client("glue", region_name="us-east-1"), "jj-second")
    for t in (transform, second):
        for _ in range(3):
            moto_glue.seed_task_run(t, status="RUNNING")
    policy = make_policy(kinds="glue-ml-task-run", glue_transform_ids=f"{transform},{second}", wait=False)
    bed.aws_log.clear()
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert [r.outcome for r in report.results] == [Outcome.CANCELLED] * 6
    assert bed.aws_log.count(operation="GetMLTaskRuns") == 2 * 3
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 6
    assert bed.aws_log.count(operation="GetMLTaskRun") == 0
