"""Lifecycle knobs shared by the Neptune emulator and the Glue ML task-run extension.

A started job stays outstanding for ``job_duration`` seconds, then finishes on its own
(ML: Completed, loads: LOAD_COMPLETED, Glue: SUCCEEDED). A cancelled ML job or Glue run
shows its "stopping" status (Stopping / STOPPING) for ``stop_delay`` seconds, then its
stopped status (Stopped / STOPPED). Time comes from ``clock`` so tests can drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Lifecycle:
    job_duration: float = 3600.0
    stop_delay: float = 2.0
    # Glue runs report STARTING, and Neptune ML endpoints Creating, for this long before
    # RUNNING / InService.
    starting_delay: float = 0.5
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def now(self) -> float:
        return self.clock()


# The process-wide settings. moto's backends are process-global, so the Glue extension
# reads these; the Neptune emulator takes its own instance (defaulting to this one).
DEFAULT = Lifecycle()


def configure(**changes: object) -> Lifecycle:
    """Change the process-wide lifecycle in place (fields of :class:`Lifecycle`)."""
    for name, value in changes.items():
        if not hasattr(DEFAULT, name):
            raise AttributeError(f"Lifecycle has no setting {name!r}")
        setattr(DEFAULT, name, value)
    return DEFAULT
