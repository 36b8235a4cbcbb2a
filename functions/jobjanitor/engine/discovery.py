"""Listing the kinds of one run, and listing again past a listing's cap.

Discovery runs in parallel where the API allows: each kind's lists at once on the run's pool,
and a kind may fan out its own independent lists through the ``fan_out`` it is given, as Glue
does per transform and status. No API pages past a full listing (``ListLoaderJobs`` 100 ids,
``ListML*Jobs`` 1,024, finished jobs included): a capped kind is remembered, with what its
listing said, until a later listing of it is not full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from jobjanitor.engine.events import Emit, PhaseEvent, log
from jobjanitor.kinds.base import error_text
from jobjanitor.model import JobKindName, JobRef, JobResult, JobState, Outcome

if TYPE_CHECKING:
    from jobjanitor.engine.run import Pool
    from jobjanitor.kinds.base import JobKind
    from jobjanitor.report import Report


class Listings:
    """What the run's listings saw: the refs (returned), the states a listing gave with them
    (handed over once, by :meth:`listed_state`), and the kinds whose listing hit its cap."""

    def __init__(self, kinds: Mapping[JobKindName, JobKind], pool: Pool, emit: Emit) -> None:
        self._kinds = kinds
        self._pool = pool
        self._emit = emit
        self._states: dict[JobRef, JobState] = {}
        # Kinds whose listing hit its cap (no paging: older jobs unseen), with what it said.
        self._capped: dict[JobKindName, list[str]] = {}
        self._listed_once = False

    def discover(self, report: Report, kinds: Sequence[JobKind] | None = None) -> list[JobRef]:
        """List ``kinds`` (default: all). A kind whose listing fails is an error in ``report``
        (the others go on); a kind's warnings go to ``report`` too."""
        kinds = list(self._kinds.values()) if kinds is None else list(kinds)
        again = "again " if self._listed_once else ""
        self._listed_once = True
        self._emit(PhaseEvent("discover", f"listing {again}{', '.join(k.name for k in kinds)}", len(kinds)))
        futures = [self._pool.submit(partial(kind.discover, self._pool.fan_out)) for kind in kinds]
        refs: list[JobRef] = []
        for kind, future in zip(kinds, futures, strict=True):
            try:
                found = future.result()
            except Exception as error:  # any failure listing one kind: report it, go on with the rest
                text = f"{kind.name}: listing failed: {error_text(error)}"
                log.warning(text)
                report.errors.append(text)
                continue
            for warning in found.warnings:
                log.warning(warning)
                report.warnings.append(warning)
            if found.capped:
                for text in found.capped:
                    log.warning(text)
                self._capped[kind.name] = list(found.capped)
            else:
                self._capped.pop(kind.name, None)
            refs.extend(found.refs)
            self._states.update(found.states)
        self._emit(PhaseEvent("discover", f"{len(refs)} job(s) listed", len(refs)))
        return refs

    def relist_capped(self, report: Report) -> list[JobRef]:
        """The capped kinds listed again."""
        return self.discover(report, [self._kinds[name] for name in self._capped])

    def relisting_helps(self, decided: Iterable[JobResult]) -> bool:
        """A kind at its cap of which ``decided`` (the jobs decided since its last listing)
        cancelled some: they may have fallen off the list, or stopped taking its places (queued
        loads), so a new listing may show jobs the last one hid."""
        return any(r.outcome is Outcome.CANCELLED and r.ref.kind in self._capped for r in decided)

    def listed_state(self, ref: JobRef) -> JobState | None:
        """The state a listing returned with ``ref`` (Glue), once; None if none did."""
        return self._states.pop(ref, None)

    @property
    def incomplete(self) -> list[str]:
        """What each listing still at its cap said (the report's ``incomplete``)."""
        return [text for texts in self._capped.values() for text in texts]
