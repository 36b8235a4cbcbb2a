"""The test bed's own CPU per request against the client's, at 20,000 jobs.

A whole engine sweep of ``total`` seeded jobs runs in a child process (``benchmarks.child``,
as the other sweeps do) while the test bed serves it from this process. The test bed's CPU is
this process's CPU time over the sweep (every thread: the Neptune emulator, moto's server);
the client's is the child's own (``os.times`` in the child). Both are divided by the requests
the test bed logged. The target: the test bed costs at most a third of the client per request,
so a benchmark measures the tool, not its stand-in.

    python -m benchmarks.testbed_cost [TOTAL]     # prints the figures as JSON
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from benchmarks import throughput

TARGET_RATIO = 1 / 3
JOBS = 20_000


def measure(bed: Any, total: int = JOBS) -> dict[str, Any]:
    workload = throughput._prepare(bed, total)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run = throughput._child("engine", bed, workload, throughput.CONCURRENCY)
    testbed_cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    requests = Counter(e.operation for e in bed.neptune_log.entries() + bed.aws_log.entries())
    count = sum(requests.values())
    client_cpu = float(run["cpu_s"])
    return {
        "jobs": workload.total,
        "requests": count,
        "wall_s": round(wall, 2),
        "testbed_cpu_s": round(testbed_cpu, 3),
        "client_cpu_s": round(client_cpu, 3),
        "testbed_ms_per_request": round(1000 * testbed_cpu / count, 3),
        "client_ms_per_request": round(1000 * client_cpu / count, 3),
        "ratio": round(testbed_cpu / client_cpu, 3),
        "target_ratio": round(TARGET_RATIO, 3),
        "met": testbed_cpu <= TARGET_RATIO * client_cpu,
        "requests_by_operation": dict(sorted(requests.items())),
    }


def target_row(c: dict[str, Any]) -> str:
    """The row ``benchmarks.run`` adds to the targets table."""
    met = "met" if c["met"] else "**missed**"
    return (
        f"| the test bed's CPU per request at most a third of the client's, {c['jobs']:,} jobs (whole sweep) "
        f"| {c['ratio']:.2f} ({c['testbed_ms_per_request']:.2f} ms against {c['client_ms_per_request']:.2f} ms, "
        f"{c['requests']:,} requests) | {met} |"
    )


def missed_note(c: dict[str, Any] | None) -> list[str]:
    """Under the targets table, when the test bed's row is missed: why (else nothing)."""
    if c is None or c["met"]:
        return []
    return [
        f"**The test bed's CPU per request: {c['ratio']:.2f} of the client's, target a third.** The client's fell when",
        "Glue's task-run calls (about 10,000 of a 20,000-job sweep) joined the Neptune data API's on the lean",
        f"request path ({c['client_ms_per_request']:.2f} ms a request now); the test bed's is about what it was",
        f"({c['testbed_ms_per_request']:.2f} ms, Glue's signatures now verified too). What remains of it is mostly one",
        "thread per connection and the GIL hand-offs of 16 concurrent requests: [testbed.md](testbed.md#cost).",
        "",
    ]


def main(argv: list[str]) -> None:
    from jobjanitor_testbed.server import TestBed  # noqa: PLC0415

    from benchmarks.common import aws_environment  # noqa: PLC0415

    total = int(argv[0]) if argv else JOBS
    with TestBed() as bed:
        aws_environment(bed)
        print(json.dumps(measure(bed, total)))


if __name__ == "__main__":
    main(sys.argv[1:])
