"""Help, global flags in either place, and per-service endpoint overrides: the CLI as a process."""

from __future__ import annotations

import json

import boto3
import pytest
from clirun import cli_env, run_cli
from jobjanitor.cli import main
from jobjanitor_testbed import moto_glue
from jobjanitor_testbed.scenario import create_transform
from jobjanitor_testbed.server import TestBed

DEAD = "http://127.0.0.1:9"  # discard port: nothing answers there


def test_help_shows_examples_exit_codes_and_what_the_aws_flags_apply_to() -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for text in ("examples:", "jobjanitor sweep", "exit status:", "130", "--via", "--endpoint-url"):
        assert text in top.stdout, text
    sweep = run_cli("sweep", "--help")
    assert sweep.returncode == 0
    text = " ".join(sweep.stdout.split())  # argparse wraps help text
    assert "Glue, SageMaker, DynamoDB, and the SigV4 signature of Neptune requests" in text  # --profile
    assert "the region Neptune requests are signed for" in text  # --region
    assert "neptune-ml-dataprocessing" in text  # --kinds lists the kinds
    assert "without neptune-loader when --id-prefix/--id narrow the scope" in text
    assert "exit status:" in sweep.stdout


def _exit_statuses(help_text: str) -> dict[str, str]:
    """``exit status:`` section -> {status: its text, wrapped lines joined}."""
    section = help_text.split("exit status:", 1)[1].split("\n\n", 1)[0]
    statuses: dict[str, str] = {}
    status = ""
    for line in section.splitlines():
        first, _, rest = line.strip().partition(" ")
        if first.isdigit():
            status = first
            statuses[status] = rest.strip()
        elif status:
            statuses[status] += " " + line.strip()
    return statuses


def test_help_of_each_subcommand_names_every_exit_status_and_plain_metavars() -> None:
    """Issue 23, 8: the subcommands' usage said ``--profile PROFILE__AFTER`` (the merged global
    flags' internal dest); the exit statuses left out a sweep not confirmed (1), one without a
    terminal and without --yes (2), and SIGTERM."""
    for argv in (["--help"], ["list", "--help"], ["sweep", "--help"]):
        proc = run_cli(*argv)
        assert proc.returncode == 0, proc.stderr
        assert "__AFTER" not in proc.stdout.upper(), argv
        statuses = _exit_statuses(proc.stdout)
        assert set(statuses) == {"0", "1", "2", "130", "143"}, statuses
        assert "not confirmed" in statuses["1"], statuses["1"]
        assert "without --yes" in statuses["2"], statuses["2"]
        assert "terminal" in statuses["2"], statuses["2"]
        assert "SIGTERM" in statuses["143"]
    for argv in (["list", "--help"], ["sweep", "--help"]):
        usage = " ".join(run_cli(*argv).stdout.split("\n\n", 1)[0].split())
        assert "[--profile PROFILE]" in usage, usage
        assert "[--region REGION]" in usage, usage


def test_first_seen_table_help_says_how_ml_jobs_are_dated() -> None:
    """Issue 23, 8: Neptune ML jobs are dated from their SageMaker jobs first; the ledger only
    for a job that names none yet."""
    text = " ".join(run_cli("sweep", "--help").stdout.split())
    table = text.split("--first-seen-table TABLE", 2)[-1].split(" --id-prefix", 1)[0]
    assert "SageMaker" in table, table
    assert "age_unknown" in table, table


def test_an_http_endpoint_without_the_allow_list_says_how_a_test_bed_is_admitted(aws_env: TestBed) -> None:
    """Issue 23, 8: "must use https://" alone left a test bed user guessing."""
    proc = run_cli("list", "--neptune-endpoint", aws_env.neptune_url, env=cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=None))
    assert proc.returncode == 2
    assert "argument --neptune-endpoint: must use https://" in proc.stderr
    assert "JOBJANITOR_ALLOWED_ENDPOINTS" in proc.stderr
    assert aws_env.neptune_log.count() == 0


@pytest.fixture
def seeded(aws_env: TestBed) -> dict[str, str]:
    aws_env.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    transform = create_transform(boto3.client("glue", region_name="us-east-1"), "jj-flags")
    return {"transform": transform, "run": moto_glue.seed_task_run(transform, status="RUNNING")}


@pytest.mark.parametrize("where", ["before", "after", "split"])
def test_global_flags_before_or_after_the_subcommand(aws_env: TestBed, seeded: dict[str, str], where: str) -> None:
    scope = ["--kinds", "neptune-ml-training,glue-ml-task-run", "--glue-transform", seeded["transform"]]
    flags = ["--json", "--region", "us-east-1", "--neptune-endpoint", aws_env.neptune_url, "-q"]
    argv = {
        "before": [*flags, "list", *scope],
        "after": ["list", *scope, *flags],
        "split": [*flags[:3], "list", *scope, *flags[3:]],
    }[where]
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    outcomes = {r["job_id"]: r["outcome"] for r in json.loads(proc.stdout)["results"]}
    assert outcomes == {"jj-train": "would_cancel", seeded["run"]: "would_cancel"}
    assert proc.stderr == ""


def test_repeatable_global_flags_accumulate_from_both_places(aws_env: TestBed, seeded: dict[str, str]) -> None:
    env = cli_env(AWS_ENDPOINT_URL=DEAD)
    # Glue's override before the subcommand, a (harmless) DynamoDB one after: both apply.
    proc = run_cli("--endpoint-url", f"glue={aws_env.aws_url}", "list", "--glue-transform", seeded["transform"],
                   "--endpoint-url", f"dynamodb={DEAD}", "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [r["job_id"] for r in json.loads(proc.stdout)["results"]] == [seeded["run"]]


def test_endpoint_url_per_service_and_for_all(aws_env: TestBed, seeded: dict[str, str]) -> None:
    env = cli_env(AWS_ENDPOINT_URL=DEAD)  # the environment's endpoint leads nowhere
    args = ("list", "--glue-transform", seeded["transform"], "--json")
    assert run_cli(*args, "--endpoint-url", f"glue={aws_env.aws_url}", env=env).returncode == 0
    assert run_cli(*args, "--endpoint-url", aws_env.aws_url, env=env).returncode == 0
    # Without an override the calls go to the dead endpoint: the listing fails, exit 1.
    failed = run_cli(*args, "-q", env={**env, "AWS_MAX_ATTEMPTS": "1"})
    assert failed.returncode == 1
    assert "listing failed" in json.loads(failed.stdout)["errors"][0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("neptunedata=https://x:8182", "--neptune-endpoint"),
        ("s3=http://127.0.0.1:5000", "unknown service 's3'"),
        ("glue=", "must be a URL"),
        ("not a url", "must be a URL"),
    ],
)
def test_bad_endpoint_url_exits_2_naming_the_flag(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--glue-transform", "t", "--endpoint-url", value]) == 2
    err = capsys.readouterr().err
    assert "argument --endpoint-url" in err
    assert message in err
