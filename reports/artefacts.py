"""Write every artefact of a run: HTML report, drills.json, history lines, metrics.

Kept apart from the pytest plugin so a test, or a script holding records from
elsewhere, writes exactly what a pytest run writes. Each artefact is written on its
own: a failure in one (a full disk for the HTML, a stale lock on the history) is
reported and the others are still written.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drillbook.record import DrillRecord
from drillbook.redact import Scrubber
from drillbook.reports import html, jsonout, metrics
from drillbook.reports.files import atomic_write_text
from drillbook.reports.history import History, append_history, history_row, read_history, trend
from drillbook.reports.model import RunInfo, all_gaps, anchor, run_info

INDEX = "index.html"
LATEST_HTML = "latest.html"
LATEST_JSON = "latest.json"
DRILLS_JSON = "drills.json"


@dataclass
class Written:
    """Where each artefact went, and what could not be written."""

    run_dir: Path
    index: Path | None = None
    latest: Path | None = None
    json: Path | None = None
    history: Path | None = None
    history_rows: int = 0
    history_skipped: int = 0
    metrics: Path | None = None
    errors: list[str] = field(default_factory=list)
    run: RunInfo | None = None


def unique_run_dir(out_dir: Path, name: str) -> Path:
    """``out_dir/name``, or ``name-2``, ``-3``... when a concurrent run took it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    candidate, n = out_dir / name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            if not any(candidate.iterdir()):
                return candidate  # reserved by us (or empty): use it
            n += 1
            candidate = out_dir / f"{name}-{n}"


def scrub_records(records: Sequence[DrillRecord], scrubber: Scrubber) -> list[DrillRecord]:
    return [DrillRecord.from_dict(scrubber.data(r.to_dict())) for r in records]


def write_artefacts(
    records: Sequence[DrillRecord],
    *,
    out_dir: Path,
    run_dir_name: str,
    history_path: Path | None,
    metrics_path: Path | None,
    started: float,
    finished: float,
    args: Sequence[str] = (),
    workers: int = 0,
    scrubber: Scrubber | None = None,
) -> Written:
    scrub = scrubber or Scrubber()
    recs = scrub_records(records, scrub)
    run = run_info(
        recs, started=started, finished=finished, args=scrub.data(list(args)), workers=workers
    )
    run_dir = unique_run_dir(out_dir, run_dir_name)
    out = Written(run_dir=run_dir, run=run)
    index = run_dir / INDEX
    run.artefacts = {"report": str(index), "json": str(run_dir / DRILLS_JSON)}
    if history_path is not None:
        run.artefacts["history"] = str(history_path)
    if metrics_path is not None:
        run.artefacts["metrics"] = str(metrics_path)

    def attempt(what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # one artefact failing must not cost the others
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            out.errors.append(scrub.text(f"{what}: {detail}"))

    past = History(path=history_path)

    def read() -> None:
        nonlocal past
        if history_path is not None:
            past = read_history(history_path)
            out.history_skipped = past.skipped

    attempt(f"reading history {history_path}", read)
    gaps = all_gaps(recs)
    trends = {r.drill_id: trend(past.rows, r, run.run_id) for r in recs}

    def write_json() -> None:
        doc = jsonout.build_document(recs, run, gaps)
        text = scrub.final(jsonout.dumps(doc))
        out.json = atomic_write_text(run_dir / DRILLS_JSON, text)
        atomic_write_text(out_dir / LATEST_JSON, text)

    rows = [history_row(r, run, report=f"{index}#{anchor(r.drill_id)}") for r in recs]

    def write_history() -> None:
        if history_path is None:
            return
        clean = [scrub.data(row) for row in rows]
        append_history(history_path, clean)
        out.history, out.history_rows = history_path, len(clean)

    def write_html() -> None:
        text = scrub.final(html.render_report(recs, run, trends=trends, gaps=gaps))
        out.index = atomic_write_text(index, text)
        out.latest = atomic_write_text(out_dir / LATEST_HTML, text)

    def write_metrics() -> None:
        if metrics_path is None:
            return
        text = scrub.final(metrics.render(recs, [*past.rows, *rows]))
        out.metrics = atomic_write_text(metrics_path, text)

    attempt("drills.json", write_json)
    attempt(f"history {history_path}", write_history)
    attempt("HTML report", write_html)
    attempt(f"metrics {metrics_path}", write_metrics)
    return out
