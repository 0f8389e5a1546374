"""Triage: the decision tree of runbooks/database-recovery.md, driven by probes.

    Is database accessible?
    ├─ NO  → Complete Data Loss (Procedure B)
    └─ YES → Is data corrupt?
        ├─ YES → Database Corruption (Procedure A)
        └─ NO  → Is data missing?
            ├─ YES → Partial Data Loss (Procedure C)
            └─ NO  → Performance degradation (investigate)

The probes are the service's (``scenarios/<service>/triage.py``); the tree is here. A drill
runs it in its decision phase and states which class its injected fault should produce,
so a drill whose triage would have sent the on-call engineer down the wrong procedure
fails with TRIAGE_MISMATCH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Incident(str, Enum):
    TOTAL_LOSS = "total_loss"  # procedure B
    CORRUPTION = "corruption"  # procedure A
    PARTIAL_LOSS = "partial_loss"  # procedure C
    DEGRADED = "degraded"  # nothing wrong with the data: investigate


PROCEDURES = {
    Incident.TOTAL_LOSS: "B: complete data loss -> restore from backup",
    Incident.CORRUPTION: "A: corruption -> save corrupted state, restore, verify",
    Incident.PARTIAL_LOSS: "C: partial data loss -> selective restore",
    Incident.DEGRADED: "none: data intact, investigate performance",
}

# A probe answers None/False for "no", or a non-empty string (evidence) / True for "yes".
Probe = Callable[[], "str | bool | None"]


@dataclass
class TriageProbes:
    reachable: Callable[[], bool]
    corrupt: Probe
    missing: Probe


@dataclass
class TriageResult:
    observed: Incident
    procedure: str
    evidence: list[str] = field(default_factory=list)
    expected: Incident | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["observed"] = self.observed.value
        data["expected"] = self.expected.value if self.expected else None
        return data


def _ask(probe: Probe, question: str, evidence: list[str]) -> bool:
    try:
        answer = probe()
    except Exception as exc:  # a probe that cannot even run is a "yes" with evidence
        evidence.append(f"{question}: probe error {type(exc).__name__}: {exc}")
        return True
    if answer:
        evidence.append(
            f"{question}: yes ({answer})" if isinstance(answer, str) else f"{question}: yes"
        )
        return True
    evidence.append(f"{question}: no")
    return False


def classify(probes: TriageProbes, expected: Incident | None = None) -> TriageResult:
    evidence: list[str] = []
    try:
        reachable = bool(probes.reachable())
    except Exception as exc:
        reachable = False
        evidence.append(f"reachable: probe error {type(exc).__name__}: {exc}")
    if not reachable:
        evidence.append("reachable: no")
        observed = Incident.TOTAL_LOSS
    else:
        evidence.append("reachable: yes")
        if _ask(probes.corrupt, "corrupt", evidence):
            observed = Incident.CORRUPTION
        elif _ask(probes.missing, "missing data", evidence):
            observed = Incident.PARTIAL_LOSS
        else:
            observed = Incident.DEGRADED
    return TriageResult(observed, PROCEDURES[observed], evidence, expected)
