"""What a guard's report earns: the answer as a protocol value (:class:`Done` or :class:`Failed`).

Decisions about what to touch stay in :mod:`jobjanitor.guard.logic`; this module only turns
what happened into the answer CloudFormation gets: Data counts, a Reason that starts with what
matters, and FAILED only where ``FailOnError`` (or a failed Create) asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from jobjanitor.endpoints import safe_summary
from jobjanitor.guard.config import GuardConfig
from jobjanitor.guard.stack import DeleteCase
from jobjanitor.model import Outcome as JobOutcome
from jobjanitor.protocol.custom_resource import Done, Failed
from jobjanitor.report import Report

log = logging.getLogger("jobjanitor.guard")


def verdict(report: Report, config: GuardConfig, pid: str, data: Mapping[str, str]) -> Done | Failed:
    """SUCCESS when the report is ok; else the problems in Reason, FAILED only with FailOnError."""
    if report.ok:
        return Done(pid, data)
    reason = describe_problems(report)
    return Failed(reason, data) if config.fail_on_error else Done(pid, data, reason)


def not_a_teardown(case: DeleteCase, config: GuardConfig, pid: str) -> Done | Failed:
    """A Delete while the stack lives on (an Update's cleanup or rollback, the guard removed
    from the template), or one whose case cannot be read: nothing was cancelled."""
    if case.error is not None:
        data = {"Skipped": case.skipped}
        if config.fail_on_error:
            return Failed(case.reason, data)
        log.error("stack status unknown: cancelled nothing", extra={"error": case.error})
        return Done(pid, data, case.reason)
    log.info("the stack is not being deleted: cancelled nothing", extra={"stack_status": case.status})
    return Done(pid, {"Skipped": f"stack is {case.status}, not being deleted"})


def dry_run_answer(report: Report, pid: str) -> Done:
    """DryRun: what this teardown would cancel (Data, Reason, a log line); nothing cancelled or
    waited for, and SUCCESS whatever was seen, FailOnError or not: a preview never blocks a delete."""
    would = [f"{r.ref.kind}:{r.ref.job_id}" for r in report.results if r.outcome is JobOutcome.WOULD_CANCEL]
    reason = f"DryRun: cancelled nothing; would cancel {len(would)} job(s)"
    reason += f" ({', '.join(would[:3])}{', ...' if len(would) > 3 else ''})" if would else ""
    log.info("dry run: cancelled nothing", extra={"would_cancel": len(would)})
    data = {**report_data(report), "DryRun": "true"}
    return Done(pid, data, reason if report.ok else f"{reason}; {describe_problems(report)}")


def describe_problems(report: Report) -> str:
    """A Reason that starts with what matters: counts, then the first job named. Text that came
    from a service (error messages) is cut to a short, printable summary (safe_summary)."""
    parts: list[str] = []
    if report.incomplete:
        parts.append(f"discovery incomplete, jobs may be missed ({safe_summary(report.incomplete[0], 140)})")
    if report.errors:
        parts.append(f"{len(report.errors)} discovery error(s) (first: {safe_summary(report.errors[0], 100)})")
    if report.failures:
        first = report.failures[0]
        error = safe_summary(first.error or "", 100)
        parts.append(f"{len(report.failures)} cancel(s) failed (first: {first.ref.kind} {first.ref.job_id}: {error})")
    if report.still_running:
        first_ref = report.still_running[0]
        parts.append(
            f"{len(report.still_running)} job(s) still running at the deadline "
            f"(first: {first_ref.kind} {first_ref.job_id})"
        )
    return "; ".join(parts) or "ok"


def report_data(report: Report) -> dict[str, str]:
    return {str(k): str(v) for k, v in report.summary().items()}


def wait_data(report: Report) -> dict[str, str]:
    return {"StillRunning": str(len(report.still_running))}
