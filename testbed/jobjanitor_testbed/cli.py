"""``jobjanitor-testbed``: run the Neptune emulator and moto's server until SIGINT/SIGTERM.

Prints exactly two lines, ``neptune=http://127.0.0.1:PORT`` and ``aws=http://127.0.0.1:PORT``,
then serves until interrupted (exit status 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

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
    p.add_argument("--seed", type=int, default=None, help="seed for the fault draws")
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
        seed=args.seed,
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
        print(f"neptune={bed.neptune_url}", flush=True)
        print(f"aws={bed.aws_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        bed.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
