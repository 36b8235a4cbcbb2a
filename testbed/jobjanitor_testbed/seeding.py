"""Jobs of every kind for a newcomer's test bed: ``jobjanitor-testbed --seed N``.

:func:`seed_jobs` starts ``n`` jobs of every kind in stack A's scope through the real Start APIs
(Neptune ML ids ``stack-a-...``, loads, Glue runs on transform ``jj-dedupe``), about a quarter
as many in stack B's scope (ids ``stack-b-...``, runs on ``jj-dedupe-other``), some finished,
and some that have been running for hours (seeded directly with an old start: SageMaker dates
them, the loader reports their ``startTime``, Glue their ``StartedOn``), so the README's
``jobjanitor list`` and ``--older-than`` examples show something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import moto_glue, scenario
from .server import TestBed

OLD_AGE_S = 6 * 3600
TRANSFORM = "jj-dedupe"  # stack A's Glue ML transform's name (stack B's: jj-dedupe-other)


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_jobs` made, as counts and the ids a user would type."""

    in_scope: int
    out_of_scope: int
    finished: int
    old: int
    transform_id: str
    other_transform_id: str

    def summary(self) -> str:
        return (
            f"seeded {self.in_scope} running jobs in stack A's scope (ids stack-a-*, Glue transform "
            f"{TRANSFORM} = {self.transform_id}), {self.old} of them started {OLD_AGE_S // 3600} h ago; "
            f"{self.out_of_scope} in stack B's (stack-b-*, transform {TRANSFORM}-other = {self.other_transform_id}); "
            f"{self.finished} finished"
        )


def seed_jobs(bed: TestBed, n: int) -> Seeded:
    """``n`` running jobs of every kind in stack A's scope, plus others (see the module)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    from .pytest_plugin import make_client  # noqa: PLC0415 - boto3 clients as a user makes them

    neptune: Any = make_client("neptunedata", bed.neptune_url)
    glue: Any = make_client("glue", bed.aws_url)
    old_each = n // 2
    started = scenario.start_jobs(
        neptune,
        glue,
        per_kind=n - old_each,
        out_of_scope_per_kind=max(1, n // 4),
        loads=1,  # Neptune runs one load at a time; the others queue behind it
        testbed=bed,
        finished_per_kind=max(1, n // 4),
        transform_name=TRANSFORM,
    )
    old_start = bed.lifecycle.now() - OLD_AGE_S
    old = 0
    for kind, api_kind in scenario.ML_KINDS.items():
        for i in range(old_each):
            bed.neptune.seed_ml_job(api_kind, f"stack-a-{kind}-old-{i}", started_at=old_start, status="InProgress")
            old += 1
    for _ in range(old_each):
        moto_glue.seed_task_run(started.transform_id, started_on=old_start, status="RUNNING")
        old += 1
    queued = [scenario.start_load(neptune) for _ in range(max(0, n - 1))]
    return Seeded(
        in_scope=started.count() + old + len(queued),
        out_of_scope=started.count("out_of_scope"),
        finished=started.count("finished"),
        old=old,
        transform_id=started.transform_id,
        other_transform_id=started.other_transform_id,
    )
