"""Run the ``jobjanitor`` command as its own process (what an operator runs)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

TIMEOUT_S = 120  # a safety net for a hung process, not a speed goal


def cli_env(**changes: str | None) -> dict[str, str]:
    """This process's environment (the test bed's AWS variables included) with ``changes``
    applied; a None value removes the variable."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "jobjanitor", *args],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else cli_env(),
        timeout=TIMEOUT_S,
        check=False,
    )


def start_cli(*args: str, env: Mapping[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "jobjanitor", *args],
        stdout=kwargs.pop("stdout", subprocess.PIPE),  # type: ignore[arg-type]
        stderr=kwargs.pop("stderr", subprocess.PIPE),  # type: ignore[arg-type]
        text=True,
        env=dict(env) if env is not None else cli_env(),
        **kwargs,  # type: ignore[call-overload]
    )


PROMPT = "[y/N]"


def on_a_terminal(
    *argv: str,
    answer: str | None = None,
    before_answer: Callable[[], object] | None = None,
    timeout: float = 90.0,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """``python -m jobjanitor ARGV`` with stdin, stdout and stderr on one pseudo-terminal, as an
    operator runs it: the exit status and everything the terminal received. Types ``answer``
    when the question appears (after calling ``before_answer``)."""
    controller, terminal = os.openpty()
    proc = subprocess.Popen(  # noqa: S603 - our own command, fixed argv
        [sys.executable, "-m", "jobjanitor", *argv],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=dict(env) if env is not None else cli_env(),
        start_new_session=True,
    )
    os.close(terminal)
    output = b""
    answered = answer is None
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: the command closed the terminal (it exited)
                    break
                if not chunk:
                    break
                output += chunk
                if not answered and PROMPT.encode() in output:
                    if before_answer is not None:
                        before_answer()
                    os.write(controller, f"{answer}\n".encode())
                    answered = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    return code, output.decode(errors="replace")
