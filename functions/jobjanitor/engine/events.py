"""The engine's progress events, and the one place they are logged and handed on.

No Powertools here (the engine also runs from a laptop): stdlib logging under
``jobjanitor.engine``, plus the caller's ``progress`` callback, which presents each event (a
structured log line in Lambda, a line on stderr in the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from jobjanitor.model import JobKindName, Outcome

log = logging.getLogger("jobjanitor.engine")


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One action on one job. ``action``: cancel, dry-run, stopped, still-running, describe.
    ``billing``: what SageMaker says of the bill once Neptune says stopped (jobjanitor.billing)."""

    kind: JobKindName
    job_id: str
    action: str
    outcome: str | None = None
    status: str | None = None
    error: str | None = None
    billing: str | None = None

    def message(self) -> str:
        text = f"{self.action} {self.kind} {self.job_id}"
        if self.outcome:
            text += f": {self.outcome}"
        if self.status:
            text += f" ({self.status})"
        if self.error:
            text += f": {self.error}"
        if self.billing:
            text += f"; {self.billing}"
        return text

    def log_fields(self) -> dict[str, str]:
        fields = {"kind": self.kind.value, "job_id": self.job_id, "action": self.action}
        for name in ("outcome", "status", "error", "billing"):
            value = getattr(self, name)
            if value:
                fields[name] = str(value)
        return fields


@dataclass(frozen=True, slots=True)
class PhaseEvent:
    """A phase starts or ends: discover, select, cancel, wait, retry, done."""

    phase: str
    message_text: str
    count: int | None = None

    def message(self) -> str:
        return f"[{self.phase}] {self.message_text}"

    def log_fields(self) -> dict[str, str]:
        fields = {"phase": self.phase}
        if self.count is not None:
            fields["count"] = str(self.count)
        return fields


ProgressEvent = JobEvent | PhaseEvent
Progress = Callable[[ProgressEvent], None]
Emit = Callable[[ProgressEvent], None]


def emitter(progress: Progress | None) -> Emit:
    """An :data:`Emit` that logs each event and hands it to ``progress``. With a progress sink,
    the log line is DEBUG (the sink presents the event: logging it here too would print every
    action twice); without one, INFO (WARNING for a failure). A broken sink never stops a run."""

    def emit(event: ProgressEvent) -> None:
        if progress is not None:
            log.debug(event.message())
        elif isinstance(event, JobEvent) and event.outcome == Outcome.FAILED.value:
            log.warning(event.message())
        else:
            log.info(event.message())
        if progress is not None:
            try:
                progress(event)
            except Exception:  # a broken progress sink must not stop a sweep
                log.exception("progress callback failed")

    return emit
