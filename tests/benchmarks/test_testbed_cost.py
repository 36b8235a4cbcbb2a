"""benchmarks.testbed_cost on a tiny size: it measures both sides and renders its target row.

Not a timed test: the ratio is not compared with the target here (that is `make bench`'s job)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import testbed_cost


def test_testbed_cost_measures_both_sides(aws_env: Any) -> None:
    figures = testbed_cost.measure(aws_env, 40)
    assert figures["jobs"] == 40
    assert figures["requests"] == sum(figures["requests_by_operation"].values())
    assert sum(v for k, v in figures["requests_by_operation"].items() if k.startswith("Cancel")) == 40
    assert figures["testbed_cpu_s"] > 0
    assert figures["client_cpu_s"] > 0
    # The per-request figures keep three decimals of a millisecond; the CPU seconds of a 40-job
    # run are a few hundredths, too coarse to recompute the ratio from (0.13 against 0.119).
    expected = figures["testbed_ms_per_request"] / figures["client_ms_per_request"]
    assert figures["ratio"] == pytest.approx(expected, rel=0.03, abs=0.002)
    row = testbed_cost.target_row(figures)
    assert row.startswith("| the test bed's CPU per request")
    assert row.endswith(("| met |", "| **missed** |"))
