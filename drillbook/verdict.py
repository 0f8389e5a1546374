"""From a finished record to a verdict: PASS, FAIL (with findings) or NOT RUN.

Finding codes are stable; reports, history and CI gates key on them. Each finding comes
from one small rule (:data:`RULES`) that reads typed data: the :class:`DrillRecord`, its
targets (:class:`~drillbook.record.TargetSnapshot`), each ledger's
:class:`~drillbook.ledger.LedgerResult`, the triage's
:class:`~drillbook.record.TriageOutcome`. A new check of a record is one more rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drillbook import sections
from drillbook import verdict_ledgers as led_rules
from drillbook.errors import DrillFailure, StepTimeout
from drillbook.ledger import LedgerResult
from drillbook.projection import project
from drillbook.record import DrillRecord, Finding, Phase, TargetSnapshot, TriageOutcome, Verdict
from drillbook.redact import redact
from drillbook.verdict_ledgers import fmt

FINDING_CODES = {
    "RTO_EXCEEDED": "measured RTO above the target (or the drill deadline passed)",
    "RPO_EXCEEDED": "measured RPO above the target",
    "RPO_BOUND_EXCEEDS_TARGET": "the backup method's worst case cannot meet the RPO target",
    "DATA_LOST": "acknowledged writes missing beyond what the RPO accounts for",
    "DATA_CORRUPTED": "writes present with the wrong content",
    "PHANTOM_WRITE": "data present that was never written",
    "INTEGRITY_FAILED": "an integrity or data check failed",
    "FAULT_NOT_EFFECTIVE": "the injected fault broke nothing",
    "FAULT_NOT_INJECTED": "the drill never marked t0",
    "DETECTION_MISSING": "no probe observed the outage",
    "RECOVERY_NOT_RUN": "no recovery step ran after the fault",
    "VALIDATION_NOT_RUN": "nothing was validated after recovery",
    "TRIAGE_MISMATCH": "the decision tree chose another procedure than the fault requires",
    "STEP_TIMEOUT": "a step passed its deadline",
    "DRILL_ERROR": "the drill raised an unexpected error",
    "CHECK_FAILED": "an assertion in the drill failed",
    "RTO_PROJECTED_EXCEEDED": "projected restore at production size exceeds the RTO (warning)",
    "BACKEND_UNSUPPORTED": "the backend lacks a capability the drill needs (NOT RUN)",
    # What the backup method had captured at t0 (drillbook.capture), and what broke.
    "CAPTURED_WRITE_LOST": "a write the backup method had captured at t0 is missing",
    "RPO_BOUND_EXCEEDED": "measured RPO above the method's bound (warning while the target holds)",
    "PITR_TARGET_UNREACHED": "a PITR stopped before its target or the end of the archive",
    "WAL_ARCHIVE_GAP": "a WAL segment is missing from the range a PITR replays",
    "BACKUP_MISSING": "no backup to restore from",
    "BACKUP_CORRUPT": "a backup is damaged: checksum mismatch, truncated, unreadable",
    "RESTORE_FAILED": "the restore tool failed (its classified error quoted)",
    "SERVER_START_FAILED": "a restored data directory did not start",
    "ROLE_MISSING": "the restore target lacks roles the backup's objects belong to",
    "EXTENSION_MISSING": "the restore target lacks extensions the backup uses",
}
#: Codes that may appear several times (one per check / per ledger problem).
REPEATABLE = ("INTEGRITY_FAILED", "DATA_LOST", "CAPTURED_WRITE_LOST", "RPO_BOUND_EXCEEDED")


@dataclass(frozen=True)
class Facts:
    """What the rules read: the record and its parts, typed."""

    record: DrillRecord
    target: TargetSnapshot
    ledgers: dict[str, LedgerResult]
    error: BaseException | None
    recorded: frozenset[str]  # codes recorded while the drill ran (timeouts, faults)

    @classmethod
    def of(cls, record: DrillRecord, error: BaseException | None) -> Facts:
        return cls(
            record=record,
            target=record.target_snapshot,
            ledgers={n: LedgerResult.from_dict(d) for n, d in record.ledgers.items()},
            error=error,
            recorded=frozenset(f.code for f in record.findings),
        )


Rule = Callable[[Facts], Iterator[Finding]]


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else ""


# -- the rules, in the order their findings are listed ------------------------------------


def error_raised(f: Facts) -> Iterator[Finding]:
    """The test body raised: a deadline, a failed assertion, or anything else."""
    error = f.error
    if error is None or {"RTO_EXCEEDED", "STEP_TIMEOUT"} & f.recorded:
        return
    if isinstance(error, StepTimeout):
        # A deadline that fired outside any step (between steps, in a probe loop).
        text = str(error)
        code = "RTO_EXCEEDED" if text.startswith("drill deadline") else "STEP_TIMEOUT"
        yield Finding(code, redact(f"{text}; the drill was stopped there"))
    elif isinstance(error, DrillFailure):
        # The cause is known: its own code, unless the raiser recorded it already.
        if error.code not in f.recorded:
            yield Finding(error.code, redact(error.message)[:500])
    elif isinstance(error, AssertionError):
        first = _first_line(error) if str(error) else "assert"
        yield Finding("CHECK_FAILED", redact(f"assertion failed: {first}")[:500])
    else:
        yield Finding("DRILL_ERROR", redact(f"{type(error).__name__}: {_first_line(error)}")[:500])


def phases_ran(f: Facts) -> Iterator[Finding]:
    """A drill must break something (t0), see it break, recover and validate."""
    rec = f.record
    if rec.t0_mono is None:
        yield Finding(
            "FAULT_NOT_INJECTED", "the drill never called fault(): there is no t0 to measure from"
        )
        return
    if rec.detected_mono is None and "FAULT_NOT_EFFECTIVE" not in f.recorded:
        yield Finding(
            "DETECTION_MISSING", "no probe observed the outage after t0 (call drill.detect)"
        )
    if not any(s.phase == Phase.EXECUTION.value for s in rec.steps):
        yield Finding("RECOVERY_NOT_RUN", "no execution step ran after t0: nothing was recovered")
    if not rec.checks and not rec.ledgers:
        yield Finding(
            "VALIDATION_NOT_RUN", "no integrity check and no ledger read-back after recovery"
        )


def checks_passed(f: Facts) -> Iterator[Finding]:
    for check in f.record.checks:
        if not check.passed:
            detail = f": {check.detail}" if check.detail else ""
            yield Finding("INTEGRITY_FAILED", f"check {check.name!r} failed{detail}")


def rto_met(f: Facts) -> Iterator[Finding]:
    rto, target = f.record.rto_seconds, f.target.rto
    if rto is not None and target is not None and rto > target:
        clock = "detection" if f.record.rto_clock == "detection" else "t0"
        yield Finding(
            "RTO_EXCEEDED", f"RTO {fmt(rto)} (validated − {clock}) > target {fmt(target)}"
        )


def rpo_bound_met(f: Facts) -> Iterator[Finding]:
    bound, target = f.target.rpo_bound, f.target.rpo
    if bound is not None and target is not None and bound > target:
        yield Finding(
            "RPO_BOUND_EXCEEDS_TARGET",
            f"the declared backup ({'; '.join(f.target.backups)}) can lose up to "
            f"{fmt(bound)} > RPO target {fmt(target)}",
        )


def ledgers_intact(f: Facts) -> Iterator[Finding]:
    """Per ledger, in its order: the RPO, what its backup methods had captured, the RPO
    against the method's bound, then every kind of data it did not get back."""
    target = f.target
    for name, led in f.ledgers.items():
        yield from led_rules.rpo(name, led, target.rpo)
        yield from led_rules.captured(name, led)
        yield from led_rules.bound(name, led, target.rpo, target.rpo_bound)
        yield from led_rules.integrity(name, led, target.rpo)


