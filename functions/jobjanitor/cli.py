"""The ``jobjanitor`` command (also ``python -m jobjanitor``): list and sweep from a laptop or CI.

Exit status: 0 all good; 1 a cancel failed, a listing failed, or jobs were still running at
the deadline; 2 bad flags (the message names the flag).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from jobjanitor import __version__
from jobjanitor.errors import ConfigError
from jobjanitor.model import JobKindName
from jobjanitor.policy import DEFAULT_CONCURRENCY, DEFAULT_MAX_WAIT_SECONDS, Policy

if TYPE_CHECKING:
    from jobjanitor.engine import ProgressEvent

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
# Discovery and cancels get this long on top of --max-wait before the run gives up.
WORK_SECONDS = 300

# Policy field -> the flag that sets it (ConfigError messages name the flag).
FLAGS = {
    "kinds": "--kinds",
    "neptune_endpoint": "--neptune-endpoint",
    "neptune_iam_role_arn": "--neptune-iam-role-arn",
    "glue_region": "--glue-region",
    "glue_transform_ids": "--glue-transform",
    "glue_transform_name_prefix": "--glue-transform-prefix",
    "glue_transform_tags": "--glue-transform-tag",
    "job_id_prefix": "--id-prefix",
    "job_ids": "--id",
    "min_age": "--older-than",
    "clean": "--clean",
    "dry_run": "--dry-run",
    "wait": "--no-wait",
    "max_wait": "--max-wait",
    "concurrency": "--concurrency",
}


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    kinds = ", ".join(k.value for k in JobKindName)
    common = argparse.ArgumentParser(add_help=False)
    scope = common.add_argument_group("what to look at")
    scope.add_argument("--neptune-endpoint", metavar="URL", help="Neptune cluster endpoint, https://host:8182")
    scope.add_argument("--neptune-iam-role-arn", metavar="ARN", help="passed as neptuneIamRoleArn on Neptune ML calls")
    scope.add_argument(
        "--glue-transform", action="append", default=[], metavar="ID", help="Glue ML transform id (repeatable)"
    )
    scope.add_argument("--glue-transform-prefix", metavar="PREFIX", help="Glue ML transforms whose name starts so")
    scope.add_argument(
        "--glue-transform-tag", action="append", default=[], metavar="KEY=VALUE", help="Glue transforms with this tag"
    )
    scope.add_argument("--glue-region", metavar="REGION", help="Glue region (default: the profile's/environment's)")
    scope.add_argument(
        "--kinds", metavar="LIST", help=f"comma-separated job kinds or 'all' ({kinds}); default: what is configured"
    )
    scope.add_argument(
        "--older-than", metavar="AGE", help="only jobs started at least this long ago (90s, 15m, 2h, 1d)"
    )
    scope.add_argument(
        "--first-seen-table",
        metavar="TABLE",
        help="DynamoDB table (partition key id, e.g. the deployed sweeper's) that records when Neptune ML jobs "
        "were first seen: their API gives no start time, so --older-than ages them from that",
    )
    scope.add_argument("--id-prefix", metavar="PREFIX", help="only Neptune ML jobs whose id starts so")
    scope.add_argument("--id", action="append", default=[], metavar="ID", help="only these job ids (repeatable)")
    aws = common.add_argument_group("AWS")
    aws.add_argument("--profile", help="AWS profile for Glue (the standard boto3 credential chain otherwise)")
    aws.add_argument("--region", help="AWS region for Glue (alias of --glue-region)")
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    out.add_argument("--concurrency", default=str(DEFAULT_CONCURRENCY), metavar="N", help="parallel calls (default 16)")

    parser = argparse.ArgumentParser(
        prog="jobjanitor",
        description="Cancel Neptune ML, Neptune bulk-loader and Glue ML task-run jobs.",
    )
    parser.add_argument("--version", action="version", version=f"jobjanitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,sweep}")
    listing = sub.add_parser(
        "list", parents=[common], help="show the jobs and what a sweep would do", description="List jobs."
    )
    sweep = sub.add_parser("sweep", parents=[common], help="cancel the jobs in scope", description="Cancel jobs.")
    sweep.add_argument("--dry-run", action="store_true", help="show what would be cancelled; cancel nothing")
    sweep.add_argument("--clean", action="store_true", help="Neptune ML: clean up the job's artifacts (clean=true)")
    sweep.add_argument("--no-wait", action="store_true", help="do not wait for cancelled jobs to stop")
    sweep.add_argument(
        "--max-wait",
        default=str(DEFAULT_MAX_WAIT_SECONDS),
        metavar="SECONDS",
        help=f"wait at most this long for jobs to stop (default {DEFAULT_MAX_WAIT_SECONDS})",
    )
    return parser, {"list": listing, "sweep": sweep}


def _policy(args: argparse.Namespace) -> Policy:
    sweeping = args.command == "sweep"
    region = args.glue_region or args.region
    return Policy.build(
        kinds=args.kinds,
        neptune_endpoint=args.neptune_endpoint,
        neptune_iam_role_arn=args.neptune_iam_role_arn,
        glue_region=region,
        glue_transform_ids=args.glue_transform,
        glue_transform_name_prefix=args.glue_transform_prefix,
        glue_transform_tags=args.glue_transform_tag,
        job_id_prefix=args.id_prefix,
        job_ids=args.id,
        min_age=args.older_than,
        clean=sweeping and args.clean,
        dry_run=sweeping and args.dry_run,
        wait=not (sweeping and args.no_wait),
        max_wait=args.max_wait if sweeping else DEFAULT_MAX_WAIT_SECONDS,
        concurrency=args.concurrency,
        labels=FLAGS if args.glue_region or not args.region else {**FLAGS, "glue_region": "--region"},
    )


def _progress_printer(stream: TextIO) -> Callable[[ProgressEvent], None]:
    def show(event: ProgressEvent) -> None:
        print(f"jobjanitor: {event.message()}", file=stream, flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (the console script exits with it)."""
    parser, subparsers = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version, bad flags
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    sub = subparsers[args.command]
    try:
        policy = _policy(args)
    except ConfigError as error:
        print(
            f"{sub.format_usage().rstrip()}\n{sub.prog}: error: argument {error.field}: {error.message}",
            file=sys.stderr,
        )
        return EXIT_USAGE

    import boto3  # noqa: PLC0415 - lazy: `jobjanitor --help` stays fast
    from botocore.exceptions import BotoCoreError, ProfileNotFound  # noqa: PLC0415

    from jobjanitor import engine  # noqa: PLC0415
    from jobjanitor.clients import build_clients  # noqa: PLC0415

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=policy.glue_region)
        clients = build_clients(policy, session=session)
    except ProfileNotFound as error:
        print(f"{sub.prog}: error: argument --profile: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BotoCoreError as error:  # e.g. no region for Glue
        flag = "--glue-region" if "region" in str(error).lower() else "--profile"
        print(f"{sub.prog}: error: argument {flag}: {error}", file=sys.stderr)
        return EXIT_USAGE

    first_seen = None
    if args.first_seen_table:
        from jobjanitor.ages import DynamoDBFirstSeen  # noqa: PLC0415

        first_seen = DynamoDBFirstSeen(args.first_seen_table, client=session.client("dynamodb"))
    progress = None if args.quiet else _progress_printer(sys.stderr)
    deadline = engine.Deadline.after(policy.max_wait + WORK_SECONDS)
    if args.command == "list":
        report = engine.list_jobs(policy, deadline=deadline, clients=clients, first_seen=first_seen)
    else:
        report = engine.sweep(policy, deadline=deadline, clients=clients, progress=progress, first_seen=first_seen)

    if args.json:
        print(report.to_json(indent=2))
    else:
        print(report.render_table())
    if args.command == "list":
        return EXIT_OK if not report.errors else EXIT_PROBLEMS
    return EXIT_OK if report.ok else EXIT_PROBLEMS
