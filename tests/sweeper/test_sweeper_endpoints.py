"""The sweeper and Neptune ML inference endpoints (kind neptune-ml-endpoint), through its
handler: a schedule deletes only endpoints older than JOBJANITOR_ENDPOINT_MAX_AGE (their own age
limit, dated by the SageMaker endpoint's CreationTime), and only when JOBJANITOR_KINDS names the
kind; a deleted stack's endpoints go only when both the install and the stack's tags name it."""

from __future__ import annotations

import time
from typing import Any

import jobjanitor.handlers.sweeper as handler
import pytest
from jobjanitor.errors import ConfigError
from test_sweeper import _stack, _stack_event, event, invoke

DAY = 86400.0


def _aged_endpoints(bed: Any, prefix: str = "jj-") -> dict[str, str]:
    """Endpoints of three ages: 8 days (past the endpoints' 7d), 2 days (past the jobs' 1h, not
    the endpoints' limit) and just created."""
    now = time.time()
    return {
        "old": bed.neptune.seed_ml_endpoint(f"{prefix}old-endpoint", status="InService", created_at=now - 8 * DAY),
        "days": bed.neptune.seed_ml_endpoint(f"{prefix}days-endpoint", status="InService", created_at=now - 2 * DAY),
        "new": bed.neptune.seed_ml_endpoint(f"{prefix}new-endpoint", status="InService"),
    }


def _configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler, "_sweeper", None)


@pytest.mark.parametrize("name", ["sweeper-scheduler.json", "sweeper-rule.json"])
def test_a_schedule_deletes_endpoints_older_than_their_own_age_limit(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    bed = sweeper_env
    _configure(monkeypatch, JOBJANITOR_KINDS="all,neptune-ml-endpoint", JOBJANITOR_ENDPOINT_MAX_AGE="7d")
    endpoints = _aged_endpoints(bed)
    old_job = bed.neptune.seed_ml_job("modeltraining", "jj-old-job", status="InProgress", started_at=time.time() - DAY)
    result = invoke(event(name))
    assert result["status"] == "swept", result
    assert result["ok"] is True, result
    assert bed.neptune.ml_endpoint(endpoints["old"]).status == "Deleted"
    assert bed.neptune.ml_endpoint(endpoints["old"]).clean is True  # JOBJANITOR_CLEAN reaches the delete
    assert bed.neptune.ml_endpoint(endpoints["days"]).status == "InService"  # older than MAX_AGE, not 7d
    assert bed.neptune.ml_endpoint(endpoints["new"]).status == "InService"
    assert bed.neptune.job("modeltraining", old_job).status in ("Stopping", "Stopped")  # the jobs' 1h still applies
    assert result["byKind"]["neptune-ml-endpoint"] == {"cancelled": 1, "skipped": 2}
    assert bed.neptune_log.count(operation="DeleteMLEndpoint") == 1


def test_a_schedule_never_deletes_an_endpoint_when_the_kind_was_not_chosen(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env  # JOBJANITOR_KINDS=all, JOBJANITOR_JOB_ID_PREFIX=*
    _configure(monkeypatch, JOBJANITOR_ENDPOINT_MAX_AGE="1h")
    endpoints = _aged_endpoints(bed)
    result = invoke(event("sweeper-scheduler.json"))
    assert result["status"] == "swept", result
    assert {bed.neptune.ml_endpoint(i).status for i in endpoints.values()} == {"InService"}
    assert bed.neptune_log.count(operation="DeleteMLEndpoint") == 0
    assert bed.neptune_log.count(operation="ListMLEndpoints") == 0
    assert "neptune-ml-endpoint" not in result["byKind"]


def test_the_kind_needs_its_own_age_limit(sweeper_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bed = sweeper_env
    endpoints = _aged_endpoints(bed)
    for age, message in (("", "required with neptune-ml-endpoint"), ("30m", "at least 1h")):
        _configure(monkeypatch, JOBJANITOR_KINDS="neptune-ml-endpoint", JOBJANITOR_ENDPOINT_MAX_AGE=age)
        with pytest.raises(ConfigError, match=message) as caught:
            invoke(event("sweeper-scheduler.json"))
        assert caught.value.field == "JOBJANITOR_ENDPOINT_MAX_AGE"
    assert {bed.neptune.ml_endpoint(i).status for i in endpoints.values()} == {"InService"}
    assert bed.neptune_log.count() == 0


def test_a_deleted_stack_takes_its_endpoints_only_when_its_tags_name_the_kind(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack path has no age limit (the stack is going): even a new endpoint goes, under the
    stack's prefix, when the install and the stack's kinds tag both name the kind."""
    bed = sweeper_env
    _configure(
        monkeypatch,
        JOBJANITOR_KINDS="neptune-ml-training,neptune-ml-endpoint",
        JOBJANITOR_ENDPOINT_MAX_AGE="7d",
        JOBJANITOR_JOB_ID_PREFIX="exp",
    )
    mine = _aged_endpoints(bed, prefix="exp-a-")
    theirs = _aged_endpoints(bed, prefix="exp-b-")
    job = bed.neptune.seed_ml_job("modeltraining", "exp-a-job", status="InProgress")

    only_prefix = invoke(_stack_event(_stack({"jobjanitor:job-id-prefix": "exp-a-"}), "stack-endpoints-1"))
    assert only_prefix["status"] == "swept", only_prefix
    assert bed.neptune.job("modeltraining", job).status in ("Stopping", "Stopped")
    assert {bed.neptune.ml_endpoint(i).status for i in mine.values()} == {"InService"}  # not named: kept

    tags = {"jobjanitor:job-id-prefix": "exp-a-", "jobjanitor:kinds": "neptune-ml-endpoint"}
    named = invoke(_stack_event(_stack(tags), "stack-endpoints-2"))
    assert named["status"] == "swept", named
    assert {bed.neptune.ml_endpoint(i).status for i in mine.values()} == {"Deleted"}
    assert {bed.neptune.ml_endpoint(i).status for i in theirs.values()} == {"InService"}
