"""What the artefacts say about a record, derived once: its outcome, counts, run context.

Reports render data, they never measure: everything here is read off the record
(:class:`drillbook.record.DrillRecord`) and its target snapshot.

The *outcome* is the verdict the artefacts count. It is the record's verdict, except
for a must-fail drill (``@pytest.mark.drill_expect_fail``, recorded as
``notes["expected_fail"]``): one that FAILed with every expected finding is what its
author asked for, so it counts as a PASS ("failed as expected: CODE"); one that did not
fail as required counts as a FAIL, whatever the drill ended as. Every artefact (HTML,
drills.json, history, metrics, summary) reads the outcome from :func:`outcome`.
"""

from __future__ import annotations

import getpass
import hashlib
import platform
import re
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from drillbook.record import DrillRecord, Verdict

PASS, FAIL, NOT_RUN = Verdict.PASS.value, Verdict.FAIL.value, Verdict.NOT_RUN.value
VERDICTS = (PASS, FAIL, NOT_RUN)


# ------------------------------------------------------------------------- outcome


@dataclass(frozen=True)
class ExpectedFail:
    """What a must-fail drill had to fail with: finding codes, optionally a message part."""

    codes: tuple[str, ...]
    match: str | None = None

    @classmethod
    def from_note(cls, note: Any) -> ExpectedFail:
        """``["CODE", ...]``, ``"CODE"`` or ``{"codes": [...], "match": "text"}``."""
        match = None
        if isinstance(note, Mapping):
            match = note.get("match")
            note = note.get("codes") or ()
        codes = [note] if isinstance(note, str) else list(note or ())
        return cls(tuple(sorted(str(c) for c in codes)), str(match) if match else None)

    def met_by(self, rec: DrillRecord) -> bool:
        """The drill FAILed with every expected code (and the message part, if any)."""
        if rec.verdict != FAIL:
            return False
        got = {f.code for f in rec.findings}
        if not set(self.codes) <= got:
            return False
        pool = [f for f in rec.findings if not self.codes or f.code in self.codes]
        return self.match is None or any(self.match in f.message for f in pool)

    def text(self) -> str:
        what = ", ".join(self.codes) or "any finding"
        return what + (f" (message containing {self.match!r})" if self.match else "")


@dataclass(frozen=True)
class Outcome:
    """The verdict an artefact counts, and why it differs from the drill's, if it does."""

    verdict: str  # PASS | FAIL | NOT RUN, as counted
    drill_verdict: str  # what the drill itself ended as
    expected: ExpectedFail | None = None
    label: str = ""  # "failed as expected: DATA_LOST"; "" for an ordinary drill

    @property
    def must_fail(self) -> bool:
        return self.expected is not None

    @property
    def failed_as_expected(self) -> bool:
        """A harness self-check that caught the broken recovery it was built around."""
        return self.expected is not None and self.verdict == PASS

    @property
    def short(self) -> str:
        """The label without its codes, for a narrow cell: "failed as expected"."""
        return self.label.split(":", 1)[0]


def outcome(rec: DrillRecord) -> Outcome:
    """PASS, FAIL or NOT RUN as counted; a record without a verdict is a FAIL."""
    drill = rec.verdict if rec.verdict in VERDICTS else FAIL
    note = rec.notes.get("expected_fail") if isinstance(rec.notes, Mapping) else None
    if note is None:
        return Outcome(drill, drill)
    expected = ExpectedFail.from_note(note)
    if drill == NOT_RUN:
        return Outcome(NOT_RUN, NOT_RUN, expected, "must-fail drill that could not run")
    if expected.met_by(rec):
        return Outcome(PASS, drill, expected, f"failed as expected: {expected.text()}")
    got = ", ".join(sorted({f.code for f in rec.findings})) or "no finding"
    return Outcome(
        FAIL,
        drill,
        expected,
        f"did not fail as required: expected FAIL with {expected.text()}, ended {drill} with {got}",
    )


def outcome_fields(rec: DrillRecord) -> dict[str, Any]:
    """The outcome as drills.json and the history store it (flat, JSON-ready)."""
    result = outcome(rec)
    return {
        "verdict": result.verdict,
        "drill_verdict": result.drill_verdict,
        "expected_fail": list(result.expected.codes) if result.expected else None,
        "outcome": result.label or None,
    }


def verdict_of(rec: DrillRecord) -> str:
    return outcome(rec).verdict


def counts(records: Iterable[DrillRecord]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for rec in records:
        out[verdict_of(rec)] += 1
    return out


def overall(records: Sequence[DrillRecord]) -> str:
    """FAIL if any drill failed, else NOT RUN if any could not run, else PASS."""
    c = counts(records)
    if c[FAIL]:
        return FAIL
    if c[NOT_RUN] or not records:
        return NOT_RUN
    return PASS


# ------------------------------------------------------------------------- records


def anchor(drill_id: str) -> str:
    """A stable HTML id for a drill's section (readable slug + short hash: unique)."""
    slug = re.sub(r"[^a-z0-9]+", "-", drill_id.lower()).strip("-")
    if len(slug) > 60:  # keep the end (the test's name), starting at a word boundary
        slug = slug[-60:].split("-", 1)[-1]
    return f"drill-{slug}-{hashlib.sha256(drill_id.encode()).hexdigest()[:6]}"


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


def ledger_integrity_problems(led: Mapping[str, Any]) -> list[str]:
    """What a ledger read-back says is wrong regardless of the RPO target."""
    counts_ = led.get("counts", {})
    after = led.get("counts_after_t0", {})
    problems = []
    if led.get("holes"):
        problems.append(f"{led['holes']} holes after the recovery point")
    for key in ("corrupted", "phantom"):
        if counts_.get(key):
            problems.append(f"{counts_[key]} {key}")
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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
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
    host = socket.gethostname()
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
    return RunInfo(
        run_id=f"{stamp}-{hashlib.sha256(f'{started}{host}'.encode()).hexdigest()[:8]}",
        started=started,
        finished=finished,
        host=host,
        user=_user(),
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
