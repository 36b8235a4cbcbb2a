"""The ``jobjanitor`` command (also ``python -m jobjanitor``): list and sweep from a laptop or CI.

Global flags (output, AWS connection) are accepted before or after the subcommand, as the AWS
CLI accepts them; the scope flags belong to the subcommand. Exit status: see ``EXIT_STATUS``.
Nothing here is imported by the Lambda handlers.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jobjanitor import __version__
from jobjanitor.cli_confirm import NO_TERMINAL, ask, confined_to_plan, describe_plan, planned_ids
from jobjanitor.errors import ConfigError
from jobjanitor.model import JobKindName
from jobjanitor.policy import DEFAULT_CONCURRENCY, DEFAULT_MAX_WAIT_SECONDS, Policy
from jobjanitor.report import Report
from jobjanitor.tunnel import Tunnel, attach_tunnel, parse_via

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

ML_KINDS = frozenset(k for k in JobKindName if k.value.startswith("neptune-ml-"))
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
# Discovery and cancels get this long on top of --max-wait before the run gives up.
WORK_SECONDS = 300
# Services a --endpoint-url override may name (Neptune has --neptune-endpoint and --via).
ENDPOINT_SERVICES = ("glue", "sagemaker", "dynamodb")
_NEPTUNE_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.neptune\.amazonaws\.com(?:\.cn)?$")
_URL = re.compile(r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")

EXIT_STATUS = f"""\
exit status:
  {EXIT_OK}    everything in scope was done: cancelled (and stopped, unless --no-wait), or listed
  {EXIT_PROBLEMS}    a listing, describe or cancel failed after retries, a listing hit its cap and
       could not see every job, a job could not be dated, or jobs were still running at the
       deadline (the report says which and why)
  {EXIT_USAGE}    bad flags (the message names the flag); nothing was called
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): the report of what was done so far is printed;
       a second Ctrl-C exits at once without it"""

EXAMPLES = """\
examples:
  # what would a sweep touch? (read-only)
  jobjanitor list --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182

  # Neptune ML jobs of one pipeline older than 6 hours, and a Glue transform's task runs: dry run
  jobjanitor sweep --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182 \\
      --kinds all --id-prefix ml-pipeline- --glue-transform tfm-0123 --older-than 6h --dry-run

  # cancel, clean up Neptune ML artifacts, wait up to 15 minutes, JSON report (flags go anywhere)
  jobjanitor --json sweep --neptune-endpoint https://…:8182 --id-prefix ml-pipeline- --clean --max-wait 900

  # from a laptop, through an SSM port forward or SSH tunnel on localhost:8182 (see docs/cli.md)
  jobjanitor list --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182 \\
      --via https://localhost:8182 --profile ops --region us-east-1

  # against local stand-ins (e.g. the test bed): every AWS service, or one of them
  jobjanitor list --endpoint-url http://127.0.0.1:5000 --glue-transform-prefix jj-
  jobjanitor list --endpoint-url glue=http://127.0.0.1:5000 --glue-transform-prefix jj-"""

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

# The global flags: (flags, argparse keywords). Defined once, added to the top-level parser
# (with defaults) and to each subcommand (dest suffixed, default suppressed), then merged:
# a flag after the subcommand wins, repeatable flags accumulate from both places.
_SUB = "__after"
_GLOBALS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--json",), {"action": "store_true", "help": "print the report as JSON (stdout); progress stays on stderr"}),
    (("--quiet", "-q"), {"action": "store_true", "help": "nothing on stderr but errors: no progress, no warnings"}),
    (
        ("--profile",),
        {
            "help": "AWS profile for every AWS call: Glue, SageMaker, DynamoDB, and the SigV4 signature of "
            "Neptune requests (default: the standard boto3 credential chain)",
        },
    ),
    (
        ("--region",),
        {
            "help": "AWS region for every AWS call: Glue, SageMaker, DynamoDB, and the region Neptune requests "
            "are signed for (default: the region a *.neptune.amazonaws.com endpoint names, else the profile's "
            "or AWS_REGION/AWS_DEFAULT_REGION)",
        },
    ),
    (
        ("--endpoint-url",),
        {
            "action": "append",
            "metavar": "[SERVICE=]URL",
            "help": f"send one service's calls to URL ({', '.join(ENDPOINT_SERVICES)}), or every AWS service's "
            "without SERVICE= (local stand-ins, tests); repeatable. Neptune: --neptune-endpoint/--via",
        },
    ),
    (
        ("--neptune-endpoint",),
        {"metavar": "URL", "help": "the Neptune cluster's endpoint, https://host:8182 (what requests are signed for)"},
    ),
    (
        ("--via",),
        {
            "metavar": "URL",
            "help": "reach --neptune-endpoint through a tunnel at URL (https://localhost:8182): requests go to the "
            "tunnel, signed and TLS-verified for the cluster's own host name (docs/cli.md)",
        },
    ),
    (
        ("--neptune-iam-role-arn",),
        {"metavar": "ARN", "help": "passed as neptuneIamRoleArn on Neptune ML calls"},
    ),
)


