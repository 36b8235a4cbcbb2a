"""Run the ``jobjanitor`` command as its own process (what an operator runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

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
