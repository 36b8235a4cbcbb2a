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
from test_sweeper import cancel_requests, event, invoke, states


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
