"""Gaps vs. requirements: every missed target and finding of a drill, numbers first.

Runbook 000's "After drill: Document gaps vs requirements". A gap carries the measured
number beside the target it missed, so the owner reads "RTO 17m12s vs 15m", not only a
code. The report adds a few codes of its own on top of the engine's findings (never in
the engine's ``FINDING_CODES``, so a CI gate keyed on findings is not affected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from drillbook.record import DrillRecord
from drillbook.reports.checklist import NO, PARTIAL, drill_checklist
from drillbook.reports.fmt import fmt_s, fmt_target
from drillbook.reports.model import NOT_RUN, outcome, resolution, rpo_is_lower_bound
from drillbook.verdict import FINDING_CODES

REPORT_GAP_CODES = {
    "NOT_RUN": "the drill could not run: nothing was measured",
    "RTO_NOT_MEASURED": "the drill ran but never validated the recovery: no RTO",
    "RPO_NOT_MEASURED": "no ledger measured how much data was lost",
    "CHECKLIST": "a drill checklist item is not satisfied by the record",
    "EXPECTED_FAIL_MISSED": "a must-fail drill did not fail with the findings it requires",
}

#: Findings that already state an integrity failure (no separate checklist gap for it).
INTEGRITY_CODES = {
    "INTEGRITY_FAILED",
    "DATA_LOST",
    "DATA_CORRUPTED",
    "PHANTOM_WRITE",
    "VALIDATION_NOT_RUN",
}


@dataclass
class Gap:
    """One missed target or finding, with the measured number against the target."""

    drill_id: str
    name: str
    service: str | None
    code: str
    severity: str  # fail | warn
    measured: str
    target: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_code(code: str) -> str:
    return FINDING_CODES.get(code) or REPORT_GAP_CODES.get(code, "")


def rpo_text(rec: DrillRecord) -> str:
    """The observed RPO with its resolution, ``≥`` when only a lower bound is known."""
    rpo = rec.observed_rpo()
    if rpo is None:
        return "not measured"
    res = resolution(rec)
    text = fmt_s(rpo) + (f" ± {fmt_s(res)}" if res else "")
    return ("≥ " + text) if rpo_is_lower_bound(rec) else text


Numbers = Callable[[DrillRecord, dict[str, Any]], tuple[str, str]]

#: Measured and target of the findings that have numbers, by code.
FINDING_NUMBERS: dict[str, Numbers] = {
    "RTO_EXCEEDED": lambda rec, s: (
        fmt_s(s["rto_s"]) if s["rto_s"] is not None else "not validated",
        fmt_target(s["rto_target_s"]),
    ),
    "RPO_EXCEEDED": lambda rec, s: (rpo_text(rec), fmt_target(s["rpo_target_s"])),
    "RPO_BOUND_EXCEEDED": lambda rec, s: (rpo_text(rec), f"bound {fmt_target(s['rpo_bound_s'])}"),
    "RPO_BOUND_EXCEEDS_TARGET": lambda rec, s: (
        f"bound {fmt_target(s['rpo_bound_s'])}",
        fmt_target(s["rpo_target_s"]),
    ),
    "RTO_PROJECTED_EXCEEDED": lambda rec, s: (
        ("—", "—")
        if rec.projection is None
        else (
            f"projected {fmt_s(rec.projection.projected_seconds)}",
            fmt_target(rec.projection.rto_target),
        )
    ),
}


class _Gaps:
    """Collects the gaps of one drill."""

    def __init__(self, rec: DrillRecord) -> None:
        self.rec, self.s, self.out = rec, rec.summary(), list[Gap]()

    def add(
        self, code: str, message: str, measured: str = "—", target: str = "—", sev: str = "fail"
    ):
        rec = self.rec
        self.out.append(
            Gap(rec.drill_id, rec.name, rec.service, code, sev, measured, target, message)
        )

    def findings(self) -> None:
        for f in self.rec.findings:
            numbers = FINDING_NUMBERS.get(f.code)
            measured, target = numbers(self.rec, self.s) if numbers else ("—", "—")
            self.add(f.code, f.message, measured, target, f.severity)

    def unmeasured(self) -> None:
        s, codes = self.s, {f.code for f in self.rec.findings}
        rto, rto_target = s["rto_s"], s["rto_target_s"]
        if "RTO_EXCEEDED" in codes:
            pass  # a finding above already says so, with the numbers
        elif rto is None:
            self.add(
                "RTO_NOT_MEASURED",
                "the recovery was never validated, so no RTO was measured",
                "not measured",
                fmt_target(rto_target),
            )
        elif rto is not None and rto_target is not None and rto > rto_target:
            # a drill whose engine did not flag it: the report still shows the miss
            self.add(
                "RTO_EXCEEDED", "measured RTO above the target", fmt_s(rto), fmt_target(rto_target)
            )
        if s["rpo_s"] is None and (self.rec.target or {}).get("rpo") is not None:
            self.add(
                "RPO_NOT_MEASURED",
                "no ledger read back after recovery: data loss was not measured",
                "not measured",
                fmt_target(s["rpo_target_s"]),
                "warn",
            )

    def checklist(self) -> None:
        listed = {f.code for f in self.rec.findings}
        for item in drill_checklist(self.rec):
            if item.key == "rto" and self.s["rto_target_s"] is not None:
                continue  # a missing RTO is its own gap
            if item.key == "integrity" and listed & INTEGRITY_CODES:
                continue  # the findings already say what failed
            if item.status in (NO, PARTIAL):
                measured = "partly met" if item.status == PARTIAL else "not met"
                self.add(
                    "CHECKLIST",
                    f"{item.label}: {item.evidence}",
                    measured,
                    "checklist item",
                    "warn",
                )


def gaps_for(rec: DrillRecord) -> list[Gap]:
    """Every missed target and finding of one drill, numbers first.

    A must-fail drill that failed as expected has no gap: its findings are what it had
    to produce. One that did not fail as required has the gap ``EXPECTED_FAIL_MISSED``.
    """
    result = outcome(rec)
    gaps = _Gaps(rec)
    if result.failed_as_expected:
        return []
    if result.verdict == NOT_RUN:
        s = gaps.s
        target = "—"
        if rec.target:
            target = f"RTO {fmt_target(s['rto_target_s'])}, RPO {fmt_target(s['rpo_target_s'])}"
        gaps.add(
            "NOT_RUN",
            f"could not run: {rec.not_run_reason or 'no reason recorded'}",
            "not measured",
            target,
        )
        return gaps.out
    if result.must_fail:
        gaps.add("EXPECTED_FAIL_MISSED", result.label, result.drill_verdict, "FAIL")
    gaps.findings()
    gaps.unmeasured()
    gaps.checklist()
    return gaps.out


def all_gaps(records: Iterable[DrillRecord]) -> list[Gap]:
    return [g for rec in records for g in gaps_for(rec)]
