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
from drillbook.redact import Scrubber
from drillbook.reports import html, jsonout, metrics
from drillbook.reports.files import atomic_write_text, ensure_folder
from drillbook.reports.fmt import one_line
from drillbook.reports.gaps import all_gaps
from drillbook.reports.history import History, append_history, history_row, read_history
from drillbook.reports.model import RunInfo, anchor, run_info
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
    ensure_folder(out_dir)
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

    def __init__(
        self,
        recs: list[DrillRecord],
        run: RunInfo,
        scrub: Scrubber,
        out_dir: Path,
        run_dir_name: str,
        history: Path | None,
        metrics: Path | None,
    ):
        self.recs, self.run, self.scrub = recs, run, scrub
        self.out_dir, self.history, self.metrics = out_dir, history, metrics
        self.out = Written(run_dir=None, run=run)
        self.past = History()
        self.planned = out_dir / run_dir_name
        self.gaps = all_gaps(recs)
        self.rows: list[dict[str, Any]] = []
        self.reasons: set[str] = set()  # each reason is said once

    def plan(self) -> None:
        """Where everything goes (the run folder chosen by now), and the history lines."""
        folder = self.out.run_dir or self.planned
        report = str(folder / INDEX)
        self.run.artefacts = {"report": report, "json": str(folder / DRILLS_JSON)}
        for key, path in (("history", self.history), ("metrics", self.metrics)):
            if path is not None:
                self.run.artefacts[key] = str(path)
        self.rows = [
            self.scrub.data(history_row(r, self.run, report=f"{report}#{anchor(r.drill_id)}"))
            for r in self.recs
        ]

    def attempt(self, what: str, hint: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # one artefact failing must not cost the others
            reason = one_line(exc)
            if reason not in self.reasons:  # the metrics under a report dir that is a file
                self.reasons.add(reason)
                self.out.errors.append(self.scrub.text(f"{what}: {reason} ({hint})"))

    def make_run_dir(self) -> None:
        self.out.run_dir = unique_run_dir(self.out_dir, self.planned.name)

    def read_history(self) -> None:
        if self.history is not None:
            self.past = read_history(self.history)
            self.out.history_skipped = self.past.problem_lines()

    def write_json(self) -> None:
        if self.out.run_dir is None:
            return  # the folder could not be made: said once, by make_run_dir
        doc = jsonout.build_document(self.recs, self.run, self.gaps)
        text = self.scrub.final(jsonout.dumps(doc))
        self.out.json = atomic_write_text(self.out.run_dir / DRILLS_JSON, text)
        atomic_write_text(self.out_dir / LATEST_JSON, text)

    def write_history(self) -> None:
        if self.history is not None:
            append_history(self.history, self.rows)
            self.out.history, self.out.history_rows = self.history, len(self.rows)

    def write_html(self) -> None:
        if self.out.run_dir is None:
            return
        trends = {r.drill_id: trend(self.past.rows, r, self.run.run_id) for r in self.recs}
        page = html.render_report(self.recs, self.run, trends=trends, gaps=self.gaps)
        text = self.scrub.final(page)
        self.out.index = atomic_write_text(self.out.run_dir / INDEX, text)
        self.out.latest = atomic_write_text(self.out_dir / LATEST_HTML, text)

    def write_metrics(self) -> None:
        if self.metrics is not None:
            text = metrics.render(self.recs, [*self.past.rows, *self.rows])
            self.out.metrics = atomic_write_text(self.metrics, self.scrub.final(text))

    def write_all(self) -> Written:
        for what, hint, fn in (
            (f"report folder {self.out_dir}", HINT_REPORT, self.make_run_dir),
            ("the drill report", HINT_REPORT, self.plan),
            (f"history {self.history} (reading)", HINT_HISTORY, self.read_history),
            ("drills.json", HINT_REPORT, self.write_json),
            (f"history {self.history}", HINT_HISTORY, self.write_history),
            ("HTML report", HINT_REPORT, self.write_html),
            (f"metrics {self.metrics}", HINT_METRICS, self.write_metrics),
        ):
            self.attempt(what, hint, fn)
        return self.out


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
    writer = _Writer(recs, run, scrub, out_dir, run_dir_name, history_path, metrics_path)
    return writer.write_all()
