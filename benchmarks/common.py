"""Shared pieces of the benchmarks: the machine, the workload, the environment."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.scenario import ML_KINDS, create_transform
from jobjanitor_testbed.server import TestBed, export_aws_environment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> dict[str, str]:
    import boto3  # noqa: PLC0415

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }


# Each measured process reads its bytecode from here (written by the first process that imports
# a module), as Lambda reads the build's precompiled bytecode: without it every child process
# compiled boto3 and botocore from source (PYTHONDONTWRITEBYTECODE), and that compile was
# counted as the sweep's CPU.
PYCACHE = os.path.join(tempfile.gettempdir(), "jobjanitor-bench-pycache")


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of a measured child process run from the source tree."""
    return {**os.environ, "PYTHONPATH": ROOT, "PYTHONPYCACHEPREFIX": PYCACHE, "PYTHONDONTWRITEBYTECODE": "", **extra}


def aws_environment(bed: TestBed) -> None:
    """Point plain boto3 (Glue, DynamoDB, Events, Lambda) at the test bed's moto server."""
    export_aws_environment(bed, POWERTOOLS_LOG_LEVEL="WARNING")


@dataclass
class Workload:
    """Outstanding jobs by jobjanitor kind (all in scope), and the Glue transforms."""

    jobs: dict[str, list[str]] = field(default_factory=dict)
    transforms: list[str] = field(default_factory=list)
    run_transform: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.jobs.values())


def seed_workload(
    bed: TestBed, glue: Any, total: int = 1000, transforms: int = 3, *, prefix: str = "bench-", with_loads: bool = True
) -> Workload:
    """``total`` outstanding jobs over the five kinds, seeded directly (fast, no waiting).

    Loads are capped at 64: Neptune runs one load at a time and queues at most 64 more, and
    ListLoaderJobs lists at most 100 (none without ``with_loads``). The rest: three quarters Neptune
    ML (equal thirds, ids starting with ``prefix``), one quarter Glue ML task runs spread over
    ``transforms`` transforms.
    """
    workload = Workload()
    loads = min(64, max(1, total // 16)) if with_loads else 0
    glue_runs = (total - loads) // 4
    ml_each = (total - loads - glue_runs) // 3
    glue_runs = total - loads - 3 * ml_each
    if loads:
        workload.jobs["neptune-loader"] = [bed.neptune.seed_load(status="LOAD_IN_PROGRESS")] + [
            bed.neptune.seed_load(status="LOAD_IN_QUEUE") for _ in range(loads - 1)
        ]
    for kind, api_kind in ML_KINDS.items():
        workload.jobs[kind] = [
            bed.neptune.seed_ml_job(api_kind, f"{prefix}{api_kind}-{i}", status="InProgress") for i in range(ml_each)
        ]
    workload.transforms = [create_transform(glue, f"bench-{t}") for t in range(transforms)]
    runs: list[str] = []
    for i in range(glue_runs):
        transform = workload.transforms[i % transforms]
        run = moto_glue.seed_task_run(transform, status="RUNNING")
        workload.run_transform[run] = transform
        runs.append(run)
    workload.jobs["glue-ml-task-run"] = runs
    return workload


def final_states(bed: TestBed, workload: Workload) -> dict[tuple[str, str], str]:
    """Each job's status as the test bed itself holds it (not as any report says)."""
    out: dict[tuple[str, str], str] = {}
    for kind, ids in workload.jobs.items():
        for job_id in ids:
            if kind == "glue-ml-task-run":
                out[(kind, job_id)] = moto_glue_status(workload.run_transform[job_id], job_id)
            elif kind == "neptune-loader":
                out[(kind, job_id)] = bed.neptune.job("loader", job_id).status
            else:
                out[(kind, job_id)] = bed.neptune.job(ML_KINDS[kind], job_id).status
    return out


def moto_glue_status(transform_id: str, run_id: str) -> str:
    """A Glue run's status read from moto's backend in this process (20,000 jobs are checked:
    no request each); through boto3 if the test bed's storage is not reachable that way."""
    try:
        from moto.glue.models import glue_backends  # noqa: PLC0415

        transform = glue_backends["123456789012"]["us-east-1"].get_ml_transform(transform_id)
        return str(moto_glue.task_runs_of(transform)[run_id].status())
    except Exception:  # the test bed changed how it keeps runs: ask it over HTTP
        import boto3  # noqa: PLC0415

        return str(boto3.client("glue").get_ml_task_run(TransformId=transform_id, TaskRunId=run_id)["Status"])


STOPPED_OR_STOPPING = {"Stopping", "Stopped", "LOAD_CANCELLED_BY_USER", "STOPPING", "STOPPED"}


def median_of_processes(code: str, runs: int, env: dict[str, str] | None = None) -> float:
    """Median of ``runs`` fresh interpreters, each printing one float (milliseconds)."""
    python = os.path.join(ROOT, ".venv", "bin", "python")
    values = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
            [python, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
        )
        values.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(values)
