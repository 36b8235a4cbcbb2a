"""The benchmarks at Lambda's CPU share: the cgroup they run in, and the per-MemorySize table on
tiny sizes. Not timed: no figure is compared with a target here (that is `make bench`'s job);
what is checked is where processes run, what is counted and what the doc says.

Creating a cgroup needs root and a cgroup hierarchy with the cpu controller: where there is
none, the tests that need one are skipped, saying why, and the benchmark's own answer (rows
skipped, never full-CPU figures labelled as Lambda's) is checked instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artifact import built
from benchmarks import cgroup, run, share, throughput
from benchmarks.common import ROOT


def _limit_or_skip(memory_mb: int, **kwargs: Any) -> Any:
    manager = cgroup.cpu_limit(memory_mb, **kwargs)
    limit = manager.__enter__()
    if isinstance(limit, str):
        manager.__exit__(None, None, None)
        pytest.skip(f"no CPU-limited cgroup can be created here: {limit}")
    return manager, limit


def test_the_hierarchy_is_read_from_the_mounts(tmp_path: Path) -> None:
    v1 = "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    (tmp_path / "sys/fs/cgroup/unified").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/unified/cgroup.controllers").write_text("hugetlb\n")
    assert cgroup.find_hierarchy(v1, fs_root=tmp_path) == cgroup.Hierarchy(1, tmp_path / "sys/fs/cgroup/cpu")
    # cgroup v2 with the cpu controller is preferred.
    (tmp_path / "sys/fs/cgroup/unified/cgroup.controllers").write_text("cpuset cpu io memory\n")
    assert cgroup.find_hierarchy(v1, fs_root=tmp_path) == cgroup.Hierarchy(2, tmp_path / "sys/fs/cgroup/unified")
    reason = cgroup.find_hierarchy("proc /proc proc rw 0 0\n", fs_root=tmp_path)
    assert isinstance(reason, str)
    assert "cpu controller" in reason


def test_a_v2_limit_writes_cpu_max_and_uses_cgroup_procs(tmp_path: Path) -> None:
    """cgroup v2, on a directory standing in for the hierarchy (no process is run)."""
    (tmp_path / "cgroup.subtree_control").write_text("")
    hierarchy = cgroup.Hierarchy(2, tmp_path)
    with cgroup.cpu_limit(256, check=False, hierarchy=hierarchy) as limit:
        assert not isinstance(limit, str)
        assert (limit.path / "cpu.max").read_text() == f"{round(256 / 1769 * 100_000)} 100000"
        assert limit.procs_file == limit.path / "cgroup.procs"
        assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
        for name in ("cpu.max",):  # a real cgroup's files go with it; a plain directory needs help
            (limit.path / name).unlink()
    assert not limit.path.exists()


def test_no_hierarchy_means_no_limit_and_a_reason() -> None:
    with cgroup.cpu_limit(256, hierarchy="no cgroup here") as limit:
        assert limit == "no cgroup here"


def test_a_process_runs_inside_the_limit_from_its_exec() -> None:
    manager, limit = _limit_or_skip(512, check=False)
    try:
        assert limit.version in (1, 2)
        if limit.version == 1:
            assert (limit.path / "cpu.cfs_quota_us").read_text().strip() == str(round(512 / 1769 * 100_000))
        else:
            assert (limit.path / "cpu.max").read_text().split()[0] == str(round(512 / 1769 * 100_000))
        command = limit.command([sys.executable, "-I", "-S", "-c", "print(open('/proc/self/cgroup').read())"])
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 - our interpreter
        assert f"/{limit.path.name}" in out
    finally:
        manager.__exit__(None, None, None)
    assert not limit.path.exists()


def test_an_engine_sweep_runs_in_the_limit(aws_env: Any) -> None:
    manager, limit = _limit_or_skip(cgroup.FULL_CPU_MB, check=False)
    try:
        sweep = throughput.sweep(aws_env, 20, "engine", wrap=limit.command)
    finally:
        manager.__exit__(None, None, None)
    assert sweep["stopped_in_testbed"] == 20
    assert sweep["lie_count"] == 0
    assert 0 < sweep["cpu_sweep_s"] <= sweep["cpu_s"]


@pytest.mark.skipif(not built.is_built(), reason="the built artifact (.aws-sam/build) is needed: make build")
def test_each_function_answers_a_cold_teardown_and_sweep_in_the_limit(aws_env: Any) -> None:
    if isinstance(cgroup.find_hierarchy(), str):
        pytest.skip(f"no CPU-limited cgroup can be created here: {cgroup.find_hierarchy()}")
    figures = share.measure(aws_env, sizes=(cgroup.FULL_CPU_MB,), teardown_jobs=3, sweep_jobs=8)
    (row,) = figures["rows"]
    assert "skipped" not in row, row.get("skipped")
    for name in share.FUNCTIONS:
        for label, jobs in (("teardown", 3), ("sweep", 8)):
            invocation = row[name][label]
            assert invocation["jobs"] == jobs, (name, label)
            assert invocation["stopped"] == jobs, (name, label, invocation)  # the test bed's own state
            assert invocation["answer"] in ("SUCCESS", "ok"), (name, label, invocation["answer"])
            assert 0 < invocation["import_s"] < invocation["answer_s"]
            assert invocation["gb_s"] == pytest.approx(cgroup.FULL_CPU_MB / 1024 * invocation["answer_s"])
    figures["chosen"] = share.chosen(figures)
    assert figures["chosen"] == dict.fromkeys(share.FUNCTIONS, cgroup.FULL_CPU_MB)
    text = "\n".join(share.section(figures, 8))
    assert "| 1769 MB (1.000" in text
    (row_text,) = share.target_rows(figures)
    assert row_text.endswith("| **missed** |")  # the template does not set 1,769 MB


@pytest.mark.skipif(not built.is_built(), reason="the built artifact (.aws-sam/build) is needed: make build")
def test_one_function_s_cold_teardown_runs_alone(aws_env: Any) -> None:
    """`python -m benchmarks.share 256 guard --teardown-only`: no 1,000-job sweep, no other function."""
    if isinstance(cgroup.find_hierarchy(), str):
        pytest.skip(f"no CPU-limited cgroup can be created here: {cgroup.find_hierarchy()}")
    figures = share.measure(aws_env, sizes=(cgroup.FULL_CPU_MB,), teardown_jobs=2, sweep_jobs=0, functions=("hook",))
    (row,) = figures["rows"]
    assert [name for name in share.FUNCTIONS if name in row] == ["hook"]
    assert list(row["hook"]) == ["teardown"]
    assert row["hook"]["teardown"]["stopped"] == 2
    assert row["hook"]["teardown"]["answer"] == "SUCCESS"


@pytest.mark.skipif(not built.is_built(), reason="the built artifact (.aws-sam/build) is needed: make build")
@pytest.mark.parametrize("where", [["--full-cpu"], []], ids=["full-cpu", "at-share"])
def test_the_import_rows_run_alone(where: list[str]) -> None:
    """`python -m benchmarks.coldstart imports`: only import boto3 and each handler as shipped, the
    rows and the target's as make bench writes them (at Lambda's share: in a cgroup, or not measured)."""
    out = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "benchmarks.coldstart", "imports", "--runs", "1", *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("fastest of 1,")
    if where or not isinstance(cgroup.find_hierarchy(), str):
        rows = lines[1:-1]
        assert rows[0].startswith("| `import boto3` |")
        names = [module.rsplit(".", 1)[-1] for module in built.HANDLERS.values()]
        assert [row.split("`")[1] for row in rows[1:]] == [f"{name} (tracing on)" for name in names]
    target = lines[-1]
    assert target.startswith("| handler import at ")
    assert target.endswith(("| met |", "| **missed** |"))


@pytest.mark.skipif(not built.is_built(), reason="the built artifact (.aws-sam/build) is needed: make build")
def test_without_a_cgroup_the_rows_are_skipped_not_measured_at_full_cpu(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroup, "find_hierarchy", lambda *a, **k: "no cgroup hierarchy (test)")
    figures = share.measure(aws_env, sizes=(128, 256), teardown_jobs=3, sweep_jobs=3)
    assert [row["skipped"] for row in figures["rows"]] == ["no cgroup hierarchy (test)"] * 2
    assert all(name not in row for row in figures["rows"] for name in share.FUNCTIONS)
    assert share.chosen(figures) == dict.fromkeys(share.FUNCTIONS)
    (row_text,) = share.target_rows(figures)
    assert "not measured: no cgroup hierarchy (test)" in row_text
    assert row_text.endswith("| **missed** |")
    assert "skipped: no cgroup hierarchy (test)" in "\n".join(share.section(figures, 8))
    assert run._share_sweep_rows({"share_sweep": {"skipped": "no cgroup hierarchy (test)"}})[0].endswith(
        "| not measured: no cgroup hierarchy (test) | **missed** |"
    )