def projection_fits(f: Facts) -> Iterator[Finding]:
    proj = f.record.projection
    if proj is None or proj.rto_target is None or proj.projected_seconds <= proj.rto_target:
        return
    rates = f"{proj.throughput_bytes_per_s / 1e6:.1f} MB/s"
    if len(proj.steps) > 1:  # every step that grows with the data, at its own rate
        rates = (
            "rates ("
            + ", ".join(f"{s.name} {s.throughput_bytes_per_s / 1e6:.1f} MB/s" for s in proj.steps)
            + ")"
        )
    yield Finding(
        "RTO_PROJECTED_EXCEEDED",
        f"projection: restoring {proj.production_size_bytes / 1e9:.1f} GB at the measured "
        f"{rates} takes {fmt(proj.projected_seconds)} "
        f"> RTO target {fmt(proj.rto_target)} (a projection, not a measurement)",
        severity="warn",
    )


def triage_agrees(f: Facts) -> Iterator[Finding]:
    triage = TriageOutcome.of(f.record.triage)
    if triage is not None and triage.expected is not None and triage.expected != triage.observed:
        yield Finding(
            "TRIAGE_MISMATCH",
            f"triage classified the incident as {triage.observed}, the injected "
            f"fault is {triage.expected}",
        )


RULES: tuple[Rule, ...] = (
    error_raised,
    phases_ran,
    checks_passed,
    rto_met,
    rpo_bound_met,
    ledgers_intact,
    projection_fits,
    triage_agrees,
)


