"""The CPU this process may use, and the threads a sweep runs on it.

Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB
(``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``); a container or a cgroup may cap it with a CPU quota (cgroup
v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``). A sweep keeps
``concurrency`` requests in flight, one thread each; on a fraction of a CPU the threads past what
the CPU can feed only wait for the GIL. :func:`workers` keeps :data:`WORKERS_PER_CPU` per CPU,
never fewer than :data:`MIN_WORKERS`: at 0.145 of a CPU (256 MB) a 1,000-job sweep took the same
time with 8 threads as with 16, and twice as long with 4, which could not keep enough requests in
flight to cover the network's latency (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["available_cpu", "workers"]

FULL_CPU_MB = 1769
WORKERS_PER_CPU = 16
MIN_WORKERS = 8


def available_cpu(environ: Mapping[str, str] = os.environ, root: Path = Path("/")) -> float | None:
    """CPUs this process may use: the smallest of its cgroup's CPU quota and Lambda's share for
    its memory; None when neither limits it."""
    limits = [quota for quota in (_cgroup_quota(root),) if quota is not None]
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit() and int(memory) > 0:
        limits.append(int(memory) / FULL_CPU_MB)
    return min(limits) if limits else None


def workers(concurrency: int, cpu: float | None = None, *, measure: bool = True) -> int:
    """Threads for ``concurrency`` requests in flight on ``cpu`` CPUs (read with
    :func:`available_cpu` when None and ``measure``): at most ``concurrency``."""
    if cpu is None and measure:
        cpu = available_cpu()
    if cpu is None:
        return concurrency
    return max(1, min(concurrency, max(MIN_WORKERS, math.ceil(cpu * WORKERS_PER_CPU))))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_quota(root: Path) -> float | None:
    """The tightest CPU quota on this process's cgroup or its ancestors (v2, else v1)."""
    membership = _read(root / "proc/self/cgroup") or ""
    quotas: list[float] = []
    for line in membership.splitlines():
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":  # cgroup v2: "0::/path"
            base = root / "sys/fs/cgroup"
            quotas += [q for q in (_v2(base / p) for p in _ancestors(path)) if q is not None]
        elif "cpu" in controllers.split(","):
            for mount in (root / "sys/fs/cgroup" / name for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu")):
                quotas += [q for q in (_v1(mount / p) for p in _ancestors(path)) if q is not None]
    return min(quotas) if quotas else None


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/".join(parts[:n]) for n in range(len(parts), -1, -1)]


def _v2(folder: Path) -> float | None:
    fields = (_read(folder / "cpu.max") or "").split()
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit() and int(fields[1]):
        return int(fields[0]) / int(fields[1])
    return None


def _v1(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if quota and period and quota.isdigit() and period.isdigit() and int(period):
        return int(quota) / int(period)
    return None  # "-1": no quota
