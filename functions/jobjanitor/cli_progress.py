"""What the CLI shows on stderr while it works (not imported by the Lambda handlers)."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from jobjanitor.engine import ProgressEvent


class ProgressDisplay:
    """One line per engine event on ``stream``; warnings of the ``jobjanitor`` loggers too."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet

    def progress(self, event: ProgressEvent) -> None:
        if not self.quiet:
            print(f"jobjanitor: {event.message()}", file=self.stream, flush=True)

    def __enter__(self) -> ProgressDisplay:
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
