"""The benchmarks' pieces on tiny sizes: they run, count what they claim, and render.

Not a timed test: no figure here is compared with a target (that is `make bench`'s job)."""

from __future__ import annotations

from typing import Any

from benchmarks import coldstart, run, teardown, throughput


def test_benchmark_pieces_measure_and_render(aws_env: Any, monkeypatch: Any) -> None:
    bed = aws_env
    sweep = throughput.engine_sweep(bed, 40)
    assert sweep["jobs"] == 40
    assert sweep["stopped_in_testbed"] == 40
    assert sweep["lie_count"] == 0
    assert sweep["outcomes"] == {"cancelled": 40}
    # Every cancelled job cost one cancel request; Glue runs no describe.
    cancels = sum(v for k, v in sweep["cancel_requests_by_operation"].items() if k.startswith("Cancel"))
    assert cancels == 40
    assert sweep["cancel_requests_by_operation"].get("GetMLTaskRun", 0) == 0
    assert 0 < sweep["lower_bound_cancel"] < sweep["lower_bound_total"]
    faulty = throughput.engine_sweep(bed, 20, faults={"throttle_rate": 0.2})
    assert faulty["stopped_in_testbed"] == 20
    assert faulty["injected_faults"]["throttle"] > 0
    sequential = throughput.sequential_loop(bed, 10)
    assert sequential["cancelled"] == 10
    memory = throughput.memory(bed, 20)
    assert memory["tracemalloc_peak_mb"] > 0
    latency = teardown.measure(bed, 1)
    assert latency["after_last_stop_s"] >= 0
    imports = coldstart.import_times(1)
    assert imports["import boto3"] > 0
    figures = {
        "machine": {"date": "-", "cpu": "-", "cores": "2", "memory": "-", "python": "3.13", "boto3": "-", "os": "-"},
        "imports": imports,
        "sweep": sweep,
        "sequential": {**sequential, "scale": 4.0},
        "memory": memory,
        "faults": faulty,
        "teardown": latency,
        "fuzz": {"examples": 0, "checked": 0, "passed": True, "seconds": 0.0, "summary": "-"},
        "package": {},
    }
    text = run.render(figures)
    assert "## Targets" in text
    assert text.count("| met |") + text.count("| **missed** |") >= 4
