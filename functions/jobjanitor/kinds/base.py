"""The interface every job kind implements, and helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from jobjanitor.model import CancelResult, JobKindName, JobRef, JobState


@dataclass
class Discovery:
    """What a kind's discover() found: job refs, plus warnings (a list came back full, a
    transform could not be listed) that end up in the report."""

    refs: list[JobRef] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class JobKind(Protocol):
    """One kind of job. Implementations are cheap to create (one per sweep) and thread-safe
    (describe and cancel run on a thread pool; boto3 clients are thread-safe)."""

    name: JobKindName

    def discover(self) -> Discovery:
        """Every job of this kind the APIs can see (finished ones too where the API lists
        them). Raises on a failure that leaves nothing listed."""
        ...

    def describe(self, ref: JobRef) -> JobState:
        """The job's status now; ``status=None`` when the service does not know it. Raises
        ``botocore`` errors other than not-found."""
        ...

    def cancel(self, ref: JobRef, clean: bool) -> CancelResult:
        """Ask the service to stop the job. Never raises for service errors: they become
        ``CancelResult(Outcome.FAILED, error=...)``."""
        ...

    def is_finished(self, status: str) -> bool:
        """True for a terminal status."""
        ...

    def is_stopping(self, status: str) -> bool:
        """True while a stop is already under way (no cancel needed, only waiting)."""
        ...


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def error_text(error: BaseException, limit: int = 300) -> str:
    """``Code: message`` for a report, bounded in length."""
    code = error_code(error)
    response = getattr(error, "response", None)
    message = ""
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or "")
    if not message:
        message = str(error)
    text = f"{code}: {message}" if message and code not in message[: len(code) + 1] else message or code
    return text if len(text) <= limit else text[: limit - 1] + "…"


def epoch_to_datetime(value: object) -> datetime | None:
    """Epoch seconds (or milliseconds, if the number is that large) -> aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
