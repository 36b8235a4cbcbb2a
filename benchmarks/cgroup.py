"""Lambda's CPU share on this machine: a cgroup whose CPU quota is ``MemorySize / 1769`` of one
CPU (Lambda gives a function one vCPU at 1,769 MB, in proportion below it).

A measured process runs inside the cgroup from its ``exec`` on (:meth:`CpuLimit.command`: a
``/bin/sh`` that writes its own pid into the cgroup, then ``exec``\\ s the command, so the
interpreter's start-up counts as it does in Lambda's init). cgroup v1 (the ``cpu`` controller's
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` / ``tasks``) and v2 (``cpu.max`` / ``cgroup.procs``)
are both handled; which one the machine has is read from ``/proc/self/mounts``. Creating a cgroup
needs root (the development machines and CI run as root). Where it cannot be created,
:func:`cpu_limit` yields the reason instead, and the benchmark skips those rows: no full-CPU
figure is ever labelled as Lambda's.

Every limit is checked before use: a busy loop runs inside it for :data:`CHECK_S` and the CPU
it got over the wall time is the share measured. A share far above the quota means the quota is
not enforced (the rows are skipped); one below it means the machine's other work took some of
it (reported: the figures are then slower than Lambda's).

    python -m benchmarks.cgroup [MB ...]    # the share measured at each MemorySize, as JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FULL_CPU_MB = 1769  # one vCPU
MEMORY_SIZES = (128, 256, 512, 1024, 1769)
PERIOD_US = 100_000
CHECK_S = 1.0
# A busy loop measured above this multiple of the quota: the quota is not enforced.
ENFORCED_SLACK = 1.15
MOUNTS = Path("/proc/self/mounts")

BUSY_LOOP = (
    "import os, time\n"
    "t = time.perf_counter(); c = time.process_time()\n"
    "while time.perf_counter() - t < {seconds}: pass\n"
    "print((time.process_time() - c) / (time.perf_counter() - t))\n"
)


def share(memory_mb: int) -> float:
    """The CPU Lambda gives a function of ``memory_mb`` (one vCPU at 1,769 MB)."""
    return memory_mb / FULL_CPU_MB


@dataclass(frozen=True)
class Hierarchy:
    """Where CPU-limited cgroups are made: ``version`` 1 (the cpu controller's own mount) or 2."""

    version: int
    root: Path


def find_hierarchy(mounts: str | None = None, *, fs_root: Path = Path("/")) -> Hierarchy | str:
    """The cgroup hierarchy that has the cpu controller (v2 preferred), or why there is none.
    ``mounts`` is ``/proc/self/mounts``'s text; ``fs_root`` prefixes the paths (tests)."""
    if mounts is None:
        try:
            mounts = MOUNTS.read_text()
        except OSError as error:
            return f"cannot read {MOUNTS}: {error}"
    v1: Path | None = None
    v2: Path | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        here = fs_root / point.relative_to("/")
        if fstype == "cgroup2":
            try:
                controllers = (here / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if "cpu" in controllers:
                v2 = here
        elif fstype == "cgroup" and "cpu" in options:
            v1 = here
    if v2 is not None:
        return Hierarchy(2, v2)
    if v1 is not None:
        return Hierarchy(1, v1)
    return "no cgroup hierarchy with the cpu controller is mounted (cgroup v1 cpu or v2 with cpu)"


@dataclass(frozen=True)
class CpuLimit:
    """A cgroup that holds what runs in it to ``share`` of one CPU."""

    memory_mb: int
    share: float
    path: Path
    version: int
    measured: float | None = None  # the busy loop's CPU / wall inside it

    @property
    def procs_file(self) -> Path:
        return self.path / ("cgroup.procs" if self.version == 2 else "tasks")

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the cgroup from its exec on."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs_file), *argv]

    def describe(self) -> str:
        got = f", measured {self.measured:.3f}" if self.measured is not None else ""
        return f"{self.memory_mb} MB: {self.share:.3f} CPU (cgroup v{self.version}{got})"


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _configure(path: Path, hierarchy: Hierarchy, quota_us: int) -> None:
    if hierarchy.version == 2:
        controls = hierarchy.root / "cgroup.subtree_control"
        if "cpu" not in controls.read_text().split():
            _write(controls, "+cpu")
        _write(path / "cpu.max", f"{quota_us} {PERIOD_US}")
    else:
        _write(path / "cpu.cfs_period_us", str(PERIOD_US))
        _write(path / "cpu.cfs_quota_us", str(quota_us))


def _remove(path: Path) -> None:
    """The cgroup removed once the processes in it have exited (the kernel frees them late)."""
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def measure_share(limit: CpuLimit, seconds: float = CHECK_S) -> float:
    """CPU over wall time of a busy loop run inside ``limit``."""
    out = subprocess.run(  # noqa: S603 - our interpreter, fixed code
        limit.command([sys.executable, "-I", "-S", "-c", BUSY_LOOP.format(seconds=seconds)]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout.strip())


def enforced(limit: CpuLimit) -> bool:
    return limit.measured is not None and limit.measured <= limit.share * ENFORCED_SLACK


@contextmanager
def cpu_limit(
    memory_mb: int, *, check: bool = True, hierarchy: Hierarchy | str | None = None
) -> Iterator[CpuLimit | str]:
    """A cgroup at Lambda's share for ``memory_mb`` (checked by a busy loop unless ``check`` is
    False), removed afterwards; or, when it cannot be made or does not hold, the reason why."""
    where = find_hierarchy() if hierarchy is None else hierarchy
    if isinstance(where, str):
        yield where
        return
    cpu = share(memory_mb)
    path = where.root / f"jobjanitor-bench-{os.getpid()}-{memory_mb}mb"
    try:
        path.mkdir()
    except OSError as error:
        yield f"cannot create a cgroup under {where.root} (cgroup v{where.version}): {error}"
        return
    try:
        try:
            _configure(path, where, max(1000, round(cpu * PERIOD_US)))
        except OSError as error:
            yield f"cannot set the CPU quota of {path} (cgroup v{where.version}): {error}"
            return
        limit = CpuLimit(memory_mb, cpu, path, where.version)
        if check:
            try:
                measured = measure_share(limit)
            except (OSError, subprocess.SubprocessError, ValueError) as error:
                yield f"cannot run a process in {path}: {error}"
                return
            limit = CpuLimit(memory_mb, cpu, path, where.version, measured)
            if not enforced(limit):
                yield (
                    f"the quota of {path} is not enforced: a busy loop got {measured:.2f} CPU, the quota is {cpu:.3f}"
                )
                return
        yield limit
    finally:
        _remove(path)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(MEMORY_SIZES)
    out: dict[str, object] = {}
    for mb in sizes:
        with cpu_limit(mb) as limit:
            out[str(mb)] = limit if isinstance(limit, str) else {"share": limit.share, "measured": limit.measured}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