# -- judging --------------------------------------------------------------------------------


def evaluate(record: DrillRecord, *, error: BaseException | None = None) -> list[Finding]:
    """Findings for *record*, on top of those recorded while it ran (timeouts, faults).

    One finding per code, except those naming different checks/ledgers (REPEATABLE);
    never the same sentence twice (evaluate() runs again on an already-judged record).
    """
    facts = Facts.of(record, error)
    findings = list(record.findings)
    have = set(facts.recorded)
    for rule in RULES:
        for finding in rule(facts):
            if any(f.code == finding.code and f.message == finding.message for f in findings):
                continue
            if finding.code not in have or finding.code in REPEATABLE:
                findings.append(finding)
                have.add(finding.code)
    # Per-service targets of a multi-service drill (drillbook.sections): the same codes
    # as the drill's own, each naming its service, so never merged away by code.
    findings.extend(f for f in sections.findings(record) if f not in findings)
    return findings


def decide(findings: list[Finding]) -> Verdict:
    return Verdict.FAIL if any(f.severity == "fail" for f in findings) else Verdict.PASS


def _validation_end(record: DrillRecord, error: BaseException | None) -> float | None:
    """Validation completes at the last passing check when the drill did not mark it."""
    validation = [s for s in record.steps if s.phase == Phase.VALIDATION.value]
    marks = [c.at_mono for c in record.checks]
    marks += [s.end_mono for s in validation if s.end_mono is not None]
    all_ok = all(c.passed for c in record.checks) and all(s.outcome == "ok" for s in validation)
    return max(marks) if marks and all_ok and error is None else None


def finalize(record: DrillRecord, *, error: BaseException | None = None) -> Verdict:
    """Compute findings and verdict into the record (idempotent)."""
    if record.verdict == Verdict.NOT_RUN.value:
        return Verdict.NOT_RUN
    if record.validated_mono is None and record.t0_mono is not None:
        record.validated_mono = _validation_end(record, error)
    if record.validated_mono is not None and any(not c.passed for c in record.checks):
        record.validated_mono = None  # a failed check means never validated: no RTO
    record.projection = project(record)
    record.findings = evaluate(record, error=error)
    verdict = decide(record.findings)
    record.verdict = verdict.value
    return verdict
