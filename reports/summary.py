"""Monthly / quarterly DR summary numbers from the drill history.

Follows the "Monthly Report Template" of runbook 001 (RTO/RPO status, DR drills
conducted/passed, issues, next actions), computed from the history lines only (rows
that passed :mod:`reports.rows`). Counting rules, stated in the output too:

- a drill *attempt* is one history line; NOT RUN attempts are counted and never meet
  a target (a restore test that could not run proved nothing);
- *meets RTO*: an RTO was measured and is within the target;
- *meets RPO*: an RPO was measured (a ledger), it is within the target, the declared
  backup's bound is within the target, and no data was lost, corrupted or invented;
- a must-fail drill that failed as expected is a harness self-check, counted apart and
  in none of the numbers above; one that did not fail as required is a failed attempt;
- *open gaps*: the findings of each drill's latest attempt in the period that did not
  pass.

Rendering is :mod:`reports.summary_render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from drillbook.reports.fmt import fmt_s, fmt_target
from drillbook.reports.model import NOT_RUN, PASS
from drillbook.reports.periods import Period
from drillbook.reports.rows import is_self_check

DATA_CODES = {
    "DATA_LOST",
    "DATA_CORRUPTED",
    "PHANTOM_WRITE",
    "CAPTURED_WRITE_LOST",
    "RPO_EXCEEDED",
    "RPO_BOUND_EXCEEDS_TARGET",
}


def meets_rto(row: dict[str, Any]) -> bool:
    rto, target = row.get("rto_s"), row.get("rto_target_s")
    return rto is not None and target is not None and rto <= target


def meets_rpo(row: dict[str, Any]) -> bool:
    rpo, target, bound = row.get("rpo_s"), row.get("rpo_target_s"), row.get("rpo_bound_s")
    if rpo is None or target is None or rpo > target:
        return False
    if bound is not None and bound > target:
        return False
    codes = {f.get("code") for f in row.get("findings") or []}
    return not (codes & DATA_CODES)


@dataclass
class Tally:
    """Attempts and outcomes, for one service or the whole period."""

    attempts: int = 0
    ran: int = 0
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    rto_met: int = 0
    rpo_met: int = 0

    def add(self, row: dict[str, Any]) -> None:
        verdict = row.get("verdict")
        self.attempts += 1
        self.not_run += verdict == NOT_RUN
        self.ran += verdict != NOT_RUN
        self.passed += verdict == PASS
        self.failed += verdict not in (PASS, NOT_RUN)
        self.rto_met += meets_rto(row)
        self.rpo_met += meets_rpo(row)


@dataclass
class ServiceStats:
    service: str
    tier: str | None = None
    rto_target: float | None = None
    rpo_target: float | None = None
    rpo_bound: float | None = None
    tally: Tally = field(default_factory=Tally)
    rtos: list[float] = field(default_factory=list)
    rpos: list[float] = field(default_factory=list)
    worst_rto_row: dict[str, Any] | None = None
    prev_avg_rto: float | None = None
    rpo_lower_bound: bool = False  # a drill lost every write: its RPO is only a minimum

    def add(self, row: dict[str, Any]) -> None:
        self.tier = row.get("tier") or self.tier
        self.rto_target = _latest(row.get("rto_target_s"), self.rto_target)
        self.rpo_target = _latest(row.get("rpo_target_s"), self.rpo_target)
        self.rpo_bound = _latest(row.get("rpo_bound_s"), self.rpo_bound)
        self.tally.add(row)
        if row.get("rto_s") is not None:
            self.rtos.append(float(row["rto_s"]))
            if self.worst_rto_row is None or row["rto_s"] >= self.worst_rto_row["rto_s"]:
                self.worst_rto_row = row
        if row.get("rpo_s") is not None:
            self.rpos.append(float(row["rpo_s"]))
            self.rpo_lower_bound |= row.get("rpo_is_lower_bound") is True

    @property
    def avg_rto(self) -> float | None:
        return fmean(self.rtos) if self.rtos else None

    @property
    def worst_rto(self) -> float | None:
        return max(self.rtos) if self.rtos else None

    @property
    def avg_rpo(self) -> float | None:
        return fmean(self.rpos) if self.rpos else None

    @property
    def worst_rpo(self) -> float | None:
        return max(self.rpos) if self.rpos else None


def _latest(value: Any, current: float | None) -> float | None:
    return current if value is None else float(value)


@dataclass
class OpenGap:
    drill_id: str
    service: str | None
    last_run: float
    verdict: str
    code: str
    message: str
    measured: str
    target: str

    @property
    def cells(self) -> list[str]:
        return [self.measured, self.target, self.message]


@dataclass
class FindingCount:
    code: str
    count: int
    drills: list[str]
    latest_message: str


@dataclass
class Summary:
    period: Period
    source: str
    rows: list[dict[str, Any]]
    services: list[ServiceStats] = field(default_factory=list)
    findings: list[FindingCount] = field(default_factory=list)
    gaps: list[OpenGap] = field(default_factory=list)
    total: Tally = field(default_factory=Tally)
    self_checks: int = 0  # must-fail drills that failed as expected
    skipped: list[str] = field(default_factory=list)  # unreadable history lines
    generated: float = 0.0


def _gap_numbers(row: dict[str, Any], code: str) -> tuple[str, str]:
    if code == "RTO_EXCEEDED":
        return fmt_s(row.get("rto_s")), fmt_target(row.get("rto_target_s"))
    if code == "RPO_EXCEEDED":
        return fmt_s(row.get("rpo_s")), fmt_target(row.get("rpo_target_s"))
    if code == "RPO_BOUND_EXCEEDS_TARGET":
        return f"bound {fmt_target(row.get('rpo_bound_s'))}", fmt_target(row.get("rpo_target_s"))
    return "—", "—"


def _row_gaps(drill_id: str, row: dict[str, Any]) -> list[OpenGap]:
    verdict, service, started = str(row["verdict"]), row.get("service"), row["started"]

    def gap(code: str, message: str, measured: str = "—", target: str = "—") -> OpenGap:
        return OpenGap(drill_id, service, started, verdict, code, message, measured, target)

    if verdict == NOT_RUN:
        reason = str(row.get("not_run_reason") or "no reason recorded")
        return [
            gap("NOT_RUN", reason, "not measured", f"RTO {fmt_target(row.get('rto_target_s'))}")
        ]
    out = []
    if row.get("expected_fail") is not None:
        out.append(gap("EXPECTED_FAIL_MISSED", str(row.get("outcome") or "must-fail drill")))
    for f in row.get("findings") or []:
        out.append(gap(f["code"], str(f.get("message")), *_gap_numbers(row, f["code"])))
    return out


def open_gaps(rows: Sequence[dict[str, Any]]) -> list[OpenGap]:
    """The gaps of each drill's latest attempt that did not pass."""
    latest = {str(r["drill_id"]): r for r in rows}
    return [
        g
        for drill_id, row in sorted(latest.items())
        if row["verdict"] != PASS
        for g in _row_gaps(drill_id, row)
    ]


