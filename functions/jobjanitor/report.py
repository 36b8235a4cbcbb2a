"""The result of a janitor run: per-job results, warnings, errors, and ways to show them."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from jobjanitor.model import JobKindName, JobRef, JobResult, Outcome, SkipReason, UnderlyingJob

__all__ = ["Report"]

FORMAT_VERSION = 1
# Outcomes that mean "we (or someone) asked it to stop, it may still be stopping".
_STOPPING_OUTCOMES = frozenset({Outcome.CANCELLED, Outcome.STILL_RUNNING})
# summary(): CloudFormation's whole response body is capped at 4,096 bytes.
SUMMARY_ID_CHARS = 300
_SUMMARY_KEYS = {
    Outcome.CANCELLED: "Cancelled",
    Outcome.ALREADY_FINISHED: "AlreadyFinished",
    Outcome.NOT_FOUND: "NotFound",
    Outcome.FAILED: "Failed",
    Outcome.WOULD_CANCEL: "WouldCancel",
    Outcome.SKIPPED: "Skipped",
    Outcome.FINISHED: "Finished",
}


@dataclass
class Report:
    """``waited``: a wait phase ran (only then do jobs still stopping make the run not ok).
    ``incomplete``: listings that could not see everything (a list at its cap, no paging),
    each naming the kind, the call and the cap: such a run is not ok."""

    results: list[JobResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    waited: bool = False
    dry_run: bool = False

    # -- views --------------------------------------------------------------------------
    @property
    def stopping(self) -> list[JobRef]:
        """Jobs asked to stop (by us or before us) and not yet seen in a terminal status."""
        return [r.ref for r in self.results if r.outstanding and r.outcome in _STOPPING_OUTCOMES]

    @property
    def still_running(self) -> list[JobRef]:
        """After a wait: the jobs still outstanding at the deadline. Empty when no wait ran."""
        return self.stopping if self.waited else []

    @property
    def failures(self) -> list[JobResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        """No failed cancel, no discovery error, discovery saw everything, and (after a wait)
        nothing still running."""
        return not self.failures and not self.errors and not self.incomplete and not self.still_running

    def in_scope(self) -> list[JobResult]:
        return [r for r in self.results if r.outcome is not Outcome.SKIPPED]

    def counts(self) -> dict[str, int]:
        """Results per outcome (every outcome present, zeros included)."""
        counter = Counter(r.outcome for r in self.results)
        return {outcome.value: counter.get(outcome, 0) for outcome in Outcome}

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        """Results per kind, then per outcome (only kinds and outcomes seen)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            per_kind = out.setdefault(r.ref.kind.value, {})
            per_kind[r.outcome.value] = per_kind.get(r.outcome.value, 0) + 1
        return out

    def summary(self) -> dict[str, str]:
        """Counts plus a few ids, small enough for a CloudFormation response's Data."""
        counts = Counter(r.outcome for r in self.results)
        data = {key: str(counts.get(outcome, 0)) for outcome, key in _SUMMARY_KEYS.items()}
        data["StillRunning"] = str(len(self.still_running) if self.waited else len(self.stopping))
        data["Warnings"] = str(len(self.warnings))
        data["Errors"] = str(len(self.errors))
        if self.incomplete:
            data["DiscoveryIncomplete"] = str(len(self.incomplete))
        failed = _bounded_ids(f"{r.ref.kind}:{r.ref.job_id}" for r in self.failures)
        if failed:
            data["FailedIds"] = failed
        running = _bounded_ids(f"{ref.kind}:{ref.job_id}" for ref in (self.still_running or []))
        if running:
            data["StillRunningIds"] = running
        return data

    def with_results(self, results: list[JobResult], *, waited: bool | None = None) -> Report:
        return replace(self, results=results, waited=self.waited if waited is None else waited)

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self, *, include_skipped: bool = True) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "ok": self.ok,
            "waited": self.waited,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "incomplete": list(self.incomplete),
            "results": [
                _result_to_dict(r) for r in self.results if include_skipped or r.outcome is not Outcome.SKIPPED
            ],
        }

    def to_json(self, *, indent: int | None = None, include_skipped: bool = True) -> str:
        return json.dumps(self.to_dict(include_skipped=include_skipped), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            results=[_result_from_dict(r) for r in data.get("results", [])],
            warnings=[str(w) for w in data.get("warnings", [])],
            errors=[str(e) for e in data.get("errors", [])],
            incomplete=[str(i) for i in data.get("incomplete", [])],
            waited=bool(data.get("waited", False)),
            dry_run=bool(data.get("dry_run", False)),
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a report must be a JSON object")
        return cls.from_dict(data)

    # -- text ----------------------------------------------------------------------------
    def render_table(self, *, show_skipped: bool = True, cut_short_by: str | None = None) -> str:
        """``cut_short_by``: what ended the wait early (an interrupt), for the still-running line."""
        headers = ("KIND", "JOB ID", "OUTCOME", "BEFORE", "NOW", "STARTED", "NOTE")
        rows = [
            (
                r.ref.kind.value,
                r.ref.job_id,
                r.outcome.value,
                r.status_before or "-",
                r.final_status or "-",
                r.started_at.strftime("%Y-%m-%d %H:%M:%SZ") if r.started_at else "-",
                _note(r),
            )
            for r in self.results
            if show_skipped or r.outcome is not Outcome.SKIPPED
        ]
        widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [headers, *rows]]
        if not rows:
            lines.append("(no jobs)")
        shown = ", ".join(f"{k}={v}" for k, v in self.counts().items() if v)
        lines.append("")
        lines.append(f"total: {len(self.results)}" + (f" ({shown})" if shown else ""))
        if self.waited and self.still_running:
            when = f"when {cut_short_by} cut the wait short" if cut_short_by else "at the deadline"
            lines.append(f"still running {when}: {len(self.still_running)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"error: {e}" for e in self.errors)
        lines.extend(f"incomplete: {i}" for i in self.incomplete)
        return "\n".join(lines)


def _note(r: JobResult) -> str:
    """The table's NOTE: why skipped, what failed, and what SageMaker says of the bill."""
    said = (r.skip_reason.value if r.skip_reason else "") + (r.error or "")
    return "; ".join(text for text in (said, r.billing) if text)


def _bounded_ids(ids: Any) -> str:
    out = ""
    for item in ids:
        candidate = f"{out},{item}" if out else str(item)
        if len(candidate) > SUMMARY_ID_CHARS:
            return f"{out},…" if out else str(item)[: SUMMARY_ID_CHARS - 1] + "…"
        out = candidate
    return out


def _result_to_dict(r: JobResult) -> dict[str, Any]:
    return {
        "kind": r.ref.kind.value,
        "job_id": r.ref.job_id,
        "target": r.ref.target,
        "parent": r.ref.parent,
        "outcome": r.outcome.value,
        "status_before": r.status_before,
        "final_status": r.final_status,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "error": r.error,
        "skip_reason": r.skip_reason.value if r.skip_reason else None,
        "outstanding": r.outstanding,
        "billing": r.billing,
        # What the billing check reads once the job is gone from Neptune (the guard's report
        # travels as JSON between polling ticks).
        "underlying": [{"member": u.member, "name": u.name, "arn": u.arn} for u in r.underlying],
    }


def _result_from_dict(d: dict[str, Any]) -> JobResult:
    started = d.get("started_at")
    return JobResult(
        ref=JobRef(JobKindName(d["kind"]), str(d["job_id"]), str(d["target"]), d.get("parent")),
        outcome=Outcome(d["outcome"]),
        status_before=d.get("status_before"),
        final_status=d.get("final_status"),
        started_at=datetime.fromisoformat(started) if started else None,
        error=d.get("error"),
        skip_reason=SkipReason(d["skip_reason"]) if d.get("skip_reason") else None,
        outstanding=bool(d.get("outstanding", False)),
        billing=d.get("billing"),
        underlying=tuple(
            UnderlyingJob(str(u["member"]), str(u["name"]), u.get("arn")) for u in d.get("underlying") or []
        ),
    )
