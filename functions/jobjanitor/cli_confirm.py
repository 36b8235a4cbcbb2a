"""A live ``jobjanitor sweep`` asks first.

Cancelling is destructive (with ``--clean`` the jobs' S3 artifacts go too), so, as aws-nuke and
cloud-nuke do, a live sweep is made explicit:

- on a terminal, it lists the scope first (read-only), shows what it will cancel (counts per
  kind, and the scope) and, apart, each Neptune ML inference endpoint it will delete (an
  endpoint is not a job: whoever calls it loses it), and asks ``[y/N]``; only ``y`` or ``yes``
  goes on, and then only the jobs shown are touched (a job that appeared since is left alone,
  and the report says so);
- the report then reads as ``--yes`` would have made it (:func:`with_plan`): the jobs the plan
  skipped keep the plan's reason (``finished``, not "not one of the ids shown"), and a job
  cancelled without a describe shows the status the plan read before the cancel;
- ``--yes`` skips the question (scripts, CI);
- without a terminal and without ``--yes`` it refuses before calling anything (exit 2).

``--dry-run`` and ``list`` never ask: they only read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TextIO

from jobjanitor.model import OPT_IN_KINDS, Outcome, SkipReason
from jobjanitor.policy import Policy
from jobjanitor.report import Report

__all__ = ["NO_TERMINAL", "ask", "confined_to_plan", "describe_plan", "plan_counts", "planned_ids", "with_plan"]

NO_TERMINAL = (
    "a live sweep cancels jobs and asks for confirmation on a terminal, but stdin is not a terminal: "
    "pass --yes to cancel without asking, or --dry-run to see what would be cancelled"
)
_PLANNED = (Outcome.WOULD_CANCEL, Outcome.STILL_RUNNING)
_SHOWN_ENDPOINTS = 20


def planned_ids(plan: Report) -> frozenset[str]:
    """The jobs the sweep would act on: cancel (outstanding) or wait for (already stopping)."""
    return frozenset(r.ref.job_id for r in plan.results if r.outcome in _PLANNED)


def confined_to_plan(policy: Policy, plan: Report) -> Policy:
    """The policy narrowed to the jobs shown (ids only ever narrow)."""
    ids = planned_ids(plan)
    if not ids:
        raise ValueError("an empty plan confines nothing: do not sweep")
    return replace(policy, job_ids=ids if not policy.job_ids else policy.job_ids & ids)


def plan_counts(plan: Report) -> tuple[int, int]:
    """(jobs, inference endpoints) the sweep would act on."""
    planned = [r for r in plan.results if r.outcome in _PLANNED]
    endpoints = sum(1 for r in planned if r.ref.kind in OPT_IN_KINDS)
    return len(planned) - endpoints, endpoints


def describe_plan(policy: Policy, plan: Report) -> str:
    """What the sweep will do, for the question: counts per job kind, each endpoint to delete,
    then the scope."""
    jobs = [r for r in plan.results if r.ref.kind not in OPT_IN_KINDS]
    cancel = Counter(r.ref.kind.value for r in jobs if r.outcome is Outcome.WOULD_CANCEL)
    stopping = Counter(r.ref.kind.value for r in jobs if r.outcome is Outcome.STILL_RUNNING)
    lines = []
    if cancel or stopping:
        lines.append(f"jobjanitor sweep will cancel {sum(cancel.values())} job(s):")
    for kind in sorted(set(cancel) | set(stopping)):
        extra = f" (and wait for {stopping[kind]} already stopping)" if stopping[kind] else ""
        lines.append(f"  {kind:<28} {cancel[kind]}{extra}")
    lines.extend(_endpoint_lines(plan))
    lines.append("scope:")
    lines.extend(f"  {line}" for line in _scope_lines(policy))
    if policy.clean:
        lines.append("  --clean: the Neptune ML jobs' S3 artifacts are deleted too")
    unread = [r for r in plan.results if r.outcome is Outcome.FAILED]
    lines.extend(f"left alone, could not be read: {r.ref.kind} {r.ref.job_id}: {r.error}" for r in unread[:5])
    lines.extend(f"warning: {text}" for text in plan.warnings[:5])
    lines.extend(f"incomplete: {text}" for text in plan.incomplete)
    lines.extend(f"error: {text}" for text in plan.errors[:5])
    return "\n".join(lines)


def _endpoint_lines(plan: Report) -> list[str]:
    """Each inference endpoint the sweep deletes (or waits for, already being deleted), by id."""
    planned = [r for r in plan.results if r.ref.kind in OPT_IN_KINDS and r.outcome in _PLANNED]
    if not planned:
        return []
    delete = [r for r in planned if r.outcome is Outcome.WOULD_CANCEL]
    lines = [
        f"jobjanitor sweep will DELETE {len(delete)} Neptune ML inference endpoint(s) (SageMaker endpoints: "
        "whoever calls one loses it):"
    ]
    for r in planned[:_SHOWN_ENDPOINTS]:
        created = f", created {r.started_at:%Y-%m-%d %H:%MZ}" if r.started_at else ""
        waiting = " (already being deleted: waited for)" if r.outcome is Outcome.STILL_RUNNING else ""
        lines.append(f"  {r.ref.job_id}  {r.status_before or '?'}{created}{waiting}")
    if len(planned) > _SHOWN_ENDPOINTS:
        lines.append(f"  … and {len(planned) - _SHOWN_ENDPOINTS} more")
    return lines


def _scope_lines(policy: Policy) -> list[str]:
    lines = [f"kinds: {', '.join(sorted(k.value for k in policy.kinds))}"]
    if policy.neptune_endpoint:
        lines.append(f"Neptune endpoint: {policy.neptune_endpoint}")
    every = "* (every id)" if policy.every_id else "(none)"
    lines.append(f"job-id prefix: {policy.job_id_prefix or every}")
    if policy.job_ids:
        lines.append(f"job ids: {', '.join(sorted(policy.job_ids)[:10])}" + (" …" if len(policy.job_ids) > 10 else ""))
    if policy.glue_transform_ids:
        lines.append(f"Glue transforms: {', '.join(policy.glue_transform_ids)}")
    if policy.glue_transform_name_prefix:
        lines.append(f"Glue transforms named: {policy.glue_transform_name_prefix}*")
    if policy.glue_transform_tags:
        lines.append("Glue transforms tagged: " + ", ".join(f"{k}={v}" for k, v in policy.glue_transform_tags.items()))
    if policy.min_age is not None:
        lines.append(f"older than: {policy.min_age}")
    if policy.endpoint_min_age is not None:
        lines.append(f"endpoints older than: {policy.endpoint_min_age}")
    return lines


def ask(answers: TextIO, prompts: TextIO, count: int, endpoints: int = 0) -> bool:
    """Ask on the terminal; only ``y`` or ``yes`` (any case) confirms. End of input is a no."""
    what = [f"cancel these {count} job(s)"] if count else []
    what += [f"delete these {endpoints} inference endpoint(s)"] if endpoints else []
    prompts.write(f"{' and '.join(what).capitalize()}? [y/N] ")
    prompts.flush()
    answer = answers.readline()
    return answer.strip().lower() in {"y", "yes"}


def with_plan(report: Report, plan: Report) -> Report:
    """The confirmed sweep's report with what its plan read: a job the sweep skipped only
    because the plan did not show it to be cancelled keeps the plan's result (its reason:
    finished, gone, prefix... or the plan's failure to read it); a result without a status
    before the cancel gets the plan's. Jobs that appeared after the question were left alone:
    a warning names them."""
    planned = {r.ref: r for r in plan.results}
    results, new = [], []
    for result in report.results:
        before = planned.get(result.ref)
        if result.skip_reason is SkipReason.NOT_LISTED and before is None:
            new.append(result.ref.job_id)
            results.append(result)
        elif result.skip_reason is SkipReason.NOT_LISTED and before is not None and before.outcome not in _PLANNED:
            results.append(before)
        elif before is not None and result.status_before is None and before.status_before is not None:
            results.append(replace(result, status_before=before.status_before))
        else:
            results.append(result)
    merged = report.with_results(results)
    if new:
        ids = ", ".join(sorted(new)[:20]) + (", …" if len(new) > 20 else "")
        merged.warnings = [
            *merged.warnings,
            f"{len(new)} job(s) appeared after the question and were left alone: {ids}",
        ]
    return merged
