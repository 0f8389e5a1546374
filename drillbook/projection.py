"""RTO projection at production size: every step that grows with the data, scaled by
its measured rate; the rest of the RTO held fixed.

Drills restore small databases; a team's production one is 40 GB. A step that knows how
many bytes it moved (``StepContext.processed``: the restore, the integrity checks that
read the database, a download) has a measured rate; when the service declares
``production_size``, that step is projected to take ``production_size / rate`` and every
other second of the measured RTO (detection, decision, start-up, promotion, the parts of
no step) stays as measured. Issue 14 found the old projection scaled the restore step
alone and held the validation constant: at 5x the size the RTO came out 51 % short.

It assumes each rate stays linear in the size, which a report must say. A step whose
time includes a part that does not grow with the data (the server's start, WAL replay and
promotion inside a PITR step) marks it (``StepContext.fixed``): only the rest is scaled,
at the rate of the rest. An unmarked fixed part is scaled with the step, which errs on
the long side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drillbook.record import DrillRecord, Phase, ProjectedStep, Projection, Step

SCALED_PHASES = (Phase.EXECUTION.value, Phase.VALIDATION.value)


@dataclass(frozen=True)
class Measured:
    """A step of the RTO with its measured bytes and seconds."""

    name: str
    phase: str
    nbytes: int
    seconds: float
    fixed: float = 0.0  # of *seconds*, the part marked as not growing with the data

    @property
    def sized(self) -> float:
        """The seconds that moved the bytes."""
        return max(0.0, self.seconds - self.fixed)


def scale(rto: float, measured: Iterable[Measured], size: int) -> tuple[float, list[ProjectedStep]]:
    """(fixed seconds, each step projected to *size* bytes) for a measured *rto*.

    Pure arithmetic: a step moving B bytes in d seconds, f of them marked fixed, runs at
    B/(d-f) and takes ``size / (B/(d-f))`` at *size*; its f seconds and what the steps do
    not cover, ``rto - sum(d-f)`` (never below 0, should steps overlap), are fixed.
    """
    steps = [m for m in measured if m.nbytes > 0 and m.sized > 0]
    fixed = max(0.0, rto - sum(m.sized for m in steps))
    projected = [
        ProjectedStep(
            name=m.name,
            phase=m.phase,
            measured_bytes=m.nbytes,
            measured_seconds=m.sized,
            throughput_bytes_per_s=m.nbytes / m.sized,
            projected_seconds=size * m.sized / m.nbytes,
            fixed_seconds=m.seconds - m.sized,
        )
        for m in steps
    ]
    return fixed, projected


def measured_steps(steps: Iterable[Step]) -> list[Measured]:
    """The recovery's and validation's steps that recorded their bytes."""
    return [
        Measured(
            s.name, s.phase, int(s.bytes_processed or 0), s.duration or 0.0, s.fixed_seconds or 0.0
        )
        for s in steps
        if s.phase in SCALED_PHASES and s.throughput and s.duration
    ]


def project(record: DrillRecord) -> Projection | None:
    """The projected RTO, or None without a production size, a measured RTO or a restore
    step that recorded its bytes (a projection needs the recovery's own rate)."""
    size = record.target_snapshot.production_size
    rto = record.rto_seconds
    if not size or rto is None:
        return None
    fixed, steps = scale(rto, measured_steps(record.steps), size)
    restores = [s for s in steps if s.phase == Phase.EXECUTION.value]
    if not restores:
        return None
    main = max(restores, key=lambda s: s.measured_bytes)
    return Projection(
        step=main.name,
        measured_bytes=main.measured_bytes,
        measured_seconds=main.measured_seconds,
        throughput_bytes_per_s=main.throughput_bytes_per_s,
        fixed_overhead_s=fixed,
        production_size_bytes=size,
        projected_seconds=fixed + sum(s.projected_seconds for s in steps),
        rto_target=record.target_snapshot.rto,
        steps=steps,
    )
