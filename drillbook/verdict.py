"""From a finished record to a verdict: PASS, FAIL (with findings) or NOT RUN.

Finding codes are stable; reports, history and CI gates key on them.
"""

from __future__ import annotations

from drillbook import sections
from drillbook.errors import StepTimeout
from drillbook.projection import project
from drillbook.record import DrillRecord, Finding, Phase, Verdict
from drillbook.redact import redact
from drillbook.targets import format_duration

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
}


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.3f} s"
    return f"{format_duration(round(seconds, 1))} ({seconds:.1f} s)"


def evaluate(record: DrillRecord, *, error: BaseException | None = None) -> list[Finding]:
    """Findings for *record*, on top of those recorded while it ran (timeouts, faults)."""
    findings = list(record.findings)
    have = {f.code for f in findings}

    def add(code: str, message: str, severity: str = "fail") -> None:
        # One finding per code, except those naming different checks/ledgers; never the
        # same sentence twice (evaluate() runs again on an already-judged record).
        if any(f.code == code and f.message == message for f in findings):
            return
        if code not in have or code in ("INTEGRITY_FAILED", "DATA_LOST"):
            findings.append(Finding(code, message, severity))
            have.add(code)

    if error is not None and not {"RTO_EXCEEDED", "STEP_TIMEOUT"} & have:
        if isinstance(error, StepTimeout):
            # A deadline that fired outside any step (between steps, in a probe loop).
            text = str(error)
            code = "RTO_EXCEEDED" if text.startswith("drill deadline") else "STEP_TIMEOUT"
            add(code, redact(f"{text}; the drill was stopped there"))
        elif isinstance(error, AssertionError):
            add(
                "CHECK_FAILED",
                redact(
                    f"assertion failed: {str(error).splitlines()[0] if str(error) else 'assert'}"
                )[:500],
            )
        else:
            first = str(error).splitlines()[0] if str(error) else ""
            add("DRILL_ERROR", redact(f"{type(error).__name__}: {first}")[:500])

    tgt = record.target or {}
    if record.t0_mono is None:
        add("FAULT_NOT_INJECTED", "the drill never called fault(): there is no t0 to measure from")
    else:
        if record.detected_mono is None and "FAULT_NOT_EFFECTIVE" not in have:
            add("DETECTION_MISSING", "no probe observed the outage after t0 (call drill.detect)")
        if not any(s.phase == Phase.EXECUTION.value for s in record.steps):
            add("RECOVERY_NOT_RUN", "no execution step ran after t0: nothing was recovered")
        if not record.checks and not record.ledgers:
            add("VALIDATION_NOT_RUN", "no integrity check and no ledger read-back after recovery")

    for check in record.checks:
        if not check.passed:
            detail = f": {check.detail}" if check.detail else ""
            add("INTEGRITY_FAILED", f"check {check.name!r} failed{detail}")

    rto = record.rto_seconds
    rto_target = tgt.get("rto")
    if rto is not None and rto_target is not None and rto > rto_target:
        clock = "detection" if record.rto_clock == "detection" else "t0"
        add("RTO_EXCEEDED", f"RTO {_fmt(rto)} (validated − {clock}) > target {_fmt(rto_target)}")

    rpo_target = tgt.get("rpo")
    bound = tgt.get("rpo_bound")
    if bound is not None and rpo_target is not None and bound > rpo_target:
        methods = "; ".join(str(b.get("text", b)) for b in tgt.get("backups", []))
        add(
            "RPO_BOUND_EXCEEDS_TARGET",
            f"the declared backup ({methods}) can lose up to {_fmt(bound)} "
            f"> RPO target {_fmt(rpo_target)}",
        )
    for name, led in record.ledgers.items():
        rpo = led.get("rpo_seconds")
        res = led.get("resolution_seconds")
        lower = " (lower bound: no write survived)" if led.get("rpo_is_lower_bound") else ""
        lost_before = int(led.get("counts", {}).get("lost", 0))
        # Nothing acknowledged before t0 was lost: the recovery point is the last
        # acknowledged write and the data loss is zero; the measured t0 − ack is then only
        # the gap to the next tick (below the resolution), not a loss to judge.
        if rpo is not None and rpo_target is not None and rpo > rpo_target and lost_before:
            add(
                "RPO_EXCEEDED",
                f"ledger {name}: RPO {_fmt(rpo)}{lower} > target {_fmt(rpo_target)} "
                f"(resolution {_fmt(res)})",
            )
        counts = led.get("counts", {})
        lost = int(counts.get("lost", 0))
        holes = int(led.get("holes", 0))
        lost_after = int(led.get("counts_after_t0", {}).get("lost", 0))
        if holes:
            add(
                "DATA_LOST",
                f"ledger {name}: {holes} acknowledged writes missing before later "
                "surviving ones (holes after the recovery point)",
            )
        if rpo_target == 0 and lost:
            add("DATA_LOST", f"ledger {name}: {lost} acknowledged writes lost; the target is RPO 0")
        if lost_after:
            add(
                "DATA_LOST", f"ledger {name}: {lost_after} writes acknowledged after t0 are missing"
            )
        corrupted = int(counts.get("corrupted", 0)) + int(
            led.get("counts_after_t0", {}).get("corrupted", 0)
        )
        if corrupted:
            add("DATA_CORRUPTED", f"ledger {name}: {corrupted} writes read back with wrong content")
        phantom = int(counts.get("phantom", 0))
        if phantom:
            add(
                "PHANTOM_WRITE", f"ledger {name}: {phantom} entries present that were never written"
            )

    proj = record.projection
    if (
        proj is not None
        and proj.rto_target is not None
        and proj.projected_seconds > proj.rto_target
    ):
        add(
            "RTO_PROJECTED_EXCEEDED",
            f"projection: restoring {proj.production_size_bytes / 1e9:.1f} GB at the measured "
            f"{proj.throughput_bytes_per_s / 1e6:.1f} MB/s takes {_fmt(proj.projected_seconds)} "
            f"> RTO target {_fmt(proj.rto_target)} (a projection, not a measurement)",
            severity="warn",
        )
    if (
        record.triage
        and record.triage.get("expected")
        and (record.triage.get("expected") != record.triage.get("observed"))
    ):
        add(
            "TRIAGE_MISMATCH",
            f"triage classified the incident as {record.triage.get('observed')}, the injected "
            f"fault is {record.triage.get('expected')}",
        )
    findings.extend(f for f in sections.findings(record) if f not in findings)
    return findings


def decide(findings: list[Finding]) -> Verdict:
    return Verdict.FAIL if any(f.severity == "fail" for f in findings) else Verdict.PASS


def finalize(record: DrillRecord, *, error: BaseException | None = None) -> Verdict:
    """Compute findings and verdict into the record (idempotent)."""
    if record.verdict == Verdict.NOT_RUN.value:
        return Verdict.NOT_RUN
    # Validation completes at the last passing check when the drill did not mark it.
    if record.validated_mono is None and record.t0_mono is not None:
        marks = [c.at_mono for c in record.checks]
        marks += [
            s.end_mono
            for s in record.steps
            if s.phase == Phase.VALIDATION.value and s.end_mono is not None
        ]
        all_ok = all(c.passed for c in record.checks) and all(
            s.outcome == "ok" for s in record.steps if s.phase == Phase.VALIDATION.value
        )
        if marks and all_ok and error is None:
            record.validated_mono = max(marks)
    if record.validated_mono is not None and any(not c.passed for c in record.checks):
        record.validated_mono = None  # a failed check means never validated: no RTO
    record.projection = project(record)
    record.findings = evaluate(record, error=error)
    verdict = decide(record.findings)
    record.verdict = verdict.value
    return verdict
