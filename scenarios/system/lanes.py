"""Per-service lanes of a multi-service drill: when each recovery began and was ready.

The drill marks them as it goes (:meth:`Lanes.recovering`, :meth:`Lanes.ready`); at the
end :meth:`Lanes.finish` writes the sections (drillbook.sections) into the record:
each service with its own drills.toml target, its RTO (ready − t0) and the RPO of its
own ledger, and the critical path up to the application's recovery.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from drillbook.drill import Drill
from drillbook.ledger import LedgerResult
from drillbook.sections import ServiceSection, critical_path


class Lanes:
    """The services of one drill, in the order they are added."""

    def __init__(self, drill: Drill, target_of: Callable[[str], dict[str, Any]]) -> None:
        self.drill = drill
        self.target_of = target_of
        self.services: dict[str, ServiceSection] = {}

    def add(self, name: str, *, kind: str, role: str, procedure: str = "") -> ServiceSection:
        section = ServiceSection(
            name=name, kind=kind, role=role, procedure=procedure, target=self.target_of(name)
        )
        self.services[name] = section
        return section

    def _rel(self) -> float:
        t0 = self.drill.record.t0_mono
        if t0 is None:
            raise RuntimeError("lanes are marked after fault(): there is no t0 yet")
        return time.monotonic() - t0

    @contextlib.contextmanager
    def recovering(self, name: str) -> Iterator[ServiceSection]:
        """The block is this service's recovery; it is ready when the block ends."""
        section = self.services[name]
        section.start_s = self._rel()
        yield section
        self.ready(name)

    def ready(self, name: str) -> None:
        self.services[name].ready_s = self._rel()

    def rpo(self, name: str, ledger: str, result: LedgerResult, note: str = "") -> None:
        section = self.services[name]
        section.ledger = ledger
        section.rpo_s = result.rpo_seconds
        section.lost = result.lost
        section.rpo_note = note or f"ledger {ledger}, resolution {result.resolution_seconds:.3f} s"

    def no_rpo(self, name: str, why: str) -> None:
        self.services[name].rpo_note = why

    def finish(self) -> dict[str, Any]:
        """Sections into the record (call after the application's measurement)."""
        services = [s.to_dict() for s in self.services.values()]
        app = self.drill.record.sections.get("application") or {}
        self.drill.record.sections["services"] = services
        self.drill.record.sections["critical_path"] = critical_path(services, app.get("rto_s"))
        return self.drill.record.sections
