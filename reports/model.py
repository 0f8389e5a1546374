"""What the artefacts say, derived once from drill records: counts, gaps, checklists.

Reports render data, they never measure: everything here is read off the record
(:class:`drillbook.record.DrillRecord`) and its target snapshot. The runbook's drill
checklist (``../shared/runbooks/000_b9e419547e14e1e8.md``, "DR Drill Checklist") is
ticked from what the record actually contains, so a drill that forgot to record its
commands shows an unticked box instead of a reassuring one.
"""

from __future__ import annotations

import getpass
import hashlib
import platform
import re
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from drillbook.record import DrillRecord, Phase, Verdict
from drillbook.targets import format_duration
from drillbook.verdict import FINDING_CODES

VERDICTS = (Verdict.PASS.value, Verdict.FAIL.value, Verdict.NOT_RUN.value)

#: Codes of gaps this report adds on top of the engine's findings (never in the engine's
#: FINDING_CODES, so a CI gate keyed on findings is not affected).
REPORT_GAP_CODES = {
    "NOT_RUN": "the drill could not run: nothing was measured",
    "RTO_NOT_MEASURED": "the drill ran but never validated the recovery: no RTO",
    "RPO_NOT_MEASURED": "no ledger measured how much data was lost",
    "CHECKLIST": "a drill checklist item is not satisfied by the record",
}


# ------------------------------------------------------------------------- formatting


def fmt_s(seconds: float | None) -> str:
    """A measured duration: ``12.6 ms``, ``1.670 s``, ``5m12s (312 s)``; ``n/a`` if None."""
    if seconds is None:
        return "n/a"
    if seconds == 0:
        return "0 s"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.1f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.3f} s"
    return f"{format_duration(round(seconds))} ({seconds:.0f} s)"


def fmt_target(seconds: float | None) -> str:
    """A target as the team wrote it in drills.toml: ``15m``, ``0``, ``1s``."""
    if seconds is None:
        return "n/a"
    return format_duration(seconds) if seconds > 0 else "0"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def iso(epoch: float | None, timespec: str = "seconds") -> str:
    if epoch is None:
        return "n/a"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def day(epoch: float | None) -> str:
    return "n/a" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def pct(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100.0 * part / whole:.0f} %"


# ------------------------------------------------------------------------- records


def verdict_of(rec: DrillRecord) -> str:
    """PASS, FAIL or NOT RUN; a record without a verdict is a FAIL (never a pass)."""
    return rec.verdict if rec.verdict in VERDICTS else Verdict.FAIL.value


