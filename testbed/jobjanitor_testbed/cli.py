"""``jobjanitor-testbed``: run the Neptune emulator and moto's server until SIGINT/SIGTERM.

Prints exactly two lines, ``neptune=http://127.0.0.1:PORT`` and ``aws=http://127.0.0.1:PORT``,
then serves until interrupted (exit status 0).

- ``--seed N``: start N jobs of every kind first (see :mod:`jobjanitor_testbed.seeding`); a
  summary goes to stderr.
- ``--clock START``: run on a clock that stands still at START (epoch seconds, ISO 8601 or
  ``now``) and moves only when told: ``POST /testbed/clock`` on the Neptune URL with
  ``{"advance": seconds}`` or ``{"set": epoch}``; ``GET /testbed/clock`` reads it. Jobs then
  age without anyone sleeping.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from .clock import FakeClock
from .seeding import seed_jobs
from .server import TestBed


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
    p.add_argument("--iam", action="store_true", help="Neptune: reject requests not SigV4-signed for neptune-db")
    p.add_argument(
        "--ml-not-found-404",
        action="store_true",
        help="Neptune ML: unknown/finished ids give 404 MLResourceNotFoundException (default: 400 InvalidParameter)",
    )
    p.add_argument("--neptune-port", type=_port, default=0, help="0 picks a free port")
    p.add_argument("--aws-port", type=_port, default=0, help="0 picks a free port")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        if args.seed:
            print(f"jobjanitor-testbed: {seed_jobs(bed, args.seed).summary()}", file=sys.stderr, flush=True)
        print(f"neptune={bed.neptune_url}", flush=True)
        print(f"aws={bed.aws_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        bed.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
