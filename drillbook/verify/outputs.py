"""A verification as a drill record, and every artefact ``drillbook verify`` writes.

Each verification is also a :class:`~drillbook.record.DrillRecord` (``drill_id``
``verify:<service>``): its steps are the recorded download, restore and validation,
t0 is the start of the download (the moment a real restore would start), validated is
the end of the validation, so its RTO is the restore's. That makes the verify output
readable by everything that reads drills: drills.json (``reports.jsonout``), the
history (``reports.history``: same file-locked append, same row plus a ``verify`` block
of numbers and names) and its trends. NOT VERIFIED is recorded as NOT RUN (its reason
says NOT_VERIFIED): a verification that could not run never counts as a pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.record import Check, DrillRecord, Phase, Verdict
from drillbook.redact import redact
from drillbook.verify import metrics, report
from drillbook.verify.drift import drill_id
from drillbook.verify.model import FAIL, PASS, VerifyResult

HISTORY_FILE = "reports/verify-history.jsonl"
REPORT_DIR = "reports/out/verify"
_VERDICTS = {PASS: Verdict.PASS.value, FAIL: Verdict.FAIL.value}
#: The numbers of a verification kept in its history row (no data, no messages).
HISTORY_KEYS = (
    "outcome",
    "not_verified_code",
    "download_s",
    "restore_s",
    "validate_s",
    "total_s",
    "backup_age_s",
    "max_age_s",
    "restored_bytes",
    "objects",
    "counts",
    "server",
)


def new_record(service: str, target: Any, digest: str | None) -> DrillRecord:
    return DrillRecord(
        drill_id=drill_id(service),
        name=f"verify {service}",
        service=service,
        scenario="restore test of the newest real backup",
        backend="local",
        target=target.to_dict() if target is not None else None,
        targets_digest=digest,
    )


def finish_record(record: DrillRecord, result: VerifyResult, t0_mono: float) -> DrillRecord:
    """Put the result into *record*: checks, findings, verdict, the verify notes."""
    record.t0_mono = t0_mono
    record.fault = "none: the newest backup restored as after a total loss"
    now = time.monotonic()
    record.checks = [Check(c["name"], c["passed"], c["detail"], at_mono=now) for c in result.checks]
    record.findings = list(result.findings)
    ends = [
        s.end_mono
        for s in record.steps
        if s.phase == Phase.VALIDATION.value and s.end_mono is not None
    ]
    record.validated_mono = max(ends) if ends and result.outcome == PASS else None
    record.finished_mono = now
    record.verdict = _VERDICTS.get(result.outcome, Verdict.NOT_RUN.value)
    if result.not_verified_reason:
        record.not_run_reason = (
            f"[NOT_VERIFIED] [{result.not_verified_code}] {result.not_verified_reason}"
        )
    if result.server:
        record.versions[result.kind] = result.server
    record.notes["verify"] = result.to_dict()
    return record


def history_block(result: VerifyResult) -> dict[str, Any]:
    block = {k: getattr(result, k) for k in HISTORY_KEYS}
    b = result.backup
    block.update(
        backup_bytes=b.size if b else None,
        backup_format=b.format if b else None,
        backup_major=b.major if b else None,
        throughput_bytes_per_s=result.throughput,
        findings=result.codes,
    )
    return block


@dataclass
class Written:
    json: Path | None = None
    html: Path | None = None
    history: Path | None = None
    metrics: Path | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Paths:
    json: Path | None
    html: Path | None
    history: Path | None
    metrics: Path | None


def write_all(
    records: Sequence[DrillRecord],
    results: Sequence[VerifyResult],
    paths: Paths,
    *,
    started: float,
    args: Sequence[str] = (),
) -> Written:
    """drills.json (with the verify section), HTML, history rows, textfile; each on its
    own: one that fails is reported, the others are still written."""
    from drillbook.reports import jsonout
    from drillbook.reports.files import atomic_write_text
    from drillbook.reports.history import append_history, history_row, read_history
    from drillbook.reports.model import run_info

    out = Written()
    run = run_info(records, started=started, finished=time.time(), args=args)
    rows = []
    for rec, res in zip(records, results, strict=True):
        row = history_row(rec, run)
        row["verify"] = history_block(res)
        rows.append(row)
    past = read_history(paths.history).rows if paths.history else []

    def attempt(what: str, path: Path | None, text: Any) -> Path | None:
        if path is None:
            return None
        try:
            return atomic_write_text(path, redact(text() if callable(text) else text))
        except Exception as exc:
            out.errors.append(f"{what} {path}: {type(exc).__name__}: {exc}")
            return None

    def document() -> str:
        doc = jsonout.build_document(records, run)
        doc["verify"] = report.section_data(results)
        return jsonout.dumps(doc)

    out.json = attempt("drills.json", paths.json, document)
    out.html = attempt("report", paths.html, lambda: report.render_page(results))
    if paths.history is not None:
        try:
            append_history(paths.history, rows)
            out.history = paths.history
        except Exception as exc:
            out.errors.append(f"history {paths.history}: {type(exc).__name__}: {exc}")
    out.metrics = attempt("metrics", paths.metrics, lambda: metrics.render(results, [*past, *rows]))
    return out