def counts(records: Iterable[DrillRecord]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for rec in records:
        out[verdict_of(rec)] += 1
    return out


def overall(records: Sequence[DrillRecord]) -> str:
    """FAIL if any drill failed, else NOT RUN if any could not run, else PASS."""
    c = counts(records)
    if c[Verdict.FAIL.value]:
        return Verdict.FAIL.value
    if c[Verdict.NOT_RUN.value] or not records:
        return Verdict.NOT_RUN.value
    return Verdict.PASS.value


def anchor(drill_id: str) -> str:
    """A stable HTML id for a drill's section (readable slug + short hash: unique)."""
    slug = re.sub(r"[^a-z0-9]+", "-", drill_id.lower()).strip("-")
    if len(slug) > 60:  # keep the end (the test's name), starting at a word boundary
        slug = slug[-60:].split("-", 1)[-1]
    return f"drill-{slug}-{hashlib.sha256(drill_id.encode()).hexdigest()[:6]}"


def started_wall(rec: DrillRecord) -> float:
    """When the drill started (wall clock): its record's origin."""
    return rec.origin_wall


def t0_wall(rec: DrillRecord) -> float | None:
    return rec.wall(rec.t0_mono)


def tier(rec: DrillRecord) -> str | None:
    return (rec.target or {}).get("tier")


def resolution(rec: DrillRecord) -> float | None:
    """The RPO's resolution: the coarsest ledger cadence of the drill."""
    values: list[float] = []
    for led in rec.ledgers.values():
        value = led.get("resolution_seconds") or led.get("cadence")
        if value is not None:
            values.append(float(value))
    return max(values) if values else None


def rpo_is_lower_bound(rec: DrillRecord) -> bool:
    return any(led.get("rpo_is_lower_bound") for led in rec.ledgers.values())


def ledger_integrity_problems(led: dict[str, Any]) -> list[str]:
    """What a ledger read-back says is wrong regardless of the RPO target."""
    counts_ = led.get("counts", {})
    after = led.get("counts_after_t0", {})
    problems = []
    if led.get("holes"):
        problems.append(f"{led['holes']} holes after the recovery point")
    for key, label in (("corrupted", "corrupted"), ("phantom", "phantom")):
        if counts_.get(key):
            problems.append(f"{counts_[key]} {label}")
    if after.get("lost"):
        problems.append(f"{after['lost']} writes acknowledged after t0 lost")
    if after.get("corrupted"):
        problems.append(f"{after['corrupted']} writes after t0 corrupted")
    return problems


# ------------------------------------------------------------------------- run context


@dataclass
class RunInfo:
    """When and where a pytest run ran its drills (the report's header)."""

    run_id: str
    started: float
    finished: float
    host: str
    user: str
    platform: str
    python: str
    pytest: str
    drillbook: str
    backends: list[str] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    targets_digests: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    workers: int = 0
    artefacts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pkg_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def run_info(
    records: Sequence[DrillRecord],
    *,
    started: float,
    finished: float,
    args: Sequence[str] = (),
    workers: int = 0,
) -> RunInfo:
    """The run context, gathered from the records (backend, versions, digest) and host."""
    versions: dict[str, list[str]] = {}
    for rec in records:
        for name, ver in sorted(rec.versions.items()):
            if ver and str(ver) not in versions.setdefault(name, []):
                versions[name].append(str(ver))
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
    return RunInfo(
        run_id=f"{stamp}-{hashlib.sha256(f'{started}{socket.gethostname()}'.encode()).hexdigest()[:8]}",
        started=started,
        finished=finished,
        host=socket.gethostname(),
        user=user,
        platform=platform.platform(terse=True),
        python=sys.version.split()[0],
        pytest=_pkg_version("pytest"),
        drillbook=_pkg_version("drillbook"),
        backends=sorted({r.backend for r in records if r.backend}),
        versions=versions,
        targets_digests=sorted({r.targets_digest for r in records if r.targets_digest}),
        args=list(args),
        workers=workers,
    )


# ------------------------------------------------------------------------- checklist


YES, NO, PARTIAL, NA = "yes", "no", "partial", "n/a"


@dataclass
class ChecklistItem:
    key: str
    label: str
    status: str  # yes | no | partial | n/a | todo
    evidence: str


#: "During drill" of the runbook's DR Drill Checklist, in its order.
DURING_DRILL = (
    ("timestamps", "Record exact timestamps for all actions"),
    ("commands", "Document all commands executed"),
    ("errors", "Capture any errors or unexpected behavior"),
    ("rto", "Measure actual RTO vs target"),
    ("integrity", "Verify data integrity post-recovery"),
)
#: "After drill" of the same checklist.
AFTER_DRILL = (
    ("rto_rpo", "Calculate actual RTO and RPO achieved"),
    ("gaps", "Document gaps vs requirements"),
    ("runbooks", "Update runbooks if needed"),
    ("actions", "Create action items for improvements"),
    ("share", "Share report with leadership"),
)


def _is_probe(step: Any) -> bool:
    # detect() and wait_healthy() poll a probe: they run no command of their own.
    return "probes" in (step.notes or {})


def drill_checklist(rec: DrillRecord) -> list[ChecklistItem]:
    """The runbook's "During drill" list, each item decided by what the record holds."""
    labels = dict(DURING_DRILL)
    items: list[ChecklistItem] = []
    steps = rec.steps

    # Timestamps: every step has a start and an end, and t0 is marked.
    timed = [s for s in steps if s.end_mono is not None]
    if not steps:
        items.append(ChecklistItem("timestamps", labels["timestamps"], NO, "no step recorded"))
    else:
        t0 = (
            f"; t0 {iso(rec.wall(rec.t0_mono), 'milliseconds')}"
            if rec.t0_mono is not None
            else "; no t0 marked"
        )
        ok = len(timed) == len(steps) and rec.t0_mono is not None
        status = YES if ok else (PARTIAL if timed else NO)
        items.append(
            ChecklistItem(
                "timestamps",
                labels["timestamps"],
                status,
                f"{len(timed)} of {len(steps)} steps have start and end times{t0}",
            )
        )

    # Commands: every step that acts (the fault, the recovery) recorded its commands.
    acting = [
        s
        for s in steps
        if s.phase in (Phase.FAULT.value, Phase.EXECUTION.value) and not _is_probe(s)
    ]
    with_cmds = [s for s in acting if s.commands]
    n_cmds = sum(len(s.commands) for s in steps)
    if not acting:
        items.append(
            ChecklistItem(
                "commands", labels["commands"], NO, "no fault or recovery step was recorded"
            )
        )
    else:
        missing = [s.name for s in acting if not s.commands]
        status = YES if not missing else (PARTIAL if with_cmds else NO)
        evidence = (
            f"{len(with_cmds)} of {len(acting)} fault/recovery steps recorded their commands "
            f"({n_cmds} commands in all)"
        )
        if missing:
            evidence += "; without: " + ", ".join(repr(m) for m in missing[:5])
        items.append(ChecklistItem("commands", labels["commands"], status, evidence))

    # Errors: every failed step carries its error; a failed command its output.
    failed = [s for s in steps if s.outcome in ("failed", "timeout")]
    unfinished = [s for s in steps if s.outcome == "running"]
    bad_cmds = [c for s in steps for c in s.commands if c.exit_status not in (None, 0)]
    if not steps:
        items.append(ChecklistItem("errors", labels["errors"], NA, "no step recorded"))
    elif not failed and not unfinished:
        extra = f"; {len(bad_cmds)} commands exited non-zero, output kept" if bad_cmds else ""
        items.append(ChecklistItem("errors", labels["errors"], YES, f"no step failed{extra}"))
    else:
        captured = [s for s in failed if s.error]
        problems = len(failed) - len(captured) + len(unfinished)
        evidence = f"{len(captured)} of {len(failed)} failed steps carry their error text"
        if unfinished:
            evidence += f"; {len(unfinished)} steps never finished"
        items.append(
            ChecklistItem("errors", labels["errors"], YES if not problems else PARTIAL, evidence)
        )

    # RTO vs target: a measured RTO and a target to hold it against.
    s = rec.summary()
    if s["rto_s"] is not None and s["rto_target_s"] is not None:
        items.append(
            ChecklistItem(
                "rto",
                labels["rto"],
                YES,
                f"RTO {fmt_s(s['rto_s'])} vs target {fmt_target(s['rto_target_s'])} "
                f"(clock from {'detection' if s['rto_clock'] == 'detection' else 't0'})",
            )
        )
    else:
        why = []
        if s["rto_s"] is None and verdict_of(rec) == Verdict.NOT_RUN.value:
            why.append("no RTO measured (the drill could not run)")
        elif s["rto_s"] is None:
            why.append("no RTO measured (recovery never validated)")
        if s["rto_target_s"] is None:
            why.append("no RTO target (drill not tied to a service in drills.toml)")
        items.append(ChecklistItem("rto", labels["rto"], NO, "; ".join(why)))

    # Integrity: checks or a ledger read-back, and all of them clean.
    failed_checks = [c for c in rec.checks if not c.passed]
    ledger_bad = {n: ledger_integrity_problems(led) for n, led in rec.ledgers.items()}
    ledger_bad = {n: p for n, p in ledger_bad.items() if p}
    if not rec.checks and not rec.ledgers:
        items.append(
            ChecklistItem(
                "integrity", labels["integrity"], NO, "no integrity check and no ledger read-back"
            )
        )
    else:
        writes = sum(int(led.get("writes_total", 0)) for led in rec.ledgers.values())
        evidence = (
            f"{len(rec.checks) - len(failed_checks)} of {len(rec.checks)} checks passed; "
            f"{len(rec.ledgers)} ledgers read back ({writes} writes)"
        )
        if ledger_bad:
            evidence += "; " + "; ".join(f"{n}: {', '.join(p)}" for n, p in ledger_bad.items())
        ok = not failed_checks and not ledger_bad
        items.append(ChecklistItem("integrity", labels["integrity"], YES if ok else NO, evidence))
    return items


def after_checklist(rec: DrillRecord, gaps: Sequence[Gap]) -> list[ChecklistItem]:
    """The runbook's "After drill" list: what the record can settle, and the owner's part."""
    labels = dict(AFTER_DRILL)
    s = rec.summary()
    got = [n for n, v in (("RTO", s["rto_s"]), ("RPO", s["rpo_s"])) if v is not None]
    status = YES if len(got) == 2 else (PARTIAL if got else NO)
    evidence = (
        f"RTO {fmt_s(s['rto_s'])}, RPO {fmt_s(s['rpo_s'])}"
        if got
        else "neither RTO nor RPO was measured"
    )
    own = [g for g in gaps if g.drill_id == rec.drill_id]
    return [
        ChecklistItem("rto_rpo", labels["rto_rpo"], status, evidence),
        ChecklistItem(
            "gaps",
            labels["gaps"],
            YES,
            f"{len(own)} gap{'s' if len(own) != 1 else ''} listed under Gaps vs. requirements"
            if own
            else "no gap found",
        ),
        ChecklistItem("runbooks", labels["runbooks"], "todo", "drill owner"),
        ChecklistItem("actions", labels["actions"], "todo", "drill owner"),
        ChecklistItem("share", labels["share"], "todo", "drill owner: attach this report"),
    ]


# ------------------------------------------------------------------------- gaps


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


#: Findings that already state an integrity failure (no separate checklist gap for it).
INTEGRITY_CODES = {
    "INTEGRITY_FAILED",
    "DATA_LOST",
    "DATA_CORRUPTED",
    "PHANTOM_WRITE",
    "VALIDATION_NOT_RUN",
}


def gaps_for(rec: DrillRecord) -> list[Gap]:
    """Every missed target and finding of one drill, numbers first."""
    s = rec.summary()
    verdict = verdict_of(rec)
    out: list[Gap] = []

    def add(code: str, message: str, measured: str = "—", target: str = "—", sev: str = "fail"):
        out.append(Gap(rec.drill_id, rec.name, rec.service, code, sev, measured, target, message))

    if verdict == Verdict.NOT_RUN.value:
        add(
            "NOT_RUN",
            f"could not run: {rec.not_run_reason or 'no reason recorded'}",
            "not measured",
            f"RTO {fmt_target(s['rto_target_s'])}, RPO {fmt_target(s['rpo_target_s'])}"
            if rec.target
            else "—",
        )
        return out
    res = resolution(rec)
    for f in rec.findings:
        measured, target = "—", "—"
        if f.code == "RTO_EXCEEDED":
            measured = fmt_s(s["rto_s"]) if s["rto_s"] is not None else "not validated"
            target = fmt_target(s["rto_target_s"])
        elif f.code == "RPO_EXCEEDED":
            measured = fmt_s(s["rpo_s"]) + (f" (± {fmt_s(res)})" if res else "")
            target = fmt_target(s["rpo_target_s"])
        elif f.code == "RPO_BOUND_EXCEEDS_TARGET":
            measured = f"bound {fmt_target(s['rpo_bound_s'])}"
            target = fmt_target(s["rpo_target_s"])
        elif f.code == "RTO_PROJECTED_EXCEEDED" and rec.projection is not None:
            measured = f"projected {fmt_s(rec.projection.projected_seconds)}"
            target = fmt_target(rec.projection.rto_target)
        add(f.code, f.message, measured, target, f.severity)
    codes = {f.code for f in rec.findings}
    if s["rto_s"] is None and "RTO_EXCEEDED" not in codes:
        add(
            "RTO_NOT_MEASURED",
            "the recovery was never validated, so no RTO was measured",
            "not measured",
            fmt_target(s["rto_target_s"]),
        )
    elif (
        s["rto_s"] is not None
        and s["rto_target_s"] is not None
        and s["rto_s"] > s["rto_target_s"]
        and "RTO_EXCEEDED" not in codes
    ):
        add(
            "RTO_EXCEEDED",
            "measured RTO above the target",
            fmt_s(s["rto_s"]),
            fmt_target(s["rto_target_s"]),
        )
    if s["rpo_s"] is None and rec.target and rec.target.get("rpo") is not None:
        add(
            "RPO_NOT_MEASURED",
            "no ledger read back after recovery: data loss was not measured",
            "not measured",
            fmt_target(s["rpo_target_s"]),
            "warn",
        )
    listed = {f.code for f in rec.findings}
    for item in drill_checklist(rec):
        if item.key == "rto" and s["rto_target_s"] is not None:
            continue  # a missing RTO is its own gap above
        if item.key == "integrity" and listed & INTEGRITY_CODES:
            continue  # the findings above already say what failed
        if item.status in (NO, PARTIAL):
            measured = "partly met" if item.status == PARTIAL else "not met"
            add("CHECKLIST", f"{item.label}: {item.evidence}", measured, "checklist item", "warn")
    return out


def all_gaps(records: Iterable[DrillRecord]) -> list[Gap]:
    return [g for rec in records for g in gaps_for(rec)]


def describe_code(code: str) -> str:
    return FINDING_CODES.get(code) or REPORT_GAP_CODES.get(code, "")
