"""The benchmarks' pieces on tiny sizes: they run, count what they claim, and render.

Not a timed test: no figure here is compared with a target (that is `make bench`'s job)."""

from __future__ import annotations

from typing import Any

from artifact import built
from benchmarks import coldstart, run, teardown, throughput


def test_benchmark_pieces_measure_and_render(aws_env: Any) -> None:
    bed = aws_env
    engine = throughput.sweep(bed, 40)
    assert engine["jobs"] == 40
    assert engine["stopped_in_testbed"] == 40
    assert engine["lie_count"] == 0
    assert engine["outcomes"] == {"cancelled": 40}
    assert sum(engine["seen_by_kind"].values()) == 40
    # Every cancelled job cost one cancel request.
    cancels = sum(v for k, v in engine["requests_by_operation"].items() if k.startswith("Cancel"))
    assert cancels == 40
    assert 0 < engine["vmhwm_before_mb"] <= engine["vmhwm_mb"]
    assert engine["floor_requests"] == engine["list_calls"] + 80
    assert engine["floor"] >= throughput.STOP_DELAY
    peer = throughput.sweep(bed, 40, "peer")
    assert peer["cancelled"] == 40
    assert peer["stopped_in_testbed"] == 40
    faulty = throughput.sweep(bed, 20, faults={"throttle_rate": 0.2})
    assert faulty["stopped_in_testbed"] == 20
    assert faulty["injected_faults"]["throttle"] > 0
    sequential = throughput.sequential_loop(bed, 10)
    assert sequential["cancelled"] == 10
    latency = teardown.measure(bed, 1)
    assert latency["after_last_stop_s"] >= 0
    cold: dict[str, Any] = {"built": built.is_built()}  # `make test` builds before pytest
    if cold["built"]:
        cold["imports"] = coldstart.import_times(1)
        cold["package"] = coldstart.package_size()
        assert cold["imports"]["import boto3"] > 0
        assert cold["package"][built.LAYER]["zipped_mb"] > 0
    figures = {
        "machine": {"date": "-", "cpu": "-", "cores": "2", "memory": "-", "python": "3.13", "boto3": "-", "os": "-"},
        "coldstart": cold,
        "comparison": [{"concurrency": throughput.CONCURRENCY, "engine": engine, "peer": peer}],
        "sequential": sequential,
        "faults": faulty,
        "scaling": [engine],
        "teardown": latency,
        "fuzz": {"examples": 0, "checked": 0, "passed": True, "seconds": 0.0, "summary": "-"},
    }
    text = run.render(figures)
    assert "## Targets" in text
    assert text.count("| met |") + text.count("| **missed** |") >= 5


def test_floor_is_physics() -> None:
    """One list round, then every cancel and read at the concurrency, or the last delayed
    cancel plus the stop delay plus one read, whichever is longer."""
    latency, delay = throughput.LATENCY, throughput.STOP_DELAY
    # 32 ML jobs at 16: 64 requests = 4 rounds; the last ML cancel ends at round 2, + delay + 1.
    assert throughput.floor({"neptune-ml-training": 32}, 16, 4) == latency + max(
        4 * latency, 2 * latency + delay + latency
    )
    # Loads stop at once: only the request count binds.
    assert throughput.floor({"neptune-loader": 16}, 16, 4) == latency + 2 * latency
