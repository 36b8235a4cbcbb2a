"""The sweeper when a listing comes back holding its cap of ids: ``ok: false``, the kind and
the cap named, and the DiscoveryIncomplete total (service dimension only) the alarm reads."""

from __future__ import annotations

from typing import Any

import pytest
from test_sweeper import event, invoke_logged

CAPPED = "neptune-loader: ListLoaderJobs returned its cap of 100 ids; older loads cannot be seen"


def test_loads_past_the_cap_make_the_run_not_ok_with_a_metric(
    sweeper_env: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    bed = sweeper_env
    monkeypatch.setenv("JOBJANITOR_KINDS", "neptune-loader")
    old = bed.lifecycle.now() - 7200
    loads = [bed.neptune.seed_load(status="LOAD_IN_PROGRESS", started_at=old + i) for i in range(105)]
    result, lines = invoke_logged(event("sweeper-rule.json"), capfd)
    assert result["ok"] is False, result
    assert result["incomplete"] == [CAPPED]
    assert result["summary"]["DiscoveryIncomplete"] == "1"
    assert int(result["summary"]["Cancelled"]) == 100
    # The five oldest loads were past the cap: never seen, still running.
    assert [bed.neptune.job("loader", load).status for load in loads[:5]] == ["LOAD_IN_PROGRESS"] * 5
    totals = [line for line in lines if "DiscoveryIncomplete" in line]
    assert [line["DiscoveryIncomplete"] for line in totals] == [[1.0]]
    assert totals[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
