"""The drill record: plain data, serialisable to JSON and back without loss.

Every time is kept twice: on the monotonic clock (``*_mono``, for durations: immune to
wall-clock steps) and as wall-clock epoch seconds derived from one (monotonic, wall)
pair taken at record creation, so a report can print real times. Reports only render
this data; they never measure.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1


class Phase(str, Enum):
    """The runbook's split of an outage (runbooks/database-recovery.md: RTO components)."""

    SETUP = "setup"  # before t0: load data, take backups, start the ledger
    FAULT = "fault"  # the injection itself; t0 is its start
    DETECTION = "detection"  # t0 -> first failed probe
    DECISION = "decision"  # -> procedure chosen
    EXECUTION = "execution"  # -> recovery procedure finished
    VALIDATION = "validation"  # -> integrity and data checks passed
    CLEANUP = "cleanup"


RTO_PHASES = (Phase.DETECTION, Phase.DECISION, Phase.EXECUTION, Phase.VALIDATION)


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_RUN = "NOT RUN"


@dataclass
class Command:
    """One command or call a step ran, exactly as run (secrets redacted)."""

    kind: str  # argv | sql | api | probe
    text: str
    start_mono: float
    end_mono: float | None = None
    exit_status: int | None = None
    output_tail: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.end_mono is None else self.end_mono - self.start_mono


@dataclass
class Step:
    name: str
    phase: str
    start_mono: float
    end_mono: float | None = None
    outcome: str = "running"  # ok | failed | timeout | running
    error: str | None = None
    commands: list[Command] = field(default_factory=list)
    bytes_processed: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # Seconds of the step that do not grow with the data (a server's start, a promotion),
    # marked by the step itself (``StepContext.fixed``): the projection holds them fixed.
    fixed_seconds: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end_mono is None else self.end_mono - self.start_mono

    @property
    def sized_seconds(self) -> float | None:
        """The part of the step's time that moved its bytes: all of it but the fixed part."""
        d = self.duration
        return None if d is None else max(0.0, d - (self.fixed_seconds or 0.0))

    @property
    def throughput(self) -> float | None:
        """Bytes per second of the part that moved them, where the step knows its bytes."""
        d = self.sized_seconds
        if not self.bytes_processed or not d or d <= 0:
            return None
        return self.bytes_processed / d


@dataclass
class Check:
    """One integrity or data check of the validation phase."""

    name: str
    passed: bool
    detail: str = ""
    expected: Any = None
    actual: Any = None
    at_mono: float = 0.0


@dataclass
class Finding:
    """A stable code and one sentence with the numbers, e.g. RTO_EXCEEDED."""

    code: str
    message: str
    severity: str = "fail"  # fail | warn


@dataclass
class ProjectedStep:
    """One step of the RTO that grows with the data: its measured rate and its time at
    the production size (see :mod:`drillbook.projection`)."""

    name: str
    phase: str
    measured_bytes: int
    measured_seconds: float
    throughput_bytes_per_s: float
    projected_seconds: float
    # The step's seconds marked as not growing with the data, outside measured_seconds
    # and held fixed (in the projection's fixed_overhead_s).
    fixed_seconds: float = 0.0


@dataclass
class Projection:
    """The RTO at production size: every step that recorded its bytes (the restore, the
    validation ...) at its measured rate, the rest of the RTO held fixed. The top-level
    step fields are the largest such step (the restore). A projection, labelled."""

    step: str
    measured_bytes: int
    measured_seconds: float
    throughput_bytes_per_s: float
    fixed_overhead_s: float
    production_size_bytes: int
    projected_seconds: float
    rto_target: float | None
    steps: list[ProjectedStep] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Projection:
        data = dict(data)
        steps = [ProjectedStep(**s) for s in data.pop("steps", [])]
        return cls(**data, steps=steps)


