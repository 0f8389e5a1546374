"""The drill's ledgers and the protections that capture their writes.

:class:`Ledgers` is the part of :class:`~drillbook.drill.Drill` that keeps the RPO
ledgers (background writers of numbered, acknowledged writes) and the recovery-point
oracle: protections register with :meth:`Ledgers.protect`, are sampled just before t0
(:meth:`Ledgers.sample_captures`), and every ledger read back after the recovery is held
to what each surviving, declared method had captured (``LedgerResult.captured``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from drillbook.capture import Capture, CapturePoint, sample_all
from drillbook.ledger import LedgerResult, LedgerSink, LedgerWriter
from drillbook.ledger.captured import check
from drillbook.record import DrillRecord, Phase


class Ledgers:
    """Ledgers and captures of one drill (mixed into :class:`~drillbook.drill.Drill`)."""

    record: DrillRecord
    step: Any  # Drill.step

    def _init_ledgers(self) -> None:
        self.ledgers: dict[str, LedgerWriter] = {}
        self._stop_at_t0: dict[str, bool] = {}
        self.captures: list[Capture] = []
        self.points: list[CapturePoint] = []

    # -- protections ------------------------------------------------------------------
    def protect(self, capture: Capture) -> Capture:
        """Register a protection (a WAL archive, a standby, a snapshot schedule ...): it
        is sampled just before t0, and every write it had captured must survive.

        One set up after t0 (the recovery re-creating a versioned bucket) captured
        nothing of what the fault broke: it is not registered.
        """
        if self.record.t0_mono is None:
            self.captures.append(capture)
        return capture

    def sample_captures(self) -> list[CapturePoint]:
        """Every protection's point, now (called by ``fault()`` just before t0)."""
        self.points = sample_all(self.captures)
        methods = [
            b for b in (self.record.target or {}).get("backups") or () if isinstance(b, dict)
        ]
        for point in self.points:
            if point.bound_s is None:  # the declared method's bound, when the drill set none
                bounds = [
                    float(m["rpo_bound"])
                    for m in methods
                    if m.get("kind") in point.kinds and m.get("rpo_bound") is not None
                ]
                point.bound_s = min(bounds, default=None)
        return self.points

    def save_points(self) -> None:
        """The points into the record (after the fault: destruction marks included)."""
        self.record.recovery_points = [p.to_dict() for p in self.points]

    def _declared(self) -> set[str] | None:
        target = self.record.target
        if target is None:
            return None
        return {str(b.get("kind")) for b in target.get("backups") or () if isinstance(b, dict)}

    # -- ledgers ------------------------------------------------------------------------
    def ledger(
        self,
        sink: LedgerSink,
        *,
        name: str = "ledger",
        cadence: float = 0.010,
        stop_at_t0: bool = True,
        start: bool = True,
    ) -> LedgerWriter:
        """Start a background writer of numbered, acknowledged writes (the RPO ledger).

        A sink that knows what protects its writes (``sink.captures()``: a replicated
        bucket's replica) registers those protections here.
        """
        if name in self.ledgers:
            raise ValueError(f"a ledger named {name!r} already exists in this drill")
        writer = LedgerWriter(sink, cadence=cadence, name=name)
        self._stop_at_t0[name] = stop_at_t0
        self.ledgers[name] = writer
        for capture in getattr(sink, "captures", lambda: [])():
            self.protect(capture)
        if start:
            writer.start()
        return writer

    def wait_for_writes(self, writer: LedgerWriter, count: int, *, timeout: float = 30.0) -> None:
        """Block until *writer* has *count* acknowledged writes (a warm-up with a deadline)."""
        writer.wait_for_acked(count, timeout=timeout)

    def verify_ledger(
        self, writer: LedgerWriter, *, read_from: Any = None, name: str | None = None
    ) -> LedgerResult:
        """Read every write back and classify it; the result goes into the record.

        *read_from*: the handle the recovery produced (a restored server, a promoted
        standby, the replica bucket) when it is not the one the ledger wrote to. Every
        protection covering the ledger is held to the writes it had captured at t0.
        """
        t0 = self.record.t0_mono
        if t0 is None:
            raise RuntimeError("verify_ledger() before fault(): no t0 to measure RPO from")
        if read_from is not None:
            if not hasattr(writer.sink, "read_handle"):
                raise TypeError(f"ledger sink {type(writer.sink).__name__} cannot read elsewhere")
            writer.sink.read_handle = read_from
        key = name or next((k for k, w in self.ledgers.items() if w is writer), "ledger")
        with self.step(f"ledger read-back: {key}", Phase.VALIDATION) as ctx:
            writer.stop()
            result = writer.verify(t0)
            result.captured = check(
                self.points,
                writer.writes,
                writer.readback,
                t0,
                source=getattr(writer.sink, "source", None),
                declared=self._declared(),
                service=self.record.service,
            )
            ctx.note("writes", result.writes_total)
        self.record.ledgers[key] = result.to_dict()
        return result

    def stop_ledgers(self) -> None:
        """Stop every writer and close its sink; runs on every exit path of the drill."""
        for writer in self.ledgers.values():
            with contextlib.suppress(Exception):
                writer.close()