def finding_counts(rows: Sequence[dict[str, Any]]) -> list[FindingCount]:
    """Each finding code: how often, in which drills, its latest message; most first."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        for f in r.get("findings") or []:
            seen.setdefault(f["code"], []).append((str(r["drill_id"]), str(f.get("message"))))
    counted = [
        FindingCount(code, len(items), sorted({d for d, _ in items}), items[-1][1])
        for code, items in seen.items()
    ]
    return sorted(counted, key=lambda c: (-c.count, c.code))


def _services(rows: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]):
    services: dict[str, ServiceStats] = {}
    for r in rows:
        svc = str(r.get("service") or "unknown")
        services.setdefault(svc, ServiceStats(svc)).add(r)
    for svc, st in services.items():
        prev = [float(r["rto_s"]) for r in previous if str(r.get("service") or "unknown") == svc]
        st.prev_avg_rto = fmean(prev) if prev else None
    return [services[k] for k in sorted(services)]


def summarise(
    rows: Sequence[dict[str, Any]],
    period: Period,
    source: str = "",
    skipped: Sequence[str] = (),
) -> Summary:
    """The period's numbers from history rows (rows outside the period are ignored)."""
    inside = sorted((r for r in rows if period.contains(r["started"])), key=lambda r: r["started"])
    mine = [r for r in inside if not is_self_check(r)]
    prev_period = period.previous()
    previous = [
        r
        for r in rows
        if prev_period.contains(r["started"])
        and r.get("rto_s") is not None
        and not is_self_check(r)
    ]
    out = Summary(period, source, mine, skipped=list(skipped))
    out.generated = datetime.now(UTC).timestamp()
    out.self_checks = len(inside) - len(mine)
    for r in mine:
        out.total.add(r)
    out.services = _services(mine, previous)
    out.findings = finding_counts(mine)
    out.gaps = open_gaps(mine)
    return out