@dataclass(frozen=True)
class TargetSnapshot:
    """The typed view of :attr:`DrillRecord.target`, the ``ServiceTarget.to_dict()``
    snapshot a drill is judged against (a record built by hand may carry only some keys).
    """

    rto: float | None = None
    rpo: float | None = None
    rpo_bound: float | None = None
    rto_clock: str = "fault"
    backups: tuple[str, ...] = ()  # the backup methods as written in drills.toml
    production_size: int | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> TargetSnapshot:
        data = data or {}
        size = data.get("production_size")
        return cls(
            rto=_opt(data.get("rto")),
            rpo=_opt(data.get("rpo")),
            rpo_bound=_opt(data.get("rpo_bound")),
            rto_clock=str(data.get("rto_clock") or "fault"),
            backups=tuple(
                str(b.get("text", b)) if isinstance(b, Mapping) else str(b)
                for b in data.get("backups") or ()
            ),
            production_size=None if size is None else int(size),
        )


@dataclass(frozen=True)
class TriageOutcome:
    """The typed view of :attr:`DrillRecord.triage`: the class a decision tree chose and
    the one the injected fault requires (any tree's names: ``drillbook.triage``'s
    incidents, the Redis tree's procedures)."""

    observed: str | None
    expected: str | None

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> TriageOutcome | None:
        if not data:
            return None
        observed, expected = data.get("observed"), data.get("expected")
        return cls(
            observed=None if observed is None else str(observed),
            expected=str(expected) if expected else None,
        )


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class DrillRecord:
    drill_id: str
    name: str
    service: str | None = None
    scenario: str | None = None
    backend: str | None = None
    schema_version: int = SCHEMA_VERSION
    versions: dict[str, str] = field(default_factory=dict)
    target: dict[str, Any] | None = None  # ServiceTarget.to_dict() snapshot
    targets_digest: str | None = None
    # clock origin: (monotonic, wall epoch) taken together
    origin_mono: float = field(default_factory=time.monotonic)
    origin_wall: float = field(default_factory=time.time)
    t0_mono: float | None = None
    fault: str | None = None
    # The end of the fault injection (killing a server, wiping a data dir): its own
    # span after t0; detection is measured from here (t0 stays the injection's start).
    injected_mono: float | None = None
    detected_mono: float | None = None
    decided_mono: float | None = None
    procedure: str | None = None
    executed_mono: float | None = None
    first_healthy_mono: float | None = None
    validated_mono: float | None = None
    finished_mono: float | None = None
    deadline_s: float | None = None
    steps: list[Step] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    ledgers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What each backup method had safely captured at t0 (drillbook.capture), sampled
    # just before the fault: CapturePoint.to_dict() each.
    recovery_points: list[dict[str, Any]] = field(default_factory=list)
    triage: dict[str, Any] | None = None
    projection: Projection | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # Multi-service drills (drillbook.sections): per-service sections, the application's
    # downtime, critical path, replication lag, split-brain writes. Plain JSON data.
    sections: dict[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    not_run_reason: str | None = None
    error: str | None = None

    # -- clock --------------------------------------------------------------------
    def wall(self, mono: float | None) -> float | None:
        """Wall-clock epoch seconds of a monotonic instant of this record."""
        return None if mono is None else self.origin_wall + (mono - self.origin_mono)

    def iso(self, mono: float | None) -> str | None:
        w = self.wall(mono)
        if w is None:
            return None
        return datetime.fromtimestamp(w, UTC).isoformat(timespec="milliseconds")

    def rel(self, mono: float | None) -> float | None:
        """Seconds since t0 (or since the record started, before any fault)."""
        if mono is None:
            return None
        return mono - (self.t0_mono if self.t0_mono is not None else self.origin_mono)

    # -- measurements -------------------------------------------------------------
    @property
    def target_snapshot(self) -> TargetSnapshot:
        """The targets this drill is judged against, typed (all None without a target)."""
        return TargetSnapshot.of(self.target)

    @property
    def rto_clock(self) -> str:
        return self.target_snapshot.rto_clock

    @property
    def rto_seconds(self) -> float | None:
        """validated − t0 (or − detection when the target's clock starts there)."""
        if self.validated_mono is None or self.t0_mono is None:
            return None
        start = self.t0_mono
        if self.rto_clock == "detection" and self.detected_mono is not None:
            start = self.detected_mono
        return self.validated_mono - start

    @property
    def time_to_first_healthy(self) -> float | None:
        if self.first_healthy_mono is None or self.t0_mono is None:
            return None
        return self.first_healthy_mono - self.t0_mono

    def phase_bounds(self) -> dict[str, tuple[float, float]]:
        """Start and end (monotonic) of each RTO phase; phases follow one another.

        fault: t0 -> the injection finished (its own span, when recorded); detection:
        -> first failed probe; decision: -> procedure chosen; execution: -> recovery
        finished; validation: -> validated. A phase without a recorded end takes the end
        of its last step.
        """
        if self.t0_mono is None:
            return {}
        ends = {
            Phase.FAULT.value: self.injected_mono,
            Phase.DETECTION.value: self.detected_mono,
            Phase.DECISION.value: self.decided_mono,
            Phase.EXECUTION.value: self.executed_mono,
            Phase.VALIDATION.value: self.validated_mono,
        }
        for phase in ends:
            if ends[phase] is None and phase != Phase.FAULT.value:
                step_ends = [
                    s.end_mono for s in self.steps if s.phase == phase and s.end_mono is not None
                ]
                ends[phase] = max(step_ends) if step_ends else None
        out: dict[str, tuple[float, float]] = {}
        start = self.t0_mono
        for phase in (Phase.FAULT.value, *(p.value for p in RTO_PHASES)):
            end = ends[phase]
            if end is None:
                continue
            end = max(end, start)
            out[phase] = (start, end)
            start = end
        return out

    def phase_durations(self) -> dict[str, float]:
        return {p: e - s for p, (s, e) in self.phase_bounds().items()}

    def summary(self) -> dict[str, Any]:
        """The numbers a report and the history need, computed once from the data."""
        tgt = self.target_snapshot
        return {
            "rto_s": self.rto_seconds,
            "rto_target_s": tgt.rto,
            "rto_clock": tgt.rto_clock,
            "time_to_first_healthy_s": self.time_to_first_healthy,
            "rpo_s": self.observed_rpo(),
            "rpo_is_lower_bound": self.rpo_is_lower_bound(),
            "rpo_target_s": tgt.rpo,
            "rpo_bound_s": tgt.rpo_bound,
            "phases_s": self.phase_durations(),
        }

    def observed_rpo(self) -> float | None:
        """The worst RPO any ledger of the drill measured."""
        values = [
            led["rpo_seconds"]
            for led in self.ledgers.values()
            if led.get("rpo_seconds") is not None
        ]
        return max(values) if values else None

    def rpo_is_lower_bound(self) -> bool:
        """The worst RPO is only a minimum: its ledger lost every write (no surviving
        prefix), so the real loss may be larger; outputs print it as ``≥``."""
        worst = self.observed_rpo()
        return any(
            led.get("rpo_is_lower_bound") and led.get("rpo_seconds") == worst
            for led in self.ledgers.values()
        )

    # -- serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["summary"] = self.summary()
        return data

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrillRecord:
        data = dict(data)
        data.pop("summary", None)
        steps = [
            Step(**{**s, "commands": [Command(**c) for c in s.get("commands", [])]})
            for s in data.pop("steps", [])
        ]
        checks = [Check(**c) for c in data.pop("checks", [])]
        findings = [Finding(**f) for f in data.pop("findings", [])]
        proj = data.pop("projection", None)
        return cls(
            **data,
            steps=steps,
            checks=checks,
            findings=findings,
            projection=Projection.from_dict(proj) if proj else None,
        )

    @classmethod
    def from_json(cls, text: str) -> DrillRecord:
        return cls.from_dict(json.loads(text))
