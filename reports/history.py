"""The drill history: one JSON line per drill record per run, appended under a file lock.

Why a lock and one ``write``: pytest-xdist and CI jobs sharing a workspace may finish
at the same moment; ``filelock`` serialises writers across processes, and each run's
lines go out in a single ``write`` + ``fsync`` so no line is torn or interleaved. A
reader still skips a line it cannot parse (a machine that lost power mid-write) instead
of refusing the whole history.

A row holds numbers and names only (durations, RTO, RPO, findings, versions, sizes):
no ledger payloads, no command output, no row data of any service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from drillbook.record import DrillRecord, Verdict
from drillbook.reports.model import (
    RunInfo,
    day,
    fmt_s,
    resolution,
    rpo_is_lower_bound,
    tier,
    verdict_of,
)

HISTORY_SCHEMA = "drillbook.history/1"
#: Where the history lives, relative to the project root.
DEFAULT_PATH = "reports/history.jsonl"
LOCK_TIMEOUT = 60.0
#: How many past runs a sparkline shows.
TREND_POINTS = 30


def history_row(rec: DrillRecord, run: RunInfo, report: str | None = None) -> dict[str, Any]:
    """The history line of one record (already scrubbed of secrets by the caller)."""
    s = rec.summary()
    tgt = rec.target or {}
    ledgers = {
        name: {
            key: led.get(key)
            for key in (
                "writes_total",
                "acked_before_t0",
                "counts",
                "counts_after_t0",
                "holes",
                "recovery_point_seq",
                "rpo_seconds",
                "rpo_is_lower_bound",
                "resolution_seconds",
                "achieved_rate",
            )
        }
        for name, led in rec.ledgers.items()
    }
    steps = [
        {
            "name": st.name,
            "phase": st.phase,
            "duration_s": st.duration,
            "outcome": st.outcome,
            "bytes": st.bytes_processed,
            "commands": len(st.commands),
        }
        for st in rec.steps
    ]
    proj = rec.projection
    return {
        "schema": HISTORY_SCHEMA,
        "run_id": run.run_id,
        "recorded_at": run.finished,
        "started": rec.origin_wall,
        "started_iso": rec.iso(rec.origin_mono),
        "t0": rec.wall(rec.t0_mono),
        "drill_id": rec.drill_id,
        "name": rec.name,
        "service": rec.service,
        "scenario": rec.scenario,
        "tier": tier(rec),
        "backend": rec.backend,
        "host": run.host,
        "verdict": verdict_of(rec),
        "not_run_reason": rec.not_run_reason,
        "rto_s": s["rto_s"],
        "rto_target_s": s["rto_target_s"],
        "rto_clock": s["rto_clock"],
        "time_to_first_healthy_s": s["time_to_first_healthy_s"],
        "rpo_s": s["rpo_s"],
        "rpo_bound_s": s["rpo_bound_s"],
        "rpo_target_s": s["rpo_target_s"],
        "rpo_resolution_s": resolution(rec),
        "rpo_is_lower_bound": rpo_is_lower_bound(rec),
        "phases_s": s["phases_s"],
        "findings": [
            {"code": f.code, "severity": f.severity, "message": f.message} for f in rec.findings
        ],
        "checks": {"total": len(rec.checks), "passed": sum(1 for c in rec.checks if c.passed)},
        "versions": dict(rec.versions),
        "targets_digest": rec.targets_digest,
        "target": {
            "kind": tgt.get("kind"),
            "tier": tgt.get("tier"),
            "rto": tgt.get("rto"),
            "rpo": tgt.get("rpo"),
            "rpo_bound": tgt.get("rpo_bound"),
            "rto_clock": tgt.get("rto_clock"),
            "backups": [b.get("text") for b in tgt.get("backups", [])],
            "production_size": tgt.get("production_size"),
        }
        if rec.target
        else None,
        "ledgers": ledgers,
        "steps": steps,
        "sizes": {
            "bytes_processed": sum(st.bytes_processed or 0 for st in rec.steps) or None,
            "production_size": tgt.get("production_size"),
        },
        "projection": None
        if proj is None
        else {
            "step": proj.step,
            "measured_bytes": proj.measured_bytes,
            "throughput_bytes_per_s": proj.throughput_bytes_per_s,
            "production_size_bytes": proj.production_size_bytes,
            "projected_seconds": proj.projected_seconds,
        },
        "report": report,
    }


def append_history(
    path: Path, rows: Sequence[dict[str, Any]], timeout: float = LOCK_TIMEOUT
) -> None:
    """Append *rows* as JSON lines, atomically with respect to other writers."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)
    with FileLock(str(path) + ".lock", timeout=timeout), open(path, "ab") as fh:
        # A line torn by a crash of an earlier writer must not swallow ours.
        if fh.tell() > 0:
            with open(path, "rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    payload = "\n" + payload
        fh.write(payload.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


@dataclass
class History:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # unreadable lines (torn, foreign)
    path: Path | None = None


def read_history(path: Path) -> History:
    """Every readable row of the history file (none if it does not exist)."""
    out = History(path=path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            out.skipped += 1
            continue
        if not isinstance(row, dict) or not str(row.get("schema", "")).startswith(
            "drillbook.history/"
        ):
            out.skipped += 1
            continue
        out.rows.append(row)
    out.rows.sort(key=lambda r: r.get("started") or 0)
    return out


# ------------------------------------------------------------------------- trends


@dataclass
class TrendPoint:
    started: float
    rto_s: float | None
    verdict: str
    run_id: str | None
    current: bool = False


@dataclass
class Trend:
    drill_id: str
    points: list[TrendPoint]
    sentence: str
    last_pass: dict[str, Any] | None = None


def _pct_sentence(rto: float, ref: float, when: str) -> str:
    if ref <= 0:
        return f"RTO {fmt_s(rto)}; the last passing run ({when}) took {fmt_s(ref)}"
    change = (rto - ref) / ref * 100.0
    if abs(change) < 0.5:
        return f"RTO about the same as the last passing run ({when}, {fmt_s(ref)})"
    word = "slower" if change > 0 else "faster"
    return f"RTO {abs(change):.0f} % {word} than the last passing run ({when}, {fmt_s(ref)})"


def trend(
    past_rows: Iterable[dict[str, Any]], rec: DrillRecord, run_id: str | None = None
) -> Trend:
    """This drill's RTO over past runs plus this one, and how it compares."""
    mine = [r for r in past_rows if r.get("drill_id") == rec.drill_id and r.get("run_id") != run_id]
    mine.sort(key=lambda r: r.get("started") or 0)
    points = [
        TrendPoint(r.get("started") or 0.0, r.get("rto_s"), str(r.get("verdict")), r.get("run_id"))
        for r in mine[-(TREND_POINTS - 1) :]
    ]
    rto = rec.rto_seconds
    points.append(TrendPoint(rec.origin_wall, rto, verdict_of(rec), run_id, current=True))
    passes = [
        r for r in mine if r.get("verdict") == Verdict.PASS.value and r.get("rto_s") is not None
    ]
    last_pass = passes[-1] if passes else None
    if last_pass is None:
        sentence = (
            "No earlier passing run of this drill in the history to compare with."
            if mine
            else "First run of this drill in the history: no trend yet."
        )
    elif rto is None:
        sentence = (
            f"No RTO this run; the last passing run ({day(last_pass['started'])}) "
            f"recovered in {fmt_s(last_pass['rto_s'])}."
        )
    else:
        sentence = _pct_sentence(rto, float(last_pass["rto_s"]), day(last_pass["started"])) + "."
    return Trend(rec.drill_id, points, sentence, last_pass)
