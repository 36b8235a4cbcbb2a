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
    assert figures["ratio"] == pytest.approx(figures["testbed_cpu_s"] / figures["client_cpu_s"], abs=0.01)
    row = testbed_cost.target_row(figures)
    assert row.startswith("| the test bed's CPU per request")
    assert row.endswith(("| met |", "| **missed** |"))
