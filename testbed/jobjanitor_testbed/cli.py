"""``jobjanitor-testbed``: run the Neptune emulator and moto's server until SIGINT/SIGTERM.

Prints ``neptune=http://127.0.0.1:PORT`` and ``aws=http://127.0.0.1:PORT`` (and a
``cluster=NAME`` line per ``--cluster``), each a shell assignment, then serves until
interrupted (exit status 0).

- ``--seed N``: start N jobs of every kind first (see :mod:`jobjanitor_testbed.seeding`); a
  summary goes to stderr.
- ``--clock START``: run on a clock that stands still at START (epoch seconds, ISO 8601 or
  ``now``) and moves only when told: ``POST /testbed/clock`` on the Neptune URL with
  ``{"advance": seconds}`` or ``{"set": epoch}``; ``GET /testbed/clock`` reads it. Jobs then
  age without anyone sleeping.
- ``--cluster NAME``: a stand-in Neptune cluster NAME in moto (the management API) whose
  cluster endpoint is the emulator, as an install's ``JOBJANITOR_NEPTUNE_CLUSTERS`` names it
  (also ``POST /testbed/clusters`` later: :mod:`jobjanitor_testbed.control`).
- ``--background``: start it detached and return once it serves, printing its lines and
  ``pid=PID`` (``kill PID`` stops it): no race in a script between starting it and using it.

The test bed needs moto, which ``pip install 'jobjanitor[testbed]'`` installs; without it
this command says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

NO_MOTO = (
    "jobjanitor-testbed: the test bed needs moto, which the 'testbed' extra installs: "
    "pip install 'jobjanitor[testbed]' (or uv tool install 'jobjanitor[testbed]'); "
    "the jobjanitor CLI works without it"
)
_CLUSTER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100000, got {value}")
    return value


def _clock_start(text: str) -> float:
    if text == "now":
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds, ISO 8601 or 'now': {text!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _cluster(text: str) -> str:
    if not _CLUSTER_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"not a Neptune cluster identifier (a letter, then letters, digits, -): {text!r}"
        )
    return text


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (0 picks a free port), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jobjanitor-testbed",
        description="Local Neptune data API emulator + moto server (Glue ML task runs) with fault injection.",
    )
    p.add_argument("--latency-ms", type=_non_negative, default=0.0, help="milliseconds added to every request")
    p.add_argument("--throttle-rate", type=_rate, default=0.0, help="fraction of requests throttled (0-1)")
    p.add_argument("--error-rate", type=_rate, default=0.0, help="fraction of requests failing with a 500 (0-1)")
    p.add_argument("--drop-rate", type=_rate, default=0.0, help="fraction of connections dropped unanswered (0-1)")
    p.add_argument("--fault-seed", type=int, default=None, help="seed for the fault draws")
    p.add_argument("--seed", type=_count, default=0, metavar="N", help="start N jobs of every kind (some old)")
    p.add_argument(
        "--clock",
        type=_clock_start,
        default=None,
        metavar="START",
        help="a clock standing at START (epoch seconds, ISO 8601 or 'now'), moved by POST /testbed/clock",
    )
    p.add_argument("--job-duration", type=_non_negative, default=3600.0, help="seconds a started job runs")
    p.add_argument("--stop-delay", type=_non_negative, default=2.0, help="seconds a cancelled job is stopping")
    p.add_argument(
        "--iam",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="verify the SigV4 signature of every Neptune request (as IAM DB authentication does) and every "
        "Glue request (default; --no-iam turns both off and accepts unsigned requests)",
    )
    p.add_argument(
        "--ml-not-found-404",
        action="store_true",
        help="Neptune ML: unknown/finished ids give 404 MLResourceNotFoundException (default: 400 InvalidParameter)",
    )
    p.add_argument("--neptune-port", type=_port, default=0, help="0 picks a free port")
    p.add_argument("--aws-port", type=_port, default=0, help="0 picks a free port")
    p.add_argument(
        "--cluster",
        type=_cluster,
        action="append",
        default=[],
        metavar="NAME",
        help="a stand-in Neptune cluster NAME whose endpoint is the emulator (repeatable); prints cluster=NAME",
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="start detached; return once serving, printing the endpoints and pid=PID (kill PID stops it)",
    )
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)  # the --background child
    return p


def _background(argv: Sequence[str]) -> int:
    """Start this command again, detached, and return once it serves (it prints pid=PID last)."""
    child_args = [a for a in argv if a != "--background"]
    child = subprocess.Popen(  # noqa: S603 - this very command, with the arguments it was given
        [sys.executable, "-m", "jobjanitor_testbed", *child_args, "--detached"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # not stopped with this shell's job or terminal
    )
    assert child.stdout is not None  # noqa: S101 - PIPE given
    assert child.stderr is not None  # noqa: S101 - PIPE given
    lines = []
    for line in child.stdout:  # the child closes its stdout and stderr once it serves
        lines.append(line)
    sys.stderr.write(child.stderr.read())
    if not lines or not lines[-1].startswith("pid="):
        return child.wait()
    sys.stdout.write("".join(lines))
    return 0


def _detach_output() -> None:
    """The --background child: nothing more on the pipes its parent reads (it has returned)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.dup2(devnull, sys.stderr.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if importlib.util.find_spec("moto") is None:
        print(NO_MOTO, file=sys.stderr)
        return 2
    if args.background:
        return _background(argv)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from .clock import FakeClock  # noqa: PLC0415 - moto (through the server) only once it is known installed
    from .control import Control  # noqa: PLC0415
    from .seeding import seed_jobs  # noqa: PLC0415
    from .server import TestBed  # noqa: PLC0415

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    bed = TestBed(
        job_duration=args.job_duration,
        stop_delay=args.stop_delay,
        latency=args.latency_ms / 1000.0,
        throttle_rate=args.throttle_rate,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        seed=args.fault_seed,
        clock=None if args.clock is None else FakeClock(args.clock),
        iam=args.iam,
        ml_not_found_style="404" if args.ml_not_found_404 else "400",
        neptune_port=args.neptune_port,
        aws_port=args.aws_port,
    )
    try:
        bed.start()
    except OSError as exc:
        print(f"jobjanitor-testbed: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        control = Control(bed)
        for name in args.cluster:
            control.cluster({"name": name})
        if args.seed:
            print(f"jobjanitor-testbed: {seed_jobs(bed, args.seed).summary()}", file=sys.stderr, flush=True)
        print(f"neptune={bed.neptune_url}", flush=True)
        print(f"aws={bed.aws_url}", flush=True)
        for name in args.cluster:
            print(f"cluster={name}", flush=True)
        if args.detached:
            print(f"pid={os.getpid()}", flush=True)
            _detach_output()
        while not stop.wait(0.5):
            pass
    finally:
        bed.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
