"""jobjanitor.cpu: the CPU a process may use (cgroup quota, Lambda's share for its memory), and
the threads a sweep runs on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jobjanitor import cpu, engine
from jobjanitor.deadline import Deadline
from jobjanitor.policy import Policy


def _root(tmp_path: Path, membership: str, files: dict[str, str]) -> Path:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(membership)
    for name, text in files.items():
        path = tmp_path / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_v1_quota_on_the_cgroup_or_an_ancestor(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        "4:memory:/x\n1:cpu,cpuacct:/team/job\n0::/\n",
        {
            "cpu,cpuacct/team/cpu.cfs_quota_us": "50000",
            "cpu,cpuacct/team/cpu.cfs_period_us": "100000",
            "cpu,cpuacct/team/job/cpu.cfs_quota_us": "-1",
            "cpu,cpuacct/team/job/cpu.cfs_period_us": "100000",
        },
    )
    assert cpu.available_cpu({}, root) == 0.5


def test_a_v2_quota(tmp_path: Path) -> None:
    root = _root(tmp_path, "0::/lambda/fn\n", {"lambda/fn/cpu.max": "14500 100000", "lambda/cpu.max": "max 100000"})
    assert cpu.available_cpu({}, root) == 0.145


def test_lambda_memory_gives_the_share_and_the_smallest_limit_counts(tmp_path: Path) -> None:
    root = _root(tmp_path, "0::/\n", {"cpu.max": "max 100000"})
    assert cpu.available_cpu({}, root) is None
    assert cpu.available_cpu({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}, root) == 1.0
    limited = _root(tmp_path / "limited", "0::/\n", {"cpu.max": "10000 100000"})
    assert cpu.available_cpu({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}, limited) == 0.1
    assert cpu.available_cpu({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, root) is None


def test_workers_follow_the_cpu_within_the_concurrency() -> None:
    assert cpu.workers(16, None, measure=False) == 16
    assert cpu.workers(16, 128 / 1769) == cpu.MIN_WORKERS
    assert cpu.workers(16, 0.145) == cpu.MIN_WORKERS
    assert cpu.workers(16, 1024 / 1769) == 10
    assert cpu.workers(16, 1.0) == 16
    assert cpu.workers(64, 2.0) == 32
    assert cpu.workers(4, 0.1) == 4  # never more than asked for


def test_a_sweep_at_128_mb_keeps_at_most_its_workers_in_flight(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda's share for 128 MB: the engine runs MIN_WORKERS threads although the policy asks
    for 16 requests in flight (counted from the test bed's own log of request times)."""
    bed = aws_env
    bed.faults_neptune.set(latency=0.05)
    for i in range(40):
        bed.neptune.seed_ml_job("modeltraining", f"w-{i}", status="InProgress")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    policy = Policy.build(kinds="neptune-ml-training", neptune_endpoint=bed.neptune_url, concurrency=16, wait=False)
    report = engine.sweep(policy, deadline=Deadline.after(60))
    assert sum(1 for r in report.results if r.outcome.value == "cancelled") == 40
    entries = bed.neptune_log.entries()
    edges = sorted([(e.timestamp, 1) for e in entries] + [(e.timestamp + e.duration, -1) for e in entries])
    in_flight = peak = 0
    for _, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= cpu.MIN_WORKERS
    assert peak > 1
