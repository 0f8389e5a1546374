"""Write every artefact of a run: HTML report, drills.json, history lines, metrics.

Kept apart from the pytest plugin so a test, or a script holding records from
elsewhere, writes exactly what a pytest run writes. Each artefact is written on its
own: a failure in one (a full disk for the HTML, a stale lock on the history) is
recorded as one line in :attr:`Written.errors` (the plugin fails the run on it) and the
others are still written. Nothing already on disk is damaged by a failed write: files
are replaced by rename (:mod:`reports.files`) and the history append is cut back
(:func:`reports.history.append_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.record import DrillRecord
from drillbook.reports import html, jsonout, metrics
from drillbook.reports.files import atomic_write_text
from drillbook.reports.fmt import one_line
from drillbook.reports.gaps import all_gaps
from drillbook.reports.history import History, append_history, history_row, read_history
from drillbook.reports.model import RunInfo, anchor, run_info
from drillbook.reports.redaction import Scrubber
from drillbook.reports.trends import trend

INDEX = "index.html"
LATEST_HTML = "latest.html"
LATEST_JSON = "latest.json"
DRILLS_JSON = "drills.json"
HINT_REPORT = "--drill-report-dir / DRILLBOOK_REPORT_DIR must be a writable folder with free space"
HINT_HISTORY = "--drill-history / DRILLBOOK_HISTORY must be a writable file ('none' turns it off)"
HINT_METRICS = "--drill-metrics / DRILLBOOK_METRICS must be a writable file ('none' turns it off)"


@dataclass
class Written:
    """Where each artefact went, and what could not be written."""

    run_dir: Path | None
    index: Path | None = None
    latest: Path | None = None
    json: Path | None = None
    history: Path | None = None
    history_rows: int = 0
    history_skipped: list[str] = field(default_factory=list)  # one line per skipped row
    metrics: Path | None = None
    errors: list[str] = field(default_factory=list)  # one line each
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
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate  # reserved by us (or empty): use it
            n += 1
            candidate = out_dir / f"{name}-{n}"


def scrub_records(records: Sequence[DrillRecord], scrubber: Scrubber) -> list[DrillRecord]:
    return [DrillRecord.from_dict(scrubber.data(r.to_dict())) for r in records]


class _Writer:
    """Writes the artefacts of one run, each on its own, collecting one line per failure."""

    def __init__(self, recs: list[DrillRecord], run: RunInfo, scrub: Scrubber, out: Written):
        self.recs, self.run, self.scrub, self.out = recs, run, scrub, out
        self.past = History()

    def attempt(self, what: str, hint: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # one artefact failing must not cost the others
            self.out.errors.append(self.scrub.text(f"{what}: {one_line(exc)} ({hint})"))

    def read_history(self, path: Path) -> None:
        self.past = read_history(path)
        self.out.history_skipped = self.past.problem_lines()

    def write_json(self, run_dir: Path, out_dir: Path, gaps: Sequence[Any]) -> None:
        doc = jsonout.build_document(self.recs, self.run, gaps)
        text = self.scrub.final(jsonout.dumps(doc))
        self.out.json = atomic_write_text(run_dir / DRILLS_JSON, text)
        atomic_write_text(out_dir / LATEST_JSON, text)

    def write_html(self, run_dir: Path, out_dir: Path, gaps: Sequence[Any]) -> None:
        trends = {r.drill_id: trend(self.past.rows, r, self.run.run_id) for r in self.recs}
        page = html.render_report(self.recs, self.run, trends=trends, gaps=gaps)
        text = self.scrub.final(page)
        self.out.index = atomic_write_text(run_dir / INDEX, text)
        self.out.latest = atomic_write_text(out_dir / LATEST_HTML, text)

    def rows(self) -> list[dict[str, Any]]:
        index = self.run.artefacts.get("report", INDEX)
        rows = [history_row(r, self.run, report=f"{index}#{anchor(r.drill_id)}") for r in self.recs]
        return [self.scrub.data(row) for row in rows]

    def write_history(self, path: Path, rows: list[dict[str, Any]]) -> None:
        append_history(path, rows)
        self.out.history, self.out.history_rows = path, len(rows)

    def write_metrics(self, path: Path, rows: list[dict[str, Any]]) -> None:
        text = self.scrub.final(metrics.render(self.recs, [*self.past.rows, *rows]))
        self.out.metrics = atomic_write_text(path, text)


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
    """Every artefact of *records*; what could not be written is in ``errors``."""
    scrub = scrubber or Scrubber()
    recs = scrub_records(records, scrub)
    run = run_info(
        recs, started=started, finished=finished, args=scrub.data(list(args)), workers=workers
    )
    out = Written(run_dir=None, run=run)
    w = _Writer(recs, run, scrub, out)

    def make_run_dir() -> None:
        out.run_dir = unique_run_dir(out_dir, run_dir_name)

    w.attempt(f"report folder {out_dir}", HINT_REPORT, make_run_dir)
    run_dir = out.run_dir or out_dir / run_dir_name
    run.artefacts = {"report": str(run_dir / INDEX), "json": str(run_dir / DRILLS_JSON)}
    for key, path in (("history", history_path), ("metrics", metrics_path)):
        if path is not None:
            run.artefacts[key] = str(path)
    if history_path is not None:
        w.attempt(
            f"history {history_path} (reading)", HINT_HISTORY, lambda: w.read_history(history_path)
        )
    gaps = all_gaps(recs)
    rows = w.rows()
    if out.run_dir is not None:
        w.attempt(
            f"drills.json in {run_dir}", HINT_REPORT, lambda: w.write_json(run_dir, out_dir, gaps)
        )
    if history_path is not None:
        w.attempt(
            f"history {history_path}", HINT_HISTORY, lambda: w.write_history(history_path, rows)
        )
    if out.run_dir is not None:
        w.attempt(
            f"HTML report in {run_dir}", HINT_REPORT, lambda: w.write_html(run_dir, out_dir, gaps)
        )
    if metrics_path is not None:
        w.attempt(
            f"metrics {metrics_path}", HINT_METRICS, lambda: w.write_metrics(metrics_path, rows)
        )
    return out