def _add_globals(parser: argparse.ArgumentParser, *, after: bool) -> None:
    group = parser.add_argument_group("global flags (before or after the subcommand)")
    for flags, kwargs in _GLOBALS:
        dest = flags[0].lstrip("-").replace("-", "_")
        extra: dict[str, Any] = {"dest": dest + _SUB, "default": argparse.SUPPRESS} if after else {"dest": dest}
        group.add_argument(*flags, **kwargs, **extra)


def _merge_globals(args: argparse.Namespace) -> None:
    for name, value in list(vars(args).items()):
        if not name.endswith(_SUB):
            continue
        dest = name.removesuffix(_SUB)
        before = getattr(args, dest, None)
        if isinstance(value, list):
            setattr(args, dest, [*(before or []), *value])
        elif isinstance(value, bool):
            setattr(args, dest, bool(before) or value)
        else:
            setattr(args, dest, value)
        delattr(args, name)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    kinds = ", ".join(k.value for k in JobKindName)
    scope_parent = argparse.ArgumentParser(add_help=False)
    scope = scope_parent.add_argument_group("what to look at")
    scope.add_argument(
        "--kinds",
        metavar="LIST",
        help=f"comma-separated job kinds, or 'all': {kinds}. Default: the Neptune kinds when "
        "--neptune-endpoint is given (without neptune-loader when --id-prefix/--id narrow the scope: load ids "
        "are Neptune's, a prefix cannot select them) plus glue-ml-task-run when a --glue-transform* flag is given",
    )
    scope.add_argument(
        "--glue-transform", action="append", default=[], metavar="ID", help="Glue ML transform id (repeatable)"
    )
    scope.add_argument("--glue-transform-prefix", metavar="PREFIX", help="Glue ML transforms whose name starts so")
    scope.add_argument(
        "--glue-transform-tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Glue ML transforms with this tag (repeatable)",
    )
    scope.add_argument("--glue-region", metavar="REGION", help="Glue's region when it differs from --region")
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
    scope.add_argument(
        "--concurrency", default=str(DEFAULT_CONCURRENCY), metavar="N", help="parallel calls (default 16)"
    )

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="jobjanitor",
        description="Cancel Neptune ML, Neptune bulk-loader and Glue ML task-run jobs, from a laptop or CI.\n"
        "`jobjanitor list` only reads; `jobjanitor sweep` cancels (--dry-run: reads only).",
        epilog=f"{EXAMPLES}\n\n{EXIT_STATUS}\n\n`jobjanitor list --help`, `jobjanitor sweep --help`: every flag.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"jobjanitor {__version__}")
    _add_globals(parser, after=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,sweep}")
    listing = sub.add_parser(
        "list",
        parents=[scope_parent],
        help="show the jobs in scope and what a sweep would do (read-only)",
        description="List the jobs in scope and what a sweep would do. Only reads: nothing is cancelled "
        "and nothing is written.",
        epilog=f"{EXAMPLES}\n\n{EXIT_STATUS}",
        formatter_class=formatter,
    )
    sweep = sub.add_parser(
        "sweep",
        parents=[scope_parent],
        help="cancel the jobs in scope and wait for them to stop",
        description="Cancel the outstanding jobs in scope, then wait until they have stopped "
        "(at most --max-wait). Progress on stderr, the report on stdout.",
        epilog=f"{EXAMPLES}\n\n{EXIT_STATUS}",
        formatter_class=formatter,
    )
    for subparser in (listing, sweep):
        _add_globals(subparser, after=True)
    actions = sweep.add_argument_group("sweeping")
    actions.add_argument("--dry-run", action="store_true", help="show what would be cancelled; cancel nothing")
    actions.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="do not ask: a live sweep otherwise shows what it will cancel and asks on the terminal "
        "(without a terminal, it refuses unless --yes is given)",
    )
    actions.add_argument("--clean", action="store_true", help="Neptune ML: clean up the job's artifacts (clean=true)")
    actions.add_argument("--no-wait", action="store_true", help="do not wait for cancelled jobs to stop")
    actions.add_argument(
        "--max-wait",
        default=str(DEFAULT_MAX_WAIT_SECONDS),
        metavar="SECONDS",
        help=f"wait at most this long for jobs to stop (default {DEFAULT_MAX_WAIT_SECONDS})",
    )
    return parser, {"list": listing, "sweep": sweep}


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
    from jobjanitor.sagemaker_dating import SageMakerDating  # noqa: PLC0415

    dating = SageMakerDating(session.client("sagemaker", endpoint_url=connection.endpoints.get("sagemaker")))
    first_seen = None
    if args.first_seen_table:
        from jobjanitor.ages import DynamoDBFirstSeen  # noqa: PLC0415

        dynamodb: Any = session.client("dynamodb", endpoint_url=connection.endpoints.get("dynamodb"))
        first_seen = DynamoDBFirstSeen(args.first_seen_table, client=dynamodb, read_only=args.command == "list")
    return first_seen, dating


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
        print(plan.to_json(indent=2) if args.json else plan.render_table(), flush=True)
        return EXIT_OK if plan.ok else EXIT_PROBLEMS
    print(describe_plan(policy, plan), file=sys.stderr, flush=True)
    if not ask(sys.stdin, sys.stderr, len(planned_ids(plan))):
        print("jobjanitor: not confirmed: nothing was cancelled", file=sys.stderr)
        return EXIT_PROBLEMS
    return confined_to_plan(policy, plan)  # only the jobs shown


