"""The EMF a report emits: non-zero per-kind counts under one fixed dimension set, plus the
service-only totals the alarms read (every run, zeros included)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jobjanitor import observability
from jobjanitor.clusters import NeptuneCluster
from jobjanitor.model import JobKindName, JobRef, JobResult, Outcome, SkipReason
from jobjanitor.report import Report

A = NeptuneCluster("graph-a", "cluster-AAAA", ("https://a.cluster-x.neptune.amazonaws.com:8182",))
B = NeptuneCluster("graph-b", "cluster-BBBB", ("https://b.cluster-x.neptune.amazonaws.com:8182",))
TRAINING, LOADER, GLUE = JobKindName.NEPTUNE_ML_TRAINING, JobKindName.NEPTUNE_LOADER, JobKindName.GLUE_ML_TASK_RUN


def result(kind: JobKindName, target: str, outcome: Outcome, *, outstanding: bool = False) -> JobResult:
    skip = SkipReason.FINISHED if outcome is Outcome.SKIPPED else None
    return JobResult(JobRef(kind, "j", target), outcome, skip_reason=skip, outstanding=outstanding)


def emitted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, report: Report, **kw: Any
) -> list[Any]:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    observability.metrics.clear_metrics()
    capsys.readouterr()
    observability.publish_report(report, **kw)
    observability.metrics.flush_metrics()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def per_kind(blobs: list[Any]) -> dict[tuple[str, str, str], dict[str, float]]:
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    for blob in blobs:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        if "kind" in blob:
            names = [m["Name"] for m in directive["Metrics"]]
            out[(blob["source"], blob["target"], blob["kind"])] = {n: blob[n][0] for n in names}
    return out


def test_only_non_zero_counts_per_target_and_kind(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = A.endpoints[0], B.endpoints[0]
    report = Report(
        results=[
            result(TRAINING, a, Outcome.CANCELLED),
            result(TRAINING, a, Outcome.CANCELLED),
            result(TRAINING, a, Outcome.SKIPPED),
            result(LOADER, b, Outcome.SKIPPED),
            result(GLUE, "glue:us-east-1:tfm-1", Outcome.FAILED, outstanding=True),
        ],
        waited=True,
    )
    blobs = emitted(capsys, monkeypatch, report, source="sweeper", clusters=[A, B])

    assert per_kind(blobs) == {
        ("sweeper", "graph-a", "neptune-ml-training"): {"JobsSeen": 3.0, "JobsCancelled": 2.0},
        ("sweeper", "graph-b", "neptune-loader"): {"JobsSeen": 1.0},
        ("sweeper", "glue", "glue-ml-task-run"): {"JobsSeen": 1.0, "JobsFailed": 1.0},
    }
    dimension_sets = {
        tuple(tuple(d) for d in blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]) for blob in blobs if "kind" in blob
    }
    assert dimension_sets == {(("source", "target", "kind", "service"),)}  # one fixed set
    totals = [blob for blob in blobs if "kind" not in blob]
    assert len(totals) == 1
    assert totals[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert totals[0]["SweepFailures"] == [1.0]
    assert totals[0]["SweepStillStopping"] == [0.0]  # the failed run is not "stopping"


def test_a_quiet_run_emits_no_per_kind_series_but_keeps_the_totals(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = emitted(capsys, monkeypatch, Report(), source="guard", clusters=[A])
    assert per_kind(blobs) == {}
    (totals,) = blobs
    assert totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert totals["SweepFailures"] == [0.0]
    assert totals["SweepStillStopping"] == [0.0]


def test_a_given_target_names_every_kind(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(results=[result(TRAINING, A.endpoints[0], Outcome.WOULD_CANCEL, outstanding=True)], dry_run=True)
    blobs = emitted(capsys, monkeypatch, report, source="sweeper", target="graph-a")
    assert per_kind(blobs) == {
        ("sweeper", "graph-a", "neptune-ml-training"): {"JobsSeen": 1.0, "JobsWouldCancel": 1.0},
    }
