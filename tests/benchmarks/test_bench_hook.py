"""The hook benchmark on a tiny size: it runs the handler in its own process, counts what it
claims and renders. Not a timed test: no figure here is compared with a target."""

from __future__ import annotations

from typing import Any

from benchmarks import hook


def test_hook_benchmark_measures_and_renders(aws_env: Any) -> None:
    figures = hook.measure(aws_env, 40)
    assert figures["jobs"] == 40
    assert figures["cancelled"] == 40  # every job got one accepted cancel, counted by the test bed
    assert figures["cancel_requests"] == 40
    assert figures["status"] in {"SUCCESS", "IN_PROGRESS"}
    assert 0 < figures["import_s"] < figures["invocation_s"]
    assert "teardown hook" in hook.target_row(figures)
    assert hook.section(figures, 7)[0] == "## 7. Teardown hook"
