"""The ``jobjanitor`` command's flags, help text and exit statuses (the parser only).

Global flags (output, AWS connection) are accepted before or after the subcommand, as the AWS
CLI accepts them: defined once, added to the top-level parser (with defaults) and to each
subcommand (dest suffixed, default suppressed), then merged by :func:`merge_globals`: a flag
after the subcommand wins, repeatable flags accumulate from both places.
"""

from __future__ import annotations

import argparse
from typing import Any

from jobjanitor import __version__
from jobjanitor.model import JobKindName
from jobjanitor.policy import DEFAULT_CONCURRENCY, DEFAULT_MAX_WAIT_SECONDS

__all__ = [
    "ENDPOINT_SERVICES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "merge_globals",
    "parser",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
# Services a --endpoint-url override may name (Neptune has --neptune-endpoint and --via).
ENDPOINT_SERVICES = ("glue", "sagemaker", "dynamodb")

EXIT_STATUS = f"""\
exit status:
  {EXIT_OK}    everything in scope was done: cancelled (and stopped, unless --no-wait), or listed
  {EXIT_PROBLEMS}    a listing, describe or cancel failed after retries, a listing hit its cap and
       could not see every job, a job could not be dated, or jobs were still running at the
       deadline (the report says which and why); or a live sweep was not confirmed (any
       answer but y/yes): nothing was cancelled
  {EXIT_USAGE}    bad flags (the message names the flag), or a live sweep with no terminal to ask
       on and without --yes: nothing was called
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C): the report of what was done so far is printed;
       a second Ctrl-C exits at once without it
  {EXIT_TERMINATED}  terminated (SIGTERM: CI cancelling the job, a pod stopping): as Ctrl-C"""

EXAMPLES = """\
examples:
  # what would a sweep touch? (read-only)
  jobjanitor list --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182

  # Neptune ML jobs of one pipeline older than 6 hours, and a Glue transform's task runs: dry run
  jobjanitor sweep --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182 \\
      --kinds all --id-prefix ml-pipeline- --glue-transform tfm-0123 --older-than 6h --dry-run

  # cancel, clean up Neptune ML artifacts, wait up to 15 minutes, JSON report (flags go anywhere)
  jobjanitor --json sweep --neptune-endpoint https://…:8182 --id-prefix ml-pipeline- --clean --max-wait 900

  # the same from CI: no terminal to ask on, so --yes; the report to a file, progress on stderr
  jobjanitor sweep --neptune-endpoint https://…:8182 --id-prefix ml-pipeline- --yes --json > report.json

  # from a laptop, through an SSM port forward or SSH tunnel on localhost:8182 (see docs/cli.md)
  jobjanitor list --neptune-endpoint https://my-db.cluster-abc.us-east-1.neptune.amazonaws.com:8182 \\
      --via https://localhost:8182 --profile ops --region us-east-1

  # against local stand-ins (e.g. the test bed): every AWS service, or one of them
  jobjanitor list --endpoint-url http://127.0.0.1:5000 --glue-transform-prefix jj-
  jobjanitor list --endpoint-url glue=http://127.0.0.1:5000 --glue-transform-prefix jj-"""

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
        if "action" not in kwargs and "metavar" not in kwargs:
            extra["metavar"] = dest.upper()  # not the suffixed dest: --profile PROFILE
        group.add_argument(*flags, **kwargs, **extra)


def merge_globals(args: argparse.Namespace) -> None:
    """Fold the global flags given after the subcommand into those given before it."""
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


def _scope_flags() -> argparse.ArgumentParser:
    kinds = ", ".join(k.value for k in JobKindName)
    scope_parent = argparse.ArgumentParser(add_help=False)
    scope = scope_parent.add_argument_group("what to look at")
    scope.add_argument(
        "--kinds",
        metavar="LIST",
        help="comma-separated job kinds, or 'all'. Default: the Neptune kinds when "
        "--neptune-endpoint is given (without neptune-loader when --id-prefix/--id narrow the scope: load ids "
        "are Neptune's, a prefix cannot select them) plus glue-ml-task-run when a --glue-transform* flag is "
        f"given. Kinds: {kinds}. neptune-ml-endpoint (inference endpoints, deleted by a sweep) is only ever "
        "named, never a default nor part of 'all', and needs --id-prefix, --id or --id-prefix '*'",
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
        "--older-than",
        metavar="AGE",
        help="only jobs started at least this long ago (90s, 15m, 2h, 1d). Neptune ML jobs carry no start "
        "time: each is dated by the first SageMaker job doing its work (one sagemaker:Describe*Job call per job)",
    )
    scope.add_argument(
        "--first-seen-table",
        metavar="TABLE",
        help="DynamoDB table (partition key id, e.g. the deployed sweeper's) recording when Neptune ML jobs were "
        "first seen: with --older-than, a job that names no SageMaker job yet (still starting) is aged from its "
        "first sighting there (a lower bound) instead of being skipped as age_unknown. `list` only reads it",
    )
    scope.add_argument(
        "--id-prefix",
        metavar="PREFIX",
        help="only Neptune ML jobs (and inference endpoints) whose id starts so; '*': every id, explicitly",
    )
    scope.add_argument("--id", action="append", default=[], metavar="ID", help="only these job ids (repeatable)")
    scope.add_argument(
        "--concurrency", default=str(DEFAULT_CONCURRENCY), metavar="N", help="parallel calls (default 16)"
    )
    return scope_parent


def _sweep_flags(sweep: argparse.ArgumentParser) -> None:
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


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and the subcommands' parsers by name (their usage names a bad flag)."""
    scope_parent = _scope_flags()
    formatter = argparse.RawDescriptionHelpFormatter
    top = argparse.ArgumentParser(
        prog="jobjanitor",
        description="Cancel Neptune ML, Neptune bulk-loader and Glue ML task-run jobs, from a laptop or CI.\n"
        "`jobjanitor list` only reads; `jobjanitor sweep` cancels (--dry-run: reads only).",
        epilog=f"{EXAMPLES}\n\n{EXIT_STATUS}\n\n`jobjanitor list --help`, `jobjanitor sweep --help`: every flag.",
        formatter_class=formatter,
    )
    top.add_argument("--version", action="version", version=f"jobjanitor {__version__}")
    _add_globals(top, after=False)
    sub = top.add_subparsers(dest="command", required=True, metavar="{list,sweep}")
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
    _sweep_flags(sweep)
    return top, {"list": listing, "sweep": sweep}