def _usage_error(parser: argparse.ArgumentParser, flag: str, message: str) -> int:
    print(f"{parser.format_usage().rstrip()}\n{parser.prog}: error: argument {flag}: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (the console script exits with it)."""
    parser, subparsers = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version, bad flags
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    _merge_globals(args)
    sub = subparsers[args.command]
    try:
        policy = _policy(args)
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
    except KeyboardInterrupt:  # before the sweep started (imports, client set-up): nothing was done
        print("jobjanitor: interrupted before anything was done", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(  # noqa: PLR0911 - one return per outcome: a flag error, an unconfirmed sweep, the report
    args: argparse.Namespace, sub: argparse.ArgumentParser, policy: Policy, connection: Connection
) -> int:
    import boto3  # noqa: PLC0415 - lazy: `jobjanitor --help` stays fast
    from botocore.exceptions import BotoCoreError, ProfileNotFound  # noqa: PLC0415

    from jobjanitor import engine  # noqa: PLC0415
    from jobjanitor.cli_progress import (  # noqa: PLC0415
        InterruptibleDeadline,
        Interrupts,
        ProgressDisplay,
        heartbeat_seconds,
    )
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
    if _asks(args):
        plan = engine.list_jobs(
            policy,
            deadline=InterruptibleDeadline.after(WORK_SECONDS),  # the sweep's deadline runs from the answer
            clients=clients,
            first_seen=first_seen,
            dating=dating,
        )
        confirmed = _confirm(args, policy, plan)
        if isinstance(confirmed, int):
            return confirmed
        policy = confirmed
    deadline = InterruptibleDeadline.after(policy.max_wait + WORK_SECONDS)
    display = ProgressDisplay(
        sys.stderr, quiet=args.quiet, heartbeat_s=heartbeat, deadline=deadline, max_wait=policy.max_wait
    )
    interrupts = Interrupts(deadline, display, EXIT_INTERRUPTED)
    with interrupts.installed(), display:
        if args.command == "list":
            report = engine.list_jobs(policy, deadline=deadline, clients=clients, first_seen=first_seen, dating=dating)
        else:
            report = engine.sweep(
                policy,
                deadline=deadline,
                clients=clients,
                progress=display.progress,
                first_seen=first_seen,
                dating=dating,
            )
        if interrupts.interrupted_in is not None:
            report.errors.append(
                f"interrupted (Ctrl-C) during {interrupts.interrupted_in}: this report is what was done until then; "
                "no cancel was sent after the interrupt (those jobs read 'deadline reached') and the wait was cut short"
            )
        print(report.to_json(indent=2) if args.json else report.render_table(), flush=True)
    if interrupts.interrupted_in is not None:
        return EXIT_INTERRUPTED
    if args.command == "list":
        return EXIT_OK if not report.errors and not report.incomplete else EXIT_PROBLEMS
    return EXIT_OK if report.ok else EXIT_PROBLEMS
