"""Scope safety of the sweeper, driven through its Lambda handler: what it may never cancel.

Each test here failed on the code before the scope-safety work (issue 10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jobjanitor.handlers.sweeper as handler
import pytest
from jobjanitor.errors import ConfigError
from jobjanitor_testbed import scenario as sc
from test_sweeper import (
    STOPPED_OR_STOPPING,
    _stack,
    _stack_event,
    cancel_requests,
    event,
    invoke,
    invoke_logged,
    states,
)


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next invocation is a cold start: the configuration is read again."""
    monkeypatch.setattr(handler, "_sweeper", None)


# -- 2. blank never means "everything" ----------------------------------------------------
@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_job_id_prefix_variable_is_an_error_not_every_id(
    sweeper_env: Any, seed_aged: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    bed = sweeper_env
    aged = seed_aged()
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", value)
    _fresh(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        invoke(event("sweeper-rule.json"))
    assert caught.value.field == "JOBJANITOR_JOB_ID_PREFIX"
    assert cancel_requests(bed) == 0
    assert sc.in_states(states(bed, aged.old, aged.transform_id), sc.RUNNING) == []


def test_every_id_is_said_explicitly_and_a_real_prefix_narrows(
    sweeper_env: Any, seed_aged: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env
    aged = seed_aged(prefix="team-a-")
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "team-b-")
    monkeypatch.setenv("JOBJANITOR_KINDS", "neptune-ml-dataprocessing,neptune-ml-training,neptune-ml-transform")
    _fresh(monkeypatch)
    result = invoke(event("sweeper-rule.json"))
    assert result["ok"] is True
    ml = {k: v for k, v in aged.old.items() if k.startswith("neptune-ml")}
    assert sc.in_states(states(bed, ml, aged.transform_id), sc.RUNNING) == []
    assert cancel_requests(bed) == 0


@pytest.mark.parametrize(
    ("narrow", "field"),
    [
        ({"kinds": ""}, "narrow.kinds"),
        ({"kinds": ","}, "narrow.kinds"),
        ({"kinds": []}, "narrow.kinds"),
        ({"jobIdPrefix": " "}, "narrow.jobIdPrefix"),
        ({"glueTransformIds": ""}, "narrow.glueTransformIds"),
        ({"glueTransformIds": []}, "narrow.glueTransformIds"),
    ],
)
def test_a_blank_schedule_input_is_an_error_not_the_whole_configuration(
    sweeper_env: Any, seed_aged: Callable[..., Any], narrow: dict[str, Any], field: str
) -> None:
    bed = sweeper_env
    seed_aged()
    with pytest.raises(ConfigError) as caught:
        invoke(event("sweeper-scheduler.json", executionId=f"exec-blank-{field}", narrow=narrow))
    assert caught.value.field == field
    assert cancel_requests(bed) == 0


# -- 6. an endpoint is an https Neptune endpoint ------------------------------------------
@pytest.mark.parametrize("endpoint", ["http://169.254.169.254", "http://10.0.0.5:80", "https://example.com"])
def test_an_endpoint_variable_that_is_not_https_neptune_is_refused(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_ENDPOINT", endpoint)
    _fresh(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        invoke(event("sweeper-rule.json"))
    assert caught.value.field == "JOBJANITOR_NEPTUNE_ENDPOINT"


def test_the_sweeper_sends_nothing_to_a_host_that_is_not_neptune(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch, hostile: Any
) -> None:
    monkeypatch.setenv("JOBJANITOR_NEPTUNE_ENDPOINT", hostile.url)
    _fresh(monkeypatch)
    with pytest.raises(ConfigError):
        invoke(event("sweeper-rule.json"))
    assert hostile.requests == []


# -- 4. a stack's tags only narrow, and never reach loads ---------------------------------
def _team_jobs(bed: Any) -> dict[str, list[str]]:
    """Outstanding jobs of two teams on the sweeper's cluster, loads and a Glue run."""
    from jobjanitor_testbed import moto_glue

    jobs: dict[str, list[str]] = {}
    for kind, api_kind in sc.ML_KINDS.items():
        jobs[kind] = [
            bed.neptune.seed_ml_job(api_kind, f"team-a-{api_kind}", status="InProgress"),
            bed.neptune.seed_ml_job(api_kind, f"team-b-{api_kind}", status="InProgress"),
        ]
    jobs["neptune-loader"] = [bed.neptune.seed_load(status="LOAD_IN_PROGRESS") for _ in range(2)]
    jobs["glue-ml-task-run"] = [moto_glue.seed_task_run(bed.sweep_transform, status="RUNNING")]
    return jobs


def _running(bed: Any, jobs: dict[str, list[str]]) -> list[str]:
    """The jobs of ``jobs`` that are no longer running (should be [])."""
    return sc.in_states(states(bed, jobs, bed.sweep_transform), sc.RUNNING)


def test_glue_and_endpoint_tags_without_a_prefix_sweep_only_the_named_transforms(sweeper_env: Any) -> None:
    bed = sweeper_env
    jobs = _team_jobs(bed)
    stack = _stack({"jobjanitor:glue-transforms": bed.sweep_transform, "jobjanitor:neptune-endpoint": bed.neptune_url})
    result = invoke(_stack_event(stack, "tags-a"))
    assert result["status"] == "swept", result
    assert set(result["byKind"]) == {"glue-ml-task-run"}
    glue = {"glue-ml-task-run": jobs.pop("glue-ml-task-run")}
    assert sc.in_states(states(bed, glue, bed.sweep_transform), STOPPED_OR_STOPPING) == []
    assert _running(bed, jobs) == [], "a stack's tags reached Neptune jobs or loads"
    assert bed.neptune_log.count(method="DELETE") == 0


@pytest.mark.parametrize("kinds", ["neptune-loader", "neptune-loader neptune-ml-training"])
def test_a_kinds_tag_never_reaches_loads(sweeper_env: Any, kinds: str) -> None:
    bed = sweeper_env
    jobs = _team_jobs(bed)
    stack = _stack({"jobjanitor:job-id-prefix": "team-a-", "jobjanitor:kinds": kinds})
    with pytest.raises(ConfigError) as caught:
        invoke(_stack_event(stack, f"tags-b-{len(kinds)}"))
    assert caught.value.field == "tag jobjanitor:kinds"
    assert "neptune-loader" in caught.value.message
    assert _running(bed, jobs) == []
    assert cancel_requests(bed) == 0


def test_a_declared_prefix_must_extend_the_configured_one(sweeper_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bed = sweeper_env
    jobs = _team_jobs(bed)
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "team-a-")
    _fresh(monkeypatch)
    stack = _stack({"jobjanitor:job-id-prefix": "team-b-"})
    with pytest.raises(ConfigError) as caught:
        invoke(_stack_event(stack, "tags-c"))
    assert caught.value.field == "tag jobjanitor:job-id-prefix"
    assert _running(bed, jobs) == []
    assert cancel_requests(bed) == 0


def test_a_stack_with_only_a_prefix_gets_the_configured_ml_kinds(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = sweeper_env
    jobs = _team_jobs(bed)
    monkeypatch.setenv("JOBJANITOR_KINDS", "neptune-ml-training,neptune-loader")
    monkeypatch.setenv("JOBJANITOR_JOB_ID_PREFIX", "team-")  # stacks claim only under a configured prefix
    _fresh(monkeypatch)
    stack = _stack({"jobjanitor:job-id-prefix": "team-a-"})
    result = invoke(_stack_event(stack, "tags-d"))
    assert result["status"] == "swept", result
    assert set(result["byKind"]) == {"neptune-ml-training"}
    assert bed.neptune.job("modeltraining", "team-a-modeltraining").status in ("Stopping", "Stopped")
    jobs["neptune-ml-training"] = ["team-b-modeltraining"]
    assert _running(bed, jobs) == []


@pytest.mark.parametrize("tag", ["job-id-prefix", "glue-transforms", "kinds", "neptune-endpoint"])
def test_a_blank_tag_is_an_error(sweeper_env: Any, tag: str) -> None:
    bed = sweeper_env
    jobs = _team_jobs(bed)
    tags = {"jobjanitor:job-id-prefix": "team-a-", f"jobjanitor:{tag}": " "}
    with pytest.raises(ConfigError) as caught:
        invoke(_stack_event(_stack(tags), f"tags-e-{tag}"))
    assert caught.value.field == f"tag jobjanitor:{tag}"
    assert _running(bed, jobs) == []
    assert cancel_requests(bed) == 0


# -- 5. discovery that could not see everything is a failure ------------------------------
def test_a_capped_listing_makes_the_sweep_not_ok_with_a_metric(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    bed = sweeper_env
    monkeypatch.setenv("JOBJANITOR_KINDS", "neptune-ml-training")
    _fresh(monkeypatch)
    for i in range(1030):
        bed.neptune.seed_ml_job("modeltraining", f"other-{i}", status="Completed")
    result, lines = invoke_logged(event("sweeper-rule.json"), capfd)
    assert result["ok"] is False
    assert any("neptune-ml-training" in text and "1024" in text for text in result["incomplete"]), result
    emf = [line for line in lines if "DiscoveryIncomplete" in line]
    assert emf, "no DiscoveryIncomplete metric"
    assert emf[0]["DiscoveryIncomplete"] == [1.0]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
