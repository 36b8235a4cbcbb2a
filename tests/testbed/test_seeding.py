"""`jobjanitor-testbed --seed N` seeds what docs/testbed.md says it seeds (issue 23: the
description did not match). The counts below are the doc's formulas, for several N."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.seeding import OLD_AGE_S, TRANSFORM, seed_jobs

REPO = Path(__file__).resolve().parents[2]
ML = ("dataprocessing", "modeltraining", "modeltransform")
OUTSTANDING = {"InProgress", "LOAD_IN_PROGRESS", "LOAD_IN_QUEUE", "RUNNING", "STARTING"}
# The doc's words for the formulas this test checks.
DOC_FORMULAS = ("⌊N/2⌋ (`stack-a-<kind>-old-<i>`) started 6 hours ago", "max(1, ⌊N/4⌋) finished jobs", "N loads")


def glue_runs(transform_name: str) -> list[Any]:
    backend = moto_glue.glue_backends["123456789012"]["us-east-1"]
    (transform,) = [t for t in backend.ml_transforms.values() if t.name == transform_name]
    return list(moto_glue.task_runs_of(transform).values())


def test_the_doc_states_the_formulas_checked_here() -> None:
    row = next(
        line for line in (REPO / "docs" / "testbed.md").read_text().splitlines() if line.startswith("| `--seed N`")
    )
    for formula in DOC_FORMULAS:
        assert formula in row


@pytest.mark.parametrize("n", [1, 3, 8])
def test_seed_n_starts_what_the_doc_says(testbed: Any, n: int) -> None:
    seed_jobs(testbed, n)
    now = time.time()
    old, some = n // 2, max(1, n // 4)
    for kind in ML:
        jobs = testbed.neptune.jobs(kind)
        a_running = [j for j in jobs if j.id.startswith("stack-a-") and j.status in OUTSTANDING]
        assert len(a_running) == n, kind
        assert len([j for j in a_running if now - j.started_at >= OLD_AGE_S - 60]) == old, kind
        assert len([j for j in jobs if j.id.startswith("stack-a-") and j.status == "Completed"]) == some
        assert len([j for j in jobs if j.id.startswith("stack-b-") and j.status in OUTSTANDING]) == some
    loads = testbed.neptune.jobs("loader")
    assert len([j for j in loads if j.status in OUTSTANDING]) == n
    assert len([j for j in loads if j.status == "LOAD_IN_PROGRESS"]) == 1
    assert len([j for j in loads if j.status == "LOAD_COMPLETED"]) == some
    runs = glue_runs(TRANSFORM)
    running = [r for r in runs if r.status() in OUTSTANDING]
    assert len(running) == n
    assert len([r for r in running if now - r.started_on >= OLD_AGE_S - 60]) == old
    assert len([r for r in runs if r.status() == "SUCCEEDED"]) == some
    assert len([r for r in glue_runs(f"{TRANSFORM}-other") if r.status() in OUTSTANDING]) == some
