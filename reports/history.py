"""The drill history: one JSON line per drill record per run, appended under a file lock.

Why a lock and one ``write``: pytest-xdist and CI jobs sharing a workspace may finish
at the same moment; ``filelock`` serialises writers across processes, and each run's
lines go out in a single ``write`` + ``fsync`` so no line is torn or interleaved. A
write that fails (a full disk) is cut back to the file's earlier length, so the lines
already there stay exactly as they were and no torn tail is left for the next reader.
A reader still skips, by line number, a row it cannot use (:mod:`reports.rows`).

A row holds numbers and names only (durations, RTO, RPO, findings, versions, sizes):
no ledger payloads, no command output, no row data of any service.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.record import DrillRecord
from drillbook.reports.files import ensure_folder
from drillbook.reports.model import RunInfo, outcome_fields, resolution, rpo_is_lower_bound, tier
from drillbook.reports.rows import row_problem

HISTORY_SCHEMA = "drillbook.history/1"
#: Where the history lives, relative to the project root.
DEFAULT_PATH = "reports/history.jsonl"
LOCK_TIMEOUT = 60.0
#: A line longer than this is not a row this writer wrote (rows are a few KB).
MAX_LINE_BYTES = 1_000_000
LEDGER_KEYS = (
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
TARGET_KEYS = ("kind", "tier", "rto", "rpo", "rpo_bound", "rto_clock", "production_size")


def _target(rec: DrillRecord) -> dict[str, Any] | None:
    if not rec.target:
        return None
    out = {key: rec.target.get(key) for key in TARGET_KEYS}
    out["backups"] = [b.get("text") for b in rec.target.get("backups", [])]
    return out


def _steps(rec: DrillRecord) -> list[dict[str, Any]]:
    return [
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


def _projection(rec: DrillRecord) -> dict[str, Any] | None:
    p = rec.projection
    if p is None:
        return None
    return {
        "step": p.step,
        "measured_bytes": p.measured_bytes,
        "throughput_bytes_per_s": p.throughput_bytes_per_s,
        "production_size_bytes": p.production_size_bytes,
        "projected_seconds": p.projected_seconds,
    }


def history_row(rec: DrillRecord, run: RunInfo, report: str | None = None) -> dict[str, Any]:
    """The history line of one record (already scrubbed of secrets by the caller)."""
    s = rec.summary()
    production_size = (rec.target or {}).get("production_size")
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
        **outcome_fields(rec),
        "not_run_reason": rec.not_run_reason,
        **{key: s[key] for key in ("rto_s", "rto_target_s", "rto_clock")},
        "time_to_first_healthy_s": s["time_to_first_healthy_s"],
        **{key: s[key] for key in ("rpo_s", "rpo_bound_s", "rpo_target_s")},
        "rpo_resolution_s": resolution(rec),
        "rpo_is_lower_bound": rpo_is_lower_bound(rec),
        "phases_s": s["phases_s"],
        "findings": [
            {"code": f.code, "severity": f.severity, "message": f.message} for f in rec.findings
        ],
        "checks": {"total": len(rec.checks), "passed": sum(1 for c in rec.checks if c.passed)},
        "versions": dict(rec.versions),
        "targets_digest": rec.targets_digest,
        "target": _target(rec),
        "ledgers": {n: {k: led.get(k) for k in LEDGER_KEYS} for n, led in rec.ledgers.items()},
        "steps": _steps(rec),
        "sizes": {
            "bytes_processed": sum(st.bytes_processed or 0 for st in rec.steps) or None,
            "production_size": production_size,
        },
        "projection": _projection(rec),
        "report": report,
    }


def append_history(
    path: Path, rows: Sequence[dict[str, Any]], timeout: float = LOCK_TIMEOUT
) -> None:
    """Append *rows* as JSON lines; on failure the file is left as it was, and it raises."""
    if not rows:
        return
    payload = "".join(
        json.dumps(r, sort_keys=True, default=str, allow_nan=False) + "\n" for r in rows
    ).encode("utf-8")
    from filelock import FileLock  # imported when a history is written, not at start-up

    ensure_folder(path.parent)
    with FileLock(str(path) + ".lock", timeout=timeout):
        # Unbuffered: nothing is left in a buffer to be flushed after the cut-back.
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _append(fd, payload)
        finally:
            os.close(fd)


def _append(fd: int, payload: bytes) -> None:
    size = os.lseek(fd, 0, os.SEEK_END)
    try:
        # A line torn by a crash of an earlier writer must not swallow ours.
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            payload = b"\n" + payload
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):  # a device (/dev/full) cannot be cut back
            os.ftruncate(fd, size)
        raise


# ------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RowProblem:
    """A history line that was skipped, and why."""

    line: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class History:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    path: Path | None = None

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def problem_lines(self, most: int = 5) -> list[str]:
        """One line per skipped row (the first *most*), for a terminal or stderr."""
        lines = [f"{self.path}: {p} (skipped)" for p in self.problems[:most]]
        if len(self.problems) > most:
            lines.append(f"{self.path}: {len(self.problems) - most} more lines skipped")
        return lines


def parse_line(raw: bytes, last: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The row in one line of the file, or why it cannot be counted."""
    if len(raw) > MAX_LINE_BYTES:
        return None, f"line of {len(raw)} bytes, more than a history row holds"
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5,000-digit number
        torn = " (the last line, torn: no newline at its end)" if last else ""
        return None, f"not JSON{torn}: {str(exc)[:80]}"
    problem = row_problem(row)
    return (None, problem) if problem else (row, None)


def read_history(path: Path) -> History:
    """Every usable row of the history file (none if it does not exist), oldest first."""
    out = History(path=path)
    try:
        if not path.is_file():  # none yet, a folder, a device: nothing to read, and a
            return out  # write to this path says why it cannot be written, if it cannot
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return out
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        row, problem = parse_line(raw, last=number == len(lines))
        if row is None:
            out.problems.append(RowProblem(number, problem or "unreadable"))
        else:
            out.rows.append(row)
    out.rows.sort(key=lambda r: float(r["started"]))
    return out
