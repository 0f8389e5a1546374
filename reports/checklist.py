"""The runbook's DR Drill Checklist, ticked from what a drill record actually contains.

Runbook 000's "DR Drill Checklist" (During drill / After drill): each item is decided by
the record, so a drill that forgot to record its commands shows an unticked box instead
of a reassuring one. The owner's own items ("Update runbooks if needed") stay *to do*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drillbook.record import DrillRecord, Phase, Step
from drillbook.reports.fmt import fmt_s, fmt_target, iso, plural
from drillbook.reports.model import NOT_RUN, ledger_integrity_problems, verdict_of

YES, NO, PARTIAL, NA, TODO = "yes", "no", "partial", "n/a", "todo"


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
_LABELS = dict(DURING_DRILL) | dict(AFTER_DRILL)


def _item(key: str, status: str, evidence: str) -> ChecklistItem:
    return ChecklistItem(key, _LABELS[key], status, evidence)


def _is_probe(step: Step) -> bool:
    # detect() and wait_healthy() poll a probe: they run no command of their own.
    return "probes" in (step.notes or {})


def _timestamps(rec: DrillRecord) -> ChecklistItem:
    """Every step has a start and an end, and t0 is marked."""
    steps = rec.steps
    if not steps:
        return _item("timestamps", NO, "no step recorded")
    timed = [s for s in steps if s.end_mono is not None]
    t0 = rec.wall(rec.t0_mono)
    t0_text = f"; t0 {iso(t0, 'milliseconds')}" if t0 is not None else "; no t0 marked"
    ok = len(timed) == len(steps) and t0 is not None
    status = YES if ok else (PARTIAL if timed else NO)
    return _item(
        "timestamps",
        status,
        f"{len(timed)} of {len(steps)} steps have start and end times{t0_text}",
    )


def _commands(rec: DrillRecord) -> ChecklistItem:
    """Every step that acts (the fault, the recovery) recorded its commands."""
    phases = (Phase.FAULT.value, Phase.EXECUTION.value)
    acting = [s for s in rec.steps if s.phase in phases and not _is_probe(s)]
    if not acting:
        return _item("commands", NO, "no fault or recovery step was recorded")
    with_cmds = [s for s in acting if s.commands]
    missing = [s.name for s in acting if not s.commands]
    n_cmds = sum(len(s.commands) for s in rec.steps)
    evidence = (
        f"{len(with_cmds)} of {len(acting)} fault/recovery steps recorded their commands "
        f"({n_cmds} commands in all)"
    )
    if missing:
        evidence += "; without: " + ", ".join(repr(m) for m in missing[:5])
    return _item("commands", YES if not missing else (PARTIAL if with_cmds else NO), evidence)


def _errors(rec: DrillRecord) -> ChecklistItem:
    """Every failed step carries its error; a failed command its output."""
    steps = rec.steps
    if not steps:
        return _item("errors", NA, "no step recorded")
    failed = [s for s in steps if s.outcome in ("failed", "timeout")]
    unfinished = [s for s in steps if s.outcome == "running"]
    if not failed and not unfinished:
        bad = [c for s in steps for c in s.commands if c.exit_status not in (None, 0)]
        extra = f"; {len(bad)} commands exited non-zero, output kept" if bad else ""
        return _item("errors", YES, f"no step failed{extra}")
    captured = [s for s in failed if s.error]
    evidence = f"{len(captured)} of {len(failed)} failed steps carry their error text"
    if unfinished:
        evidence += f"; {len(unfinished)} steps never finished"
    problems = len(failed) - len(captured) + len(unfinished)
    return _item("errors", YES if not problems else PARTIAL, evidence)


def _rto(rec: DrillRecord) -> ChecklistItem:
    """A measured RTO and a target to hold it against."""
    s = rec.summary()
    if s["rto_s"] is not None and s["rto_target_s"] is not None:
        clock = "detection" if s["rto_clock"] == "detection" else "t0"
        return _item(
            "rto",
            YES,
            f"RTO {fmt_s(s['rto_s'])} vs target {fmt_target(s['rto_target_s'])} "
            f"(clock from {clock})",
        )
    why = []
    if s["rto_s"] is None:
        could_not = verdict_of(rec) == NOT_RUN
        why.append(
            "no RTO measured ("
            + ("the drill could not run" if could_not else "recovery never validated")
            + ")"
        )
    if s["rto_target_s"] is None:
        why.append("no RTO target (drill not tied to a service in drills.toml)")
    return _item("rto", NO, "; ".join(why))


def _integrity(rec: DrillRecord) -> ChecklistItem:
    """Checks or a ledger read-back, and all of them clean."""
    if not rec.checks and not rec.ledgers:
        return _item("integrity", NO, "no integrity check and no ledger read-back")
    failed = [c for c in rec.checks if not c.passed]
    bad = {n: p for n, led in rec.ledgers.items() if (p := ledger_integrity_problems(led))}
    writes = sum(int(led.get("writes_total", 0)) for led in rec.ledgers.values())
    evidence = (
        f"{len(rec.checks) - len(failed)} of {len(rec.checks)} checks passed; "
        f"{len(rec.ledgers)} ledgers read back ({writes} writes)"
    )
    if bad:
        evidence += "; " + "; ".join(f"{n}: {', '.join(p)}" for n, p in bad.items())
    return _item("integrity", YES if not failed and not bad else NO, evidence)


DURING_ITEMS: tuple[Callable[[DrillRecord], ChecklistItem], ...] = (
    _timestamps,
    _commands,
    _errors,
    _rto,
    _integrity,
)


def drill_checklist(rec: DrillRecord) -> list[ChecklistItem]:
    """The runbook's "During drill" list, each item decided by what the record holds."""
    return [decide(rec) for decide in DURING_ITEMS]


def after_checklist(rec: DrillRecord, n_gaps: int) -> list[ChecklistItem]:
    """The runbook's "After drill" list: what the record can settle, and the owner's part."""
    s = rec.summary()
    got = [v for v in (s["rto_s"], s["rpo_s"]) if v is not None]
    measured = (
        f"RTO {fmt_s(s['rto_s'])}, RPO {fmt_s(s['rpo_s'])}"
        if got
        else "neither RTO nor RPO was measured"
    )
    gaps = (
        f"{plural(n_gaps, 'gap')} listed under Gaps vs. requirements" if n_gaps else "no gap found"
    )
    return [
        _item("rto_rpo", YES if len(got) == 2 else (PARTIAL if got else NO), measured),
        _item("gaps", YES, gaps),
        _item("runbooks", TODO, "drill owner"),
        _item("actions", TODO, "drill owner"),
        _item("share", TODO, "drill owner: attach this report"),
    ]
