"""The engine end to end against the test bed: scopes, dry run, faults, deadlines, warnings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from jobjanitor import engine
from jobjanitor.clients import ClientCache, Clients
from jobjanitor.engine import Deadline, JobEvent, Mode, PhaseEvent
from jobjanitor.model import JobKindName, Outcome, SkipReason
from jobjanitor.policy import Policy
from jobjanitor.report import Report
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed

ML_KINDS = {
    JobKindName.NEPTUNE_ML_DATAPROCESSING: "dataprocessing",
    JobKindName.NEPTUNE_ML_TRAINING: "modeltraining",
    JobKindName.NEPTUNE_ML_TRANSFORM: "modeltransform",
}
CANCEL_OPS = ("CancelLoaderJob", "CancelMLDataProcessingJob", "CancelMLModelTrainingJob", "CancelMLModelTransformJob")


def seed_everything(bed: TestBed, transform: str, prefix: str = "jj-") -> dict[str, str]:
    """One running, one other-prefix and one finished job of every kind. Returns id -> kind."""
    seeded: dict[str, str] = {}
    for job_id, status in ((f"{prefix}load", "LOAD_IN_PROGRESS"), ("other-load", "LOAD_IN_PROGRESS"),
                           (f"{prefix}load-done", "LOAD_COMPLETED")):  # fmt: skip
        bed.neptune.seed_load(job_id, status=status)
        seeded[job_id] = "loader"
    for ml in ML_KINDS.values():
        for job_id, status in ((f"{prefix}{ml}", "InProgress"), (f"other-{ml}", "InProgress"),
                               (f"{prefix}{ml}-done", "Completed")):  # fmt: skip
            bed.neptune.seed_ml_job(ml, job_id, status=status)
            seeded[job_id] = ml
    for job_id, status in ((f"{prefix}run", "RUNNING"), ("other-run", "RUNNING")):
        moto_glue.seed_task_run(transform, status=status, task_run_id=job_id)
        seeded[job_id] = "glue"
    return seeded


def status_in_bed(bed: TestBed, kind: str, job_id: str, transform: str | None = None) -> str:
    if kind == "glue":
        assert transform is not None
        return str(moto_glue.task_runs_of(_transform_obj(transform))[job_id].status())
    return str(bed.neptune.job(kind, job_id).status)


def _transform_obj(transform_id: str) -> Any:
    from moto.glue.models import glue_backends

    return glue_backends["123456789012"]["us-east-1"].ml_transforms[transform_id]


def by_id(report: Report) -> dict[str, Any]:
    return {r.ref.job_id: r for r in report.results}


def test_sweep_mixed_scope(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    """Prefix scopes Neptune ML jobs (caller-chosen ids); loads are scoped by the endpoint and
    Glue runs by their transform (service-generated ids): other transforms are left alone."""
    bed = aws_env
    seed_everything(bed, transform)
    import boto3
    from jobjanitor_testbed.scenario import create_transform

    other_transform = create_transform(boto3.client("glue", region_name="us-east-1"), "other-transform")
    moto_glue.seed_task_run(other_transform, status="RUNNING", task_run_id="jj-elsewhere")
    policy = make_policy(kinds="all", glue_transform_name_prefix="jj-", job_id_prefix="jj-")
    events: list[Any] = []
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy), progress=events.append)
    results = by_id(report)

    in_scope = [
        "jj-load",
        "other-load",
        "jj-dataprocessing",
        "jj-modeltraining",
        "jj-modeltransform",
        "jj-run",
        "other-run",
    ]
    for job_id in in_scope:
        assert results[job_id].outcome is Outcome.CANCELLED, results[job_id]
        assert not results[job_id].outstanding
    assert results["jj-load"].final_status == "LOAD_CANCELLED_BY_USER"
    assert results["jj-modeltraining"].final_status == "Stopped"
    assert results["jj-run"].final_status == "STOPPED"
    for job_id in ("other-dataprocessing", "other-modeltraining", "other-modeltransform"):
        assert results[job_id].outcome is Outcome.SKIPPED
        assert results[job_id].skip_reason is SkipReason.PREFIX
    for job_id in ("jj-load-done", "jj-dataprocessing-done", "jj-modeltraining-done", "jj-modeltransform-done"):
        assert (results[job_id].outcome, results[job_id].skip_reason) == (Outcome.SKIPPED, SkipReason.FINISHED)
    assert "jj-elsewhere" not in results  # its transform is not in scope
    assert report.ok
    assert report.waited
    assert not report.still_running
    # The test bed agrees: in-scope jobs stopped, everything else untouched.
    assert bed.neptune.job("loader", "jj-load").status == "LOAD_CANCELLED_BY_USER"
    for ml in ML_KINDS.values():
        assert bed.neptune.job(ml, f"jj-{ml}").status == "Stopped"
        assert bed.neptune.job(ml, f"other-{ml}").status == "InProgress"
        assert bed.neptune.job(ml, f"jj-{ml}-done").cancel_count == 0
    assert status_in_bed(bed, "glue", "jj-run", transform) == "STOPPED"
    assert status_in_bed(bed, "glue", "jj-elsewhere", other_transform) == "RUNNING"
    # A small sweep describes first: the 5 running jobs get a cancel each, the 4 finished none
    # (what CloudTrail shows is what the report says).
    assert sum(bed.neptune_log.count(operation=op, status=200) for op in CANCEL_OPS) == 5
    assert sum(bed.neptune_log.count(operation=op) for op in CANCEL_OPS) == 5
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 2
    # Progress: one cancel event per in-scope job, phases around them.
    cancels = [e for e in events if isinstance(e, JobEvent) and e.action == "cancel"]
    assert sorted(e.job_id for e in cancels) == sorted(in_scope)
    assert {e.phase for e in events if isinstance(e, PhaseEvent)} >= {"discover", "select", "wait"}
    assert report.counts()["cancelled"] == 7
    assert report.counts_by_kind()["neptune-ml-training"] == {"cancelled": 1, "skipped": 2}


def test_min_age_uses_the_jobs_own_start_time(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    bed = aws_env
    now = bed.lifecycle.now()
    bed.neptune.seed_load("old-load", status="LOAD_IN_PROGRESS", started_at=now - 3 * 3600)
    bed.neptune.seed_load("young-load", status="LOAD_IN_PROGRESS", started_at=now - 60)
    old_run = moto_glue.seed_task_run(transform, status="RUNNING", started_on=now - 3 * 3600)
    young_run = moto_glue.seed_task_run(transform, status="RUNNING", started_on=now - 60)
    bed.neptune.seed_ml_job("modeltraining", "ml-unknown-age", status="InProgress", started_at=now - 3 * 3600)
    policy = make_policy(glue_transform_ids=transform, min_age="2h", wait="false")
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    results = by_id(report)
    assert results["old-load"].outcome is Outcome.CANCELLED
    assert results[old_run].outcome is Outcome.CANCELLED
    assert (results["young-load"].outcome, results["young-load"].skip_reason) == (Outcome.SKIPPED, SkipReason.TOO_YOUNG)
    assert results[young_run].skip_reason is SkipReason.TOO_YOUNG
    # Neptune ML Get gives no start time: unknown age never matches a min_age policy.
    assert results["ml-unknown-age"].skip_reason is SkipReason.AGE_UNKNOWN
    assert bed.neptune.job("modeltraining", "ml-unknown-age").status == "InProgress"
    assert bed.neptune.job("loader", "young-load").status == "LOAD_IN_PROGRESS"
    assert status_in_bed(bed, "glue", young_run, transform) == "RUNNING"
    assert not report.waited
    assert report.ok
    # Without a wait nothing confirmed a terminal status yet: both count as stopping.
    assert {ref.job_id for ref in report.stopping} == {old_run, "old-load"}


def test_explicit_ids(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    bed = aws_env
    for job_id in ("a", "b", "c"):
        bed.neptune.seed_ml_job("modeltraining", job_id, status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", job_ids="a,c,ghost")
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    results = by_id(report)
    assert results["a"].outcome is Outcome.CANCELLED
    assert results["c"].outcome is Outcome.CANCELLED
    assert results["b"].skip_reason is SkipReason.NOT_LISTED
    assert bed.neptune.job("modeltraining", "b").status == "InProgress"
    assert any("ghost" in w for w in report.warnings)


def test_dry_run_cancels_nothing(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    bed = aws_env
    seeded = seed_everything(bed, transform)
    before = {job_id: status_in_bed(bed, kind, job_id, transform) for job_id, kind in seeded.items()}
    policy = make_policy(glue_transform_ids=transform, dry_run=True)
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    after = {job_id: status_in_bed(bed, kind, job_id, transform) for job_id, kind in seeded.items()}
    assert before == after
    assert sum(bed.neptune_log.count(operation=op) for op in CANCEL_OPS) == 0
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 0
    would = sorted(r.ref.job_id for r in report.results if r.outcome is Outcome.WOULD_CANCEL)
    assert would == sorted(
        job_id for job_id, status in before.items() if status in ("LOAD_IN_PROGRESS", "InProgress", "RUNNING")
    )
    assert report.dry_run
    assert report.ok


def test_plan_decides_without_cancelling(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    bed = aws_env
    seed_everything(bed, transform)
    bed.lifecycle.stop_delay = 600.0  # still stopping whenever the engine looks, however loaded the machine
    bed.neptune.seed_ml_job("modeltransform", "jj-stopping", status="Stopping")
    policy = make_policy(kinds="all", glue_transform_ids=transform, job_id_prefix="jj-")
    report = engine.plan(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    results = by_id(report)
    assert results["jj-load"].outcome is Outcome.WOULD_CANCEL
    assert results["jj-stopping"].outcome is Outcome.STILL_RUNNING
    assert results["other-modeltraining"].skip_reason is SkipReason.PREFIX
    assert sum(bed.neptune_log.count(operation=op) for op in CANCEL_OPS) == 0


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"throttle_rate": 0.3}, id="throttling-storm"),
        pytest.param({"error_rate": 0.3}, id="5xx"),
        pytest.param({"drop_rate": 0.2}, id="dropped-connections"),
    ],
)
def test_sweep_through_faults_reports_the_truth(
    aws_env: TestBed,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
    transform: str,
    faults: dict[str, float],
) -> None:
    bed = aws_env
    seeded = seed_everything(bed, transform)
    for i in range(6):
        bed.neptune.seed_ml_job("modeltraining", f"jj-extra-{i}", status="InProgress")
        seeded[f"jj-extra-{i}"] = "modeltraining"
    policy = make_policy(kinds="all", glue_transform_ids=transform, job_id_prefix="jj-")
    bed.set_faults(**faults, seed=7)
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy))
    bed.set_faults(throttle_rate=0.0, error_rate=0.0, drop_rate=0.0)
    assert not report.errors
    injected = bed.neptune_log.count(fault=next(iter(faults)).split("_")[0]) + bed.aws_log.count(
        fault=next(iter(faults)).split("_")[0]
    )
    assert injected > 0  # the faults really happened
    for job_id, kind in seeded.items():
        final = status_in_bed(bed, kind, job_id, transform)
        if (
            job_id.endswith("-done")
            or job_id.startswith("other-ml")
            or (job_id.startswith("other-") and kind not in ("loader", "glue"))
        ):
            continue
        result = by_id(report)[job_id]
        # Everything in scope got stopped, and the report says so truthfully.
        assert result.outcome in (Outcome.CANCELLED, Outcome.ALREADY_FINISHED), result
        assert final in ("LOAD_CANCELLED_BY_USER", "Stopped", "STOPPED"), (job_id, final)
        assert result.final_status == final
    for job_id in ("other-dataprocessing", "other-modeltraining", "other-modeltransform"):
        assert status_in_bed(bed, seeded[job_id], job_id, transform) == "InProgress"
    assert report.ok


def test_failed_cancel_is_reported_and_not_ok(
    aws_env: TestBed,
    testbed_clock: FakeClock,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    bed = aws_env
    bed.neptune.seed_load("stuck", status="LOAD_IN_PROGRESS")
    bed.neptune.seed_ml_job("modeltraining", "fine", status="InProgress")
    bed.faults_neptune.inject("InternalFailureException", times=100, operations={"CancelLoaderJob"})
    policy = make_policy(kinds="neptune-loader,neptune-ml-training")
    # The second passes' pauses and the wait pass on the test bed's clock.
    report = engine.sweep(policy, deadline=Deadline.after(30, testbed_clock), clients=make_clients(policy))
    results = by_id(report)
    assert results["stuck"].outcome is Outcome.FAILED
    assert "InternalFailureException" in (results["stuck"].error or "")
    assert results["fine"].outcome is Outcome.CANCELLED
    assert bed.neptune.job("loader", "stuck").status == "LOAD_IN_PROGRESS"
    assert not report.ok
    assert [f.ref.job_id for f in report.failures] == ["stuck"]
    assert report.summary()["FailedIds"] == "neptune-loader:stuck"


def test_deadline_while_stopping(
    aws_env: TestBed,
    testbed_clock: FakeClock,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    bed = aws_env
    bed.lifecycle.stop_delay = 600.0  # stays Stopping for the whole test
    bed.neptune.seed_ml_job("modeltraining", "slow", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training")
    report = engine.sweep(policy, deadline=Deadline.after(1.5, testbed_clock), clients=make_clients(policy))
    result = by_id(report)["slow"]
    assert (result.outcome, result.final_status, result.outstanding) == (Outcome.CANCELLED, "Stopping", True)
    assert [ref.job_id for ref in report.still_running] == ["slow"]
    assert not report.ok
    assert report.summary()["StillRunning"] == "1"
    # A later tick (a watch) cancels nothing and still sees it stopping.
    later = engine.sweep(
        policy, mode=Mode.WATCH, deadline=Deadline.after(0.5, testbed_clock), clients=make_clients(policy)
    )
    assert by_id(later)["slow"].outcome is Outcome.STILL_RUNNING
    assert bed.neptune.job("modeltraining", "slow").cancel_count == 1


def test_cancel_then_wait_for_and_watch(
    aws_env: TestBed,
    testbed_clock: FakeClock,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    bed = aws_env
    # Long enough that "already-stopping" is still stopping when the cancel pass looks, even
    # on a loaded machine, and short enough that the wait sees it stop.
    bed.lifecycle.stop_delay = 3.0
    bed.neptune.seed_ml_job("dataprocessing", "dp", status="InProgress")
    bed.neptune.seed_ml_job("modeltransform", "already-stopping", status="Stopping")
    policy = make_policy(kinds="neptune-ml-dataprocessing,neptune-ml-transform")
    clients = make_clients(policy)
    cancelled = engine.sweep(policy, wait=False, deadline=Deadline.after(30, testbed_clock), clients=clients)
    results = by_id(cancelled)
    assert results["dp"].outcome is Outcome.CANCELLED
    assert results["dp"].outstanding
    # A small sweep describes first: the job already stopping is seen so, and waited for without
    # a cancel of its own.
    assert results["already-stopping"].outcome is Outcome.STILL_RUNNING
    view = bed.neptune.job("modeltransform", "already-stopping")
    assert (view.cancel_count, view.status) == (0, "Stopping")
    # The guard caches this report as JSON and waits on it later.
    restored = Report.from_dict(cancelled.to_dict())
    assert restored == cancelled
    waited = engine.wait_for(restored, policy, deadline=Deadline.after(30, testbed_clock), clients=clients)
    results = by_id(waited)
    assert (results["dp"].outcome, results["dp"].final_status) == (Outcome.CANCELLED, "Stopped")
    assert (results["already-stopping"].outcome, results["already-stopping"].final_status) == (
        Outcome.FINISHED,
        "Stopped",
    )
    assert waited.ok
    assert waited.waited
    again = engine.sweep(policy, mode=Mode.WATCH, deadline=Deadline.after(5, testbed_clock), clients=clients)
    assert again.ok
    assert not [r for r in again.results if r.outcome is not Outcome.SKIPPED]


def test_a_full_list_makes_the_report_incomplete(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    """Neptune's lists cannot page: a list at its cap may hide jobs, so the report is not ok."""
    bed = aws_env
    for i in range(100):
        bed.neptune.seed_load(f"load-{i:03}", status="LOAD_COMPLETED")
    for i in range(1024):
        bed.neptune.seed_ml_job("dataprocessing", f"dp-{i:04}", status="Completed")
    policy = make_policy(kinds="neptune-loader,neptune-ml-dataprocessing", job_id_prefix="nothing-")
    report = engine.plan(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert any("neptune-loader" in w and "100" in w for w in report.incomplete)
    assert any("neptune-ml-dataprocessing" in w and "1024" in w for w in report.incomplete)
    assert not report.ok
    assert report.counts()["skipped"] == 1124


def test_listing_error_is_reported(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "t", status="InProgress")
    bed.faults_neptune.inject("AccessDeniedException", times=1, status=403, operations={"ListLoaderJobs"})
    policy = make_policy(kinds="neptune-loader,neptune-ml-training")
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert report.errors
    assert "neptune-loader" in report.errors[0]
    assert by_id(report)["t"].outcome is Outcome.CANCELLED
    assert not report.ok


def test_summary_stays_small() -> None:
    from jobjanitor.model import JobRef, JobResult

    results = [
        JobResult(
            JobRef(JobKindName.NEPTUNE_LOADER, f"load-{'x' * 60}-{i}", "https://h:8182"), Outcome.FAILED, error="e"
        )
        for i in range(500)
    ]
    summary = Report(results=results).summary()
    assert summary["Failed"] == "500"
    assert len(str(summary).encode()) < 1024


def test_a_job_whose_cancel_outlasts_the_client_retries_gets_another_pass(
    aws_env: TestBed,
    virtual_deadlines: FakeClock,
    make_policy: Callable[..., Policy],
    make_clients: Callable[[Policy], Clients],
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "jj-stubborn", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", wait="false")
    # More retryable failures than the client's 8 attempts (ML operations declare no 500):
    # the first pass fails, the second gets through.
    bed.faults_neptune.inject("ClientTimeoutException", times=9, operations=["CancelMLModelTrainingJob"])
    events: list[Any] = []
    report = engine.sweep(policy, deadline=Deadline.after(60), clients=make_clients(policy), progress=events.append)
    assert by_id(report)["jj-stubborn"].outcome is Outcome.CANCELLED
    assert bed.neptune.job("modeltraining", "jj-stubborn").status in ("Stopping", "Stopped")
    assert bed.neptune_log.count(operation="CancelMLModelTrainingJob") == 10
    assert any(getattr(e, "phase", None) == "retry" for e in events)


def test_second_chances_stop_at_the_deadline(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "jj-hopeless", status="InProgress")
    policy = make_policy(kinds="neptune-ml-training", wait="false")
    bed.faults_neptune.inject("ClientTimeoutException", times=1000, operations=["CancelMLModelTrainingJob"])
    report = engine.sweep(policy, deadline=Deadline.after(2), clients=make_clients(policy))
    bed.faults_neptune.clear()
    result = by_id(report)["jj-hopeless"]
    assert result.outcome is Outcome.FAILED
    assert "ClientTimeout" in (result.error or "")
    assert bed.neptune.job("modeltraining", "jj-hopeless").status == "InProgress"


def test_glue_runs_are_cancelled_without_a_describe_each(
    aws_env: TestBed, make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients], transform: str
) -> None:
    bed = aws_env
    runs = [moto_glue.seed_task_run(transform, status="RUNNING") for _ in range(5)]
    policy = make_policy(kinds="glue-ml-task-run", glue_transform_ids=transform, wait="false")
    report = engine.sweep(policy, deadline=Deadline.after(30), clients=make_clients(policy))
    assert {r.ref.job_id for r in report.results if r.outcome is Outcome.CANCELLED} == set(runs)
    # GetMLTaskRuns already returned each run's status and start time.
    assert bed.aws_log.count(operation="GetMLTaskRun") == 0
    assert bed.aws_log.count(operation="CancelMLTaskRun") == 5


def test_a_sweep_builds_its_clients_once(
    aws_env: TestBed, make_policy: Callable[..., Policy], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Policy] = []
    real = engine.build_clients

    def counting(policy: Policy, **kwargs: Any) -> Clients:
        built.append(policy)
        return real(policy, **kwargs)

    monkeypatch.setattr(engine, "build_clients", counting)
    aws_env.neptune.seed_ml_job("modeltraining", "jj-once", status="InProgress")
    report = engine.sweep(make_policy(kinds="neptune-ml-training"), deadline=Deadline.after(30))
    assert by_id(report)["jj-once"].outcome is Outcome.CANCELLED
    assert len(built) == 1  # cancel and wait share them


def test_client_cache_keeps_clients_per_target(
    aws_env: TestBed, make_policy: Callable[..., Policy], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBJANITOR_ALLOWED_ENDPOINTS", f"{aws_env.allowed_endpoints},http://127.0.0.1:9")
    cache = ClientCache()
    policy = make_policy(kinds="neptune-ml-training")
    assert cache.for_policy(policy) is cache.for_policy(dataclasses.replace(policy, max_wait=5))
    elsewhere = make_policy(kinds="neptune-ml-training", neptune_endpoint="http://127.0.0.1:9")
    assert cache.for_policy(elsewhere) is not cache.for_policy(policy)
    assert cache.for_policy(elsewhere).neptune is not None
