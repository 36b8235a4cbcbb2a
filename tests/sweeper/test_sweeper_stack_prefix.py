"""A stack's tags claim Neptune ML jobs only under a prefix the install configures (issue 20,
point 12), driven through the sweeper's handler with CloudFormation's stack-status event.

With the template's default ``JOBJANITOR_JOB_ID_PREFIX=*`` there is no configured prefix for a
tag to extend: on the code before this change, anyone who could create a stack could tag it
``jobjanitor:job-id-prefix=<another team's prefix>``, delete it, and have every running ML job
of that team cancelled, whatever its age (the stack path has no age limit).
"""

from __future__ import annotations

from typing import Any

import boto3
import jobjanitor.handlers.sweeper as handler
import pytest
from jobjanitor.errors import ConfigError
from jobjanitor_testbed import scenario as sc
from test_sweeper import _stack, _stack_event, cancel_requests, invoke


def _teams(bed: Any) -> dict[str, dict[str, list[str]]]:
    """Young, running Neptune ML jobs of two teams (no max age would ever reach them)."""
    teams: dict[str, dict[str, list[str]]] = {}
    for team in ("team-a", "team-b"):
        seed = bed.neptune.seed_ml_job
        teams[team] = {kind: [seed(api, f"{team}-{api}", status="InProgress")] for kind, api in sc.ML_KINDS.items()}
    return teams


def _statuses(bed: Any, jobs: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """Through boto3 against the test bed, as a user would look."""
    neptune = boto3.client("neptunedata", endpoint_url=bed.neptune_url)
    return sc.statuses(neptune, boto3.client("glue"), jobs, "")


@pytest.mark.parametrize(
    "tags",
    [
        {"jobjanitor:job-id-prefix": "team-b-"},
        {"jobjanitor:job-id-prefix": "team-b-", "jobjanitor:kinds": "neptune-ml-training"},
        {"jobjanitor:job-id-prefix": "team-", "jobjanitor:neptune-endpoint": "<testbed>"},
    ],
    ids=["prefix", "prefix-and-kinds", "prefix-and-endpoint"],
)
def test_with_every_id_configured_a_stack_tag_claims_no_neptune_ml_job(sweeper_env: Any, tags: dict[str, str]) -> None:
    bed = sweeper_env  # JOBJANITOR_JOB_ID_PREFIX=*, the template's default
    jobs = _teams(bed)
    tags = {k: bed.neptune_url if v == "<testbed>" else v for k, v in tags.items()}
    with pytest.raises(ConfigError) as caught:
        invoke(_stack_event(_stack(tags), f"claim-{len(tags)}-{sorted(tags)[-1]}"))
    assert caught.value.field == "tag jobjanitor:job-id-prefix"
    assert "JOBJANITOR_JOB_ID_PREFIX is *" in caught.value.message
    for team in jobs.values():
        assert sc.in_states(_statuses(bed, team), sc.RUNNING) == []
    assert cancel_requests(bed) == 0


def test_a_configured_prefix_lets_a_stack_claim_the_jobs_under_its_own_prefix(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "team-")
    monkeypatch.setattr(handler, "_sweeper", None)
    jobs = _teams(bed)
    result = invoke(_stack_event(_stack({"jobjanitor:job-id-prefix": "team-a-"}), "claim-own"))
    assert result["status"] == "swept", result
    assert sc.in_states(_statuses(bed, jobs["team-a"]), sc.STOPPING_OR_STOPPED) == []
    assert sc.in_states(_statuses(bed, jobs["team-b"]), sc.RUNNING) == []


def test_glue_tags_still_work_with_every_id_configured(sweeper_env: Any) -> None:
    """The refusal is about Neptune ML prefixes: transforms are listed by the install itself."""
    from jobjanitor_testbed import moto_glue

    bed = sweeper_env
    jobs = _teams(bed)
    run = moto_glue.seed_task_run(bed.sweep_transform, status="RUNNING")
    result = invoke(_stack_event(_stack({"jobjanitor:glue-transforms": bed.sweep_transform}), "claim-glue"))
    assert result["status"] == "swept", result
    glue = boto3.client("glue")
    assert glue.get_ml_task_run(TransformId=bed.sweep_transform, TaskRunId=run)["Status"] in ("STOPPING", "STOPPED")
    for team in jobs.values():
        assert sc.in_states(_statuses(bed, team), sc.RUNNING) == []
