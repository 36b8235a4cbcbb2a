"""What a sweep's report says, and where it lands: the CLI as a process against the test bed,
on a pseudo-terminal where the terminal matters (issue 23, points 4, 5 and 8)."""

from __future__ import annotations

import json
import re

import pytest
from clirun import cli_env, on_a_terminal, run_cli
from jobjanitor_testbed.server import TestBed

DEAD = "http://127.0.0.1:9"  # discard port: nothing answers there
NEPTUNE_KINDS = {"modeltraining": "neptune-ml-training", "dataprocessing": "neptune-ml-dataprocessing"}


def seed_team(bed: TestBed, team: str) -> None:
    """Two running jobs and a finished one of each kind, ids ``<team>-...``."""
    for api_kind in NEPTUNE_KINDS:
        for i in range(2):
            bed.neptune.seed_ml_job(api_kind, f"{team}-{api_kind}-{i}", status="InProgress")
        bed.neptune.seed_ml_job(api_kind, f"{team}-{api_kind}-done", status="Completed")


def table_rows(output: str, team: str) -> dict[str, tuple[str, str, str]]:
    """The report table's rows of ``team`` as {job id without the team: (OUTCOME, BEFORE, NOTE)}."""
    lines = [line.rstrip("\r") for line in output.split("\n")]
    header = next(i for i, line in enumerate(lines) if "JOB ID" in line and "OUTCOME" in line)
    rows: dict[str, tuple[str, str, str]] = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        _kind, job_id, outcome, before = cells[:4]
        note = cells[6] if len(cells) > 6 else ""
        if job_id.startswith(f"{team}-"):
            rows[job_id.removeprefix(f"{team}-")] = (outcome, before, note)
    return rows


def test_after_y_the_report_reads_as_with_yes_and_starts_on_its_own_line(aws_env: TestBed) -> None:
    """Issue 23, 4: after answering ``y`` the finished in-scope jobs read ``skipped ... not_listed``
    (with ``--yes``: ``finished``), BEFORE was ``-`` for cancelled ML jobs, and on a terminal the
    table's header was appended to the last progress line."""
    bed = aws_env
    bed.lifecycle.stop_delay = 0.2
    seed_team(bed, "team-a")
    seed_team(bed, "team-c")
    common = ["--neptune-endpoint", bed.neptune_url, "--kinds", "neptune-ml-training,neptune-ml-dataprocessing",
              "--max-wait", "60"]  # fmt: skip
    asked, shown = on_a_terminal("sweep", *common, "--id-prefix", "team-a-", answer="y")
    unasked, shown_yes = on_a_terminal("sweep", *common, "--id-prefix", "team-c-", "--yes")
    assert (asked, unasked) == (0, 0), (shown, shown_yes)
    after_y, with_yes = table_rows(shown, "team-a"), table_rows(shown_yes, "team-c")
    assert after_y == with_yes
    for api_kind in NEPTUNE_KINDS:
        assert after_y[f"{api_kind}-done"] == ("skipped", "Completed", "finished")
        for i in range(2):
            # NOTE: SageMaker agreed the job stopped (issue 22, part 2).
            assert after_y[f"{api_kind}-{i}"] == ("cancelled", "InProgress", "billing stopped")
    for output in (shown, shown_yes):
        lines = [line.rstrip("\r") for line in output.split("\n")]
        header = next(line for line in lines if "JOB ID" in line)
        assert header.startswith("KIND "), repr(header)  # not glued to the progress line
        # The live line's last state stays on screen, on the line above the table.
        above = lines[lines.index(header) - 1]
        assert "[wait]" in above, repr(above)
        assert "\x1b" not in above.rpartition("\x1b[2K")[2], repr(above)


def test_a_sweep_sends_no_cancel_to_a_finished_job(aws_env: TestBed) -> None:
    """Issue 23, 5: the finished jobs Neptune lists with the running ones got a cancel (refused:
    400 for ML jobs, 404 for loads) while the report said they were skipped."""
    bed = aws_env
    seed_team(bed, "team-a")
    bed.neptune.seed_load("load-running", status="LOAD_IN_PROGRESS")
    bed.neptune.seed_load("load-done", status="LOAD_COMPLETED")
    kinds = ",".join(["neptune-loader", *NEPTUNE_KINDS.values()])
    proc = run_cli("sweep", "--neptune-endpoint", bed.neptune_url, "--kinds", kinds, "--max-wait", "60", "--yes",
                   "--json", "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cancels = [e for e in bed.neptune_log.entries() if e.method == "DELETE"]
    assert sorted(e.path.rsplit("/", 1)[-1] for e in cancels) == sorted(
        ["load-running"] + [f"team-a-{api_kind}-{i}" for api_kind in NEPTUNE_KINDS for i in range(2)]
    )
    assert {e.status for e in cancels} == {200}
    results = {r["job_id"]: r for r in json.loads(proc.stdout)["results"]}
    for job_id in ("load-done", *(f"team-a-{api_kind}-done" for api_kind in NEPTUNE_KINDS)):
        assert (results[job_id]["outcome"], results[job_id]["skip_reason"]) == ("skipped", "finished")


@pytest.mark.parametrize("command", [["list"], ["sweep", "--yes", "--no-wait"]])
def test_a_listing_error_is_printed_once(aws_env: TestBed, command: list[str]) -> None:
    """Issue 23, 8: a failed listing was printed as a live warning and again in the report."""
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=f"{aws_env.allowed_endpoints},{DEAD}")
    proc = run_cli(*command, "--neptune-endpoint", DEAD, "--kinds", "neptune-ml-training", env=env)
    assert proc.returncode == 1
    both = proc.stdout + proc.stderr
    assert both.count("listing failed") == 1, both
    assert "error: neptune-ml-training: listing failed: EndpointConnectionError" in proc.stdout


def test_list_json_is_not_a_sweep(aws_env: TestBed) -> None:
    """Issue 23, 8: ``list --json`` said ``"dry_run": false``, as if something could have been cancelled."""
    aws_env.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    args = ["--neptune-endpoint", aws_env.neptune_url, "--kinds", "neptune-ml-training", "--json", "-q"]
    listed = run_cli("list", *args)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["command"] == "list"
    assert "dry_run" not in data
    assert [r["outcome"] for r in data["results"]] == ["would_cancel"]
    dry = json.loads(run_cli("sweep", "--dry-run", *args).stdout)
    assert (dry["command"], dry["dry_run"]) == ("sweep", True)
