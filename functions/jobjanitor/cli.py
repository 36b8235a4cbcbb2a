"""The ``jobjanitor`` command (also ``python -m jobjanitor``): list and sweep from a laptop or CI.

Its flags, help and exit statuses are in :mod:`jobjanitor.cli_args`; what it shows while it
works, and how it stops on Ctrl-C or SIGTERM, in :mod:`jobjanitor.cli_progress`; the question a
live sweep asks in :mod:`jobjanitor.cli_confirm`. Nothing here is imported by the Lambda handlers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jobjanitor.cli_args import (
    ENDPOINT_SERVICES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_TERMINATED,
    EXIT_USAGE,
    merge_globals,
    parser,
)
from jobjanitor.cli_confirm import (
    NO_TERMINAL,
    ask,
    confined_to_plan,
    describe_plan,
    plan_counts,
    planned_ids,
    with_plan,
)
from jobjanitor.endpoints import require_writer
from jobjanitor.errors import ConfigError
from jobjanitor.model import ML_KINDS
from jobjanitor.policy import DEFAULT_MAX_WAIT_SECONDS, Policy
from jobjanitor.report import Report
from jobjanitor.tunnel import Tunnel, attach_tunnel, parse_via

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_TERMINATED", "EXIT_USAGE", "main"]

# Discovery and cancels get this long on top of --max-wait before the run gives up.
WORK_SECONDS = 300
_NEPTUNE_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.neptune\.amazonaws\.com(?:\.cn)?$")
_URL = re.compile(r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")

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


@dataclass(frozen=True)
class Connection:
    """Where the AWS calls go: ``endpoints`` maps a service (glue, sagemaker, dynamodb) to an
    endpoint URL override."""

    profile: str | None = None
    region: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    tunnel: Tunnel | None = None  # --via: Neptune through a local tunnel


def endpoint_overrides(values: Sequence[str]) -> dict[str, str]:
    """``[SERVICE=]URL`` values -> {service: url}; a bare URL applies to every service."""
    out: dict[str, str] = {}
    targets: tuple[str, ...]
    for value in values:
        service, sep, url = value.partition("=")
        if not sep or "://" in service:
            targets, url = ENDPOINT_SERVICES, value
        else:
            service = service.strip().lower()
            if service not in ENDPOINT_SERVICES:
                hint = " (Neptune: --neptune-endpoint, --via)" if service.startswith("neptune") else ""
                raise ConfigError(
                    "--endpoint-url", f"unknown service {service!r}{hint}; one of {', '.join(ENDPOINT_SERVICES)}"
                )
            targets = (service,)
        url = url.strip()
        if not _URL.match(url):
            raise ConfigError("--endpoint-url", f"must be a URL like http://127.0.0.1:5000, got {value!r}")
        out.update(dict.fromkeys(targets, url))
    return out


def _policy(args: argparse.Namespace) -> Policy:
    sweeping = args.command == "sweep"
    region = args.glue_region or args.region
    return Policy.build(
        kinds=args.kinds,
        neptune_endpoint=args.neptune_endpoint,
        neptune_iam_role_arn=args.neptune_iam_role_arn,
        glue_region=region,
        # A repeatable flag not given is None (not given); given blank it is an error.
        glue_transform_ids=args.glue_transform or None,
        glue_transform_name_prefix=args.glue_transform_prefix,
        glue_transform_tags=args.glue_transform_tag or None,
        job_id_prefix=args.id_prefix,
        job_ids=args.id or None,
        min_age=args.older_than,
        clean=sweeping and args.clean,
        dry_run=sweeping and args.dry_run,
        wait=not (sweeping and args.no_wait),
        max_wait=args.max_wait if sweeping else DEFAULT_MAX_WAIT_SECONDS,
        concurrency=args.concurrency,
        labels=FLAGS if args.glue_region or not args.region else {**FLAGS, "glue_region": "--region"},
    )


def _ages(args: argparse.Namespace, policy: Policy, session: Any, connection: Connection) -> tuple[Any, Any]:
    """(first-seen ledger, SageMaker dating) when --older-than needs them for Neptune ML jobs.
    ``list`` only reads the ledger: it never records a sighting."""
    if policy.min_age is None or not policy.kinds & ML_KINDS:
        return None, None
    from jobjanitor.clients import JOBS, TABLE, aws_client  # noqa: PLC0415
    from jobjanitor.sagemaker_dating import SageMakerDating  # noqa: PLC0415
    from jobjanitor.store.first_seen import DynamoDBFirstSeen  # noqa: PLC0415

    urls = connection.endpoints
    dating = SageMakerDating(aws_client("sagemaker", JOBS, session=session, endpoint_url=urls.get("sagemaker")))
    if not args.first_seen_table:
        return None, dating
    dynamodb: Any = aws_client("dynamodb", TABLE, session=session, endpoint_url=urls.get("dynamodb"))
    return DynamoDBFirstSeen(args.first_seen_table, client=dynamodb, read_only=args.command == "list"), dating


def signing_region(region: str | None, endpoint: str | None) -> str | None:
    """The region for the session: ``--region``, else the one a Neptune endpoint's host names
    (``<name>.cluster-<id>.<region>.neptune.amazonaws.com``: requests signed for any other
    region are refused, and its SageMaker jobs live there too), else None (the profile's)."""
    host = urlsplit(endpoint).hostname if endpoint else None
    match = _NEPTUNE_HOST.search(host or "")
    if match is None:
        return region
    if region is not None and region != match.group(1):
        raise ConfigError(
            "--region",
            f"{region!r}, but the Neptune endpoint is in {match.group(1)!r}: requests signed for another region "
            "are refused (leave --region out, or use --glue-region for Glue in another region)",
        )
    return match.group(1)


def _configure(connection: Connection) -> Callable[[Any], None] | None:
    tunnel = connection.tunnel
    if tunnel is None:
        return None

    def configure(client: Any) -> None:
        if client.meta.service_model.service_name == "neptunedata":
            attach_tunnel(client, tunnel)

    return configure


def _asks(args: argparse.Namespace) -> bool:
    """A live sweep without --yes asks first (see cli_confirm)."""
    return bool(args.command == "sweep" and not args.dry_run and not args.yes)


def _confirm(args: argparse.Namespace, policy: Policy, plan: Report) -> Policy | int:
    """Show the plan and ask (cli_confirm): the policy confined to the jobs shown, or the exit
    status when there is nothing to do or the answer is not yes."""
    if not planned_ids(plan):  # nothing to cancel or wait for: nothing to ask
        print(_rendered(plan, args), flush=True)
        return EXIT_OK if plan.ok else EXIT_PROBLEMS
    print(describe_plan(policy, plan), file=sys.stderr, flush=True)
    if not ask(sys.stdin, sys.stderr, *plan_counts(plan)):
        print("jobjanitor: not confirmed: nothing was cancelled", file=sys.stderr)
        return EXIT_PROBLEMS
    return confined_to_plan(policy, plan)  # only the jobs shown


def _rendered(report: Report, args: argparse.Namespace, cut_short_by: str | None = None) -> str:
    if not args.json:
        return report.render_table(cut_short_by=cut_short_by)
    data = report.to_dict()
    if args.command == "list":
        del data["dry_run"]  # a list is not a sweep, dry or live
    return json.dumps({"version": data.pop("version"), "command": args.command, **data}, indent=2)


def _usage_error(parser: argparse.ArgumentParser, flag: str, message: str) -> int:
    print(f"{parser.format_usage().rstrip()}\n{parser.prog}: error: argument {flag}: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (the console script exits with it)."""
    top, subparsers = parser()
    try:
        args = top.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version, bad flags
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    merge_globals(args)
    sub = subparsers[args.command]
    try:
        policy = _policy(args)
        require_writer(policy.neptune_endpoint, field="--neptune-endpoint")  # readers refuse cancels
        tunnel = parse_via(args.via, policy.neptune_endpoint) if args.via is not None else None
        region = signing_region(args.region, policy.neptune_endpoint)
        connection = Connection(args.profile, region, endpoint_overrides(args.endpoint_url or []), tunnel)
    except ConfigError as error:
        return _usage_error(sub, error.field, error.message)
    if _asks(args) and not sys.stdin.isatty():
        # Refused before anything is called: a destructive run must be explicit (cli_confirm).
        return _usage_error(sub, "--yes", NO_TERMINAL)
    try:
        return _run(args, sub, policy, connection)
    except KeyboardInterrupt:  # before the sweep started (imports, client set-up, the question)
        print("jobjanitor: interrupted before anything was done", file=sys.stderr)
        return EXIT_INTERRUPTED


def _setup(
    args: argparse.Namespace, sub: argparse.ArgumentParser, policy: Policy, connection: Connection
) -> tuple[dict[str, Any], float] | int:
    """The engine's clients and age sources, and the heartbeat interval; or a usage error's
    status (a profile, region or variable that does not work)."""
    import boto3  # noqa: PLC0415 - lazy: `jobjanitor --help` stays fast
    from botocore.exceptions import BotoCoreError, ProfileNotFound  # noqa: PLC0415

    from jobjanitor.cli_progress import heartbeat_seconds  # noqa: PLC0415
    from jobjanitor.clients import build_clients  # noqa: PLC0415

    try:
        heartbeat = heartbeat_seconds()
        session = boto3.session.Session(profile_name=connection.profile, region_name=connection.region)
        clients = build_clients(
            policy, session=session, endpoint_urls=connection.endpoints, configure=_configure(connection)
        )
    except ConfigError as error:
        return _usage_error(sub, error.field, error.message)
    except ProfileNotFound as error:
        return _usage_error(sub, "--profile", str(error))
    except BotoCoreError as error:  # e.g. no region for Glue
        return _usage_error(sub, "--region" if "region" in str(error).lower() else "--profile", str(error))
    first_seen, dating = _ages(args, policy, session, connection)
    return {"clients": clients, "first_seen": first_seen, "dating": dating}, heartbeat


def _run(args: argparse.Namespace, sub: argparse.ArgumentParser, policy: Policy, connection: Connection) -> int:
    from jobjanitor import engine  # noqa: PLC0415 - lazy: `jobjanitor --help` stays fast
    from jobjanitor.cli_progress import InterruptibleDeadline, ProgressDisplay  # noqa: PLC0415

    setup = _setup(args, sub, policy, connection)
    if isinstance(setup, int):
        return setup
    using, heartbeat = setup
    plan = None
    if _asks(args):
        with ProgressDisplay(sys.stderr, quiet=args.quiet, live=False).logs_only():
            # The sweep's own deadline runs from the answer.
            plan = engine.plan(policy, deadline=InterruptibleDeadline.after(WORK_SECONDS), **using)
        confirmed = _confirm(args, policy, plan)
        if isinstance(confirmed, int):
            return confirmed
        policy = confirmed
    return _work(args, policy, using, heartbeat, plan)


def _work(
    args: argparse.Namespace, policy: Policy, using: dict[str, Any], heartbeat: float, plan: Report | None
) -> int:
    """List, or sweep, showing progress; print the report; the exit status."""
    from jobjanitor import engine  # noqa: PLC0415
    from jobjanitor.cli_progress import InterruptibleDeadline, Interrupts, ProgressDisplay  # noqa: PLC0415

    deadline = InterruptibleDeadline.after(policy.max_wait + WORK_SECONDS)
    waits = args.command == "sweep" and policy.wait and not policy.dry_run
    display = ProgressDisplay(
        sys.stderr,
        quiet=args.quiet,
        heartbeat_s=heartbeat,
        deadline=deadline,
        max_wait=policy.max_wait if waits else math.inf,
    )
    interrupts = Interrupts(deadline, display)
    with interrupts.installed():
        with display:
            if args.command == "list":
                report = engine.plan(policy, deadline=deadline, **using)
            else:
                report = engine.sweep(policy, deadline=deadline, progress=display.progress, **using)
        report = with_plan(report, plan) if plan is not None else report
        if interrupts.interrupted_in is not None:
            report.errors.append(
                f"interrupted ({interrupts.by}) during {interrupts.interrupted_in}: this report is what was done until "
                "then; no cancel was sent after the interrupt (those jobs read 'deadline reached') and the wait was "
                "cut short"
            )
        # After the display has ended: its last line stays on screen, the report starts below it.
        print(_rendered(report, args, interrupts.by), flush=True)
    if interrupts.exit_status is not None:
        return interrupts.exit_status
    if args.command == "list":
        return EXIT_OK if not report.errors and not report.incomplete else EXIT_PROBLEMS
    return EXIT_OK if report.ok else EXIT_PROBLEMS
