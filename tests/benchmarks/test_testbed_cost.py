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


def test_a_missed_test_bed_target_says_why_under_the_table() -> None:
    figures = {"ratio": 0.55, "met": False, "client_ms_per_request": 0.69, "testbed_ms_per_request": 0.38}
    note = "\n".join(testbed_cost.missed_note(figures))
    assert "0.55 of the client's, target a third" in note
    assert "0.69 ms" in note
    assert "0.38 ms" in note
    assert testbed_cost.missed_note({**figures, "met": True}) == []
    assert testbed_cost.missed_note(None) == []
