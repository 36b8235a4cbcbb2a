"""The CLI, as a process, when a listing comes back holding its cap of ids: exit 1, the kind
and the cap named in the table and in --json (which says ``"ok": false``)."""

from __future__ import annotations

import json

from clirun import run_cli
from jobjanitor_testbed.server import TestBed

CAPPED = "neptune-ml-training: ListMLModelTrainingJobs returned its cap of 1024 ids; older jobs cannot be seen"


def test_630_jobs_past_the_cap_exit_1_naming_kind_and_cap(aws_env: TestBed) -> None:
    bed = aws_env
    ids = [bed.neptune.seed_ml_job("modeltraining", f"jj-{i:04}", status="InProgress") for i in range(1654)]
    listed = run_cli("list", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training", "-q")
    assert listed.returncode == 1, listed.stderr
    assert f"incomplete: {CAPPED}" in listed.stdout
    swept = run_cli("sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training",
                    "--id-prefix", "jj-", "--no-wait", "--yes", "--json", "-q")  # fmt: skip
    assert swept.returncode == 1, swept.stderr
    data = json.loads(swept.stdout)
    assert data["ok"] is False
    assert data["incomplete"] == [CAPPED]
    assert data["counts"]["cancelled"] == 1024
    # The 630 oldest were never seen, so never cancelled: the exit code says so.
    assert {bed.neptune.job("modeltraining", job_id).status for job_id in ids[:630]} == {"InProgress"}
